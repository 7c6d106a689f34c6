"""Sessions, the secrets each one mounts, and their one-time session credentials."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from sealbox.domain.sessions import (
    CurrentMaterial,
    LiveSession,
    Session,
    SessionID,
    SessionSecret,
    StoredCredential,
    session_is_live,
)
from sealbox.store.inserts import insert_into
from sealbox.store.raw import RawReader, Statement, utc, utc_required
from sealbox.store.tables import (
    secret_versions,
    secrets,
    session_credentials,
    session_secrets,
    sessions,
    users,
)

# Not ended and not past its lifetime here; the heartbeat part of "live" (domain `session_is_live`) is
# applied to the rows, so that the rule stays in one place.
# A launch of N secrets writes N items, and its redemption their versions: on the driver (store/raw.py).
_INSERT_ITEMS = insert_into(
    session_secrets,
    ("session_id", "position", "secret_id", "secret_name", "owner_id", "field", "file", "env", "version"),
)
_SET_ITEM_VERSION = Statement.of(
    "UPDATE session_secrets SET version = ? WHERE session_id = ? AND position = ?"
)
# A session's items with their owners' names and their secrets' kinds and current versions, in order.
_ITEM_COLUMNS = (
    session_secrets.c.secret_id,
    session_secrets.c.secret_name,
    session_secrets.c.owner_id,
    users.c.name,
    secrets.c.kind,
    session_secrets.c.field,
    session_secrets.c.file,
    session_secrets.c.env,
    session_secrets.c.version,
    secrets.c.current_version,
)


def _items_query(*extra: Any) -> Any:
    return (
        select(*_ITEM_COLUMNS, *extra)
        .join(users, users.c.id == session_secrets.c.owner_id)
        .outerjoin(secrets, secrets.c.id == session_secrets.c.secret_id)
    )


def _item(r: Sequence[Any]) -> SessionSecret:
    """An item from a row that starts with `_ITEM_COLUMNS`."""
    return SessionSecret(
        secret_id=r[0],
        secret_name=r[1],
        owner_id=r[2],
        owner_name=r[3],
        kind=r[4] or "deleted",
        field=r[5],
        file=r[6],
        env=r[7],
        version=r[8],
        current_version=r[9],
    )


# One session's items (every redemption and end reads them): compiled once.
_ITEMS_OF_ONE = Statement.compiled(
    _items_query()
    .where(session_secrets.c.session_id == bindparam("session_id"))
    .order_by(session_secrets.c.position)
)
_LIVE_FOR_SECRET = Statement.of(
    """SELECT DISTINCT se.id, u.name, se.created_at, se.expires_at, se.heartbeat_seconds, se.last_seen_at
       FROM sessions se JOIN session_secrets ss ON ss.session_id = se.id JOIN users u ON u.id = se.owner_id
       WHERE ss.secret_id = ? AND se.status != 'ended' AND se.expires_at > ? ORDER BY se.created_at"""
)


def _session(row: Any, items: tuple[SessionSecret, ...]) -> Session:
    m = row._mapping
    return Session(
        id=SessionID(m["id"]),
        owner_id=m["owner_id"],
        owner_name=m["owner_name"],
        project=m["project"],
        mount_path=m["mount_path"],
        status=m["status"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        ended_at=m["ended_at"],
        secrets=items,
        heartbeat_seconds=m["heartbeat_seconds"],
        last_seen_at=m["last_seen_at"],
        allow_expired=bool(m["allow_expired"]),
    )


class SessionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, session: Session) -> None:
        self.conn.execute(
            insert(sessions).values(
                id=session.id,
                owner_id=session.owner_id,
                project=session.project,
                mount_path=session.mount_path,
                status=session.status,
                created_at=session.created_at,
                expires_at=session.expires_at,
                ended_at=None,
                heartbeat_seconds=session.heartbeat_seconds,
                last_seen_at=session.last_seen_at,
                allow_expired=session.allow_expired,
            )
        )
        if session.secrets:
            RawReader(self.conn).execute_many(
                _INSERT_ITEMS,
                [
                    (session.id, i, s.secret_id, s.secret_name, s.owner_id, s.field, s.file, s.env, s.version)
                    for i, s in enumerate(session.secrets)
                ],
            )

    def add_credential(
        self, *, credential_id: str, session_id: str, secret_hash: bytes, now: datetime, expires_at: datetime
    ) -> None:
        self.conn.execute(
            insert(session_credentials).values(
                id=credential_id,
                session_id=session_id,
                secret_hash=secret_hash,
                created_at=now,
                expires_at=expires_at,
                redeemed_at=None,
            )
        )

    def credential(self, credential_id: str) -> StoredCredential | None:
        row = self.conn.execute(
            select(session_credentials).where(session_credentials.c.id == credential_id)
        ).first()
        if row is None:
            return None
        m = row._mapping
        return StoredCredential(
            id=m["id"],
            session_id=m["session_id"],
            secret_hash=bytes(m["secret_hash"]),
            expires_at=m["expires_at"],
            redeemed_at=m["redeemed_at"],
        )

    def mark_redeemed(self, credential_id: str, now: datetime) -> bool:
        """Exactly one caller wins: the update only matches a credential not yet redeemed."""
        result = self.conn.execute(
            update(session_credentials)
            .where(session_credentials.c.id == credential_id, session_credentials.c.redeemed_at.is_(None))
            .values(redeemed_at=now)
        )
        return result.rowcount == 1

    def _items(self, session_ids: list[str]) -> dict[str, list[SessionSecret]]:
        out: dict[str, list[SessionSecret]] = {sid: [] for sid in session_ids}
        if not session_ids:
            return out
        rows = self.conn.execute(
            _items_query(session_secrets.c.session_id)
            .where(session_secrets.c.session_id.in_(session_ids))
            .order_by(session_secrets.c.session_id, session_secrets.c.position)
        )
        for r in rows:
            out[r[-1]].append(_item(r))
        return out

    def _select(self) -> Any:
        return select(sessions, users.c.name.label("owner_name")).join(
            users, users.c.id == sessions.c.owner_id
        )

    def get(self, session_id: str, *, owner_id: str | None = None) -> Session | None:
        query = self._select().where(sessions.c.id == session_id)
        if owner_id is not None:
            query = query.where(sessions.c.owner_id == owner_id)
        row = self.conn.execute(query).first()
        if row is None:
            return None
        return _session(row, self._items_of(session_id))

    def _items_of(self, session_id: str) -> tuple[SessionSecret, ...]:
        return tuple(map(_item, RawReader(self.conn).all(_ITEMS_OF_ONE, {"session_id": session_id})))

    def list_for(self, owner_id: str, *, live_only: bool, now: datetime, limit: int) -> list[Session]:
        query = self._select().where(sessions.c.owner_id == owner_id).order_by(sessions.c.created_at.desc())
        if live_only:
            # The heartbeat part of "live" is the domain's rule, applied to the rows.
            query = query.where(sessions.c.status != "ended", sessions.c.expires_at > now)
            rows = [r for r in self.conn.execute(query) if _session(r, ()).is_live(now)][:limit]
        else:
            rows = list(self.conn.execute(query.limit(limit)))
        items = self._items([r._mapping["id"] for r in rows])
        return [_session(r, tuple(items[r._mapping["id"]])) for r in rows]

    def touch(self, session_id: str, now: datetime) -> None:
        """The session side called in (heartbeat)."""
        self.conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.heartbeat_seconds.is_not(None))
            .values(last_seen_at=now)
        )

    def end(self, session_id: str, now: datetime) -> bool:
        result = self.conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.status != "ended")
            .values(status="ended", ended_at=now)
        )
        return result.rowcount == 1

    def mark_delivered(self, session_id: str, versions: dict[int, int]) -> None:
        self.conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.status == "pending")
            .values(status="active")
        )
        if versions:
            RawReader(self.conn).execute_many(
                _SET_ITEM_VERSION, [(v, session_id, p) for p, v in versions.items()]
            )

    def live_for_secret(self, secret_id: str, now: datetime) -> list[LiveSession]:
        """(session id, owner name, created, expires) of the live sessions that mount a secret.

        Part of every metadata read: hand-written SQL (store/raw.py)."""
        raw = RawReader(self.conn)
        return [
            LiveSession(SessionID(sid), owner, utc_required(created), utc_required(expires))
            for sid, owner, created, expires, heartbeat, seen in raw.all(
                _LIVE_FOR_SECRET, (secret_id, raw.time_param(now))
            )
            if session_is_live(
                status="active",  # not ended: the query's condition
                expires_at=utc_required(expires),
                heartbeat_seconds=heartbeat,
                last_seen_at=utc(seen),
                now=now,
            )
        ]

    def current_material(self, secret_ids: list[str]) -> dict[str, CurrentMaterial]:
        rows = self.conn.execute(
            select(
                secrets.c.id,
                secrets.c.name,
                secrets.c.kind,
                secrets.c.owner_id,
                secrets.c.current_version,
                secret_versions.c.wrapped_dek,
                secret_versions.c.outer,
                secrets.c.project_id,
                secrets.c.scopes,
                secrets.c.expires_at,
                func.coalesce(secret_versions.c.context_owner_id, secrets.c.owner_id),
            )
            .join(
                secret_versions,
                (secret_versions.c.secret_id == secrets.c.id)
                & (secret_versions.c.version == secrets.c.current_version),
            )
            .where(secrets.c.id.in_(secret_ids), secrets.c.deleted_at.is_(None))
        )
        return {
            r[0]: CurrentMaterial(
                secret_id=r[0],
                name=r[1],
                kind=r[2],
                owner_id=r[3],
                version=r[4],
                wrapped_dek=bytes(r[5]),
                outer=bytes(r[6]),
                project_id=r[7],
                scopes=tuple(json.loads(r[8])) if r[8] else (),
                expires_at=r[9],
                context_owner_id=r[10],
            )
            for r in rows
        }
