"""A secret's usage, read from the audit log's redemptions (`ix_audit_events_secret_id`) and the
sessions' items: a fixed number of statements per answer, whatever the number of sessions or shares."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from sealbox.domain.audit import Outcome
from sealbox.domain.usage import USE_ACTION
from sealbox.store.tables import (
    audit_events,
    grants,
    group_members,
    groups,
    secrets,
    session_secrets,
    sessions,
    users,
)

_CHUNK = 500  # ids per IN list: well under every driver's parameter limit
_a = audit_events


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _uses(secret_ids: Any, user: str | None) -> list[Any]:
    """The conditions of a use of these secrets (by `user`'s sessions only, when given)."""
    where = [
        _a.c.secret_id.in_(secret_ids) if not isinstance(secret_ids, str) else _a.c.secret_id == secret_ids,
        _a.c.action == USE_ACTION,
        _a.c.outcome == Outcome.SUCCESS.value,
    ]
    if user is not None:
        where.append(_a.c.on_behalf_of == user)
    return where


class UsageRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def session_uses(self, secret_id: str, *, user: str | None, limit: int) -> list[tuple[Any, ...]]:
        """(session id, user, version, first, last, deliveries), newest use first, at most `limit`."""
        last = func.max(_a.c.at)
        rows = self.conn.execute(
            select(_a.c.session_id, _a.c.on_behalf_of, _a.c.version, func.min(_a.c.at), last, func.count())
            .where(*_uses(secret_id, user))
            .group_by(_a.c.session_id, _a.c.on_behalf_of, _a.c.version)
            .order_by(last.desc(), _a.c.session_id)
            .limit(limit)
        )
        return [tuple(r) for r in rows]

    def user_uses(self, secret_id: str, *, user: str | None) -> list[tuple[str, datetime, int]]:
        """(user, last use, deliveries) per person whose sessions received it."""
        last = func.max(_a.c.at)
        rows = self.conn.execute(
            select(_a.c.on_behalf_of, last, func.count())
            .where(*_uses(secret_id, user))
            .group_by(_a.c.on_behalf_of)
            .order_by(last.desc())
        )
        return [(r[0] or "", r[1], r[2]) for r in rows]

    def sessions_of(self, secret_id: str, session_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """Per session: (status, expires, heartbeat, last seen, project, version it holds of the secret)."""
        if not session_ids:
            return {}
        held = (
            select(session_secrets.c.session_id, func.max(session_secrets.c.version).label("version"))
            .where(session_secrets.c.secret_id == secret_id, session_secrets.c.session_id.in_(session_ids))
            .group_by(session_secrets.c.session_id)
            .subquery()
        )
        rows = self.conn.execute(
            select(
                sessions.c.id,
                sessions.c.status,
                sessions.c.expires_at,
                sessions.c.heartbeat_seconds,
                sessions.c.last_seen_at,
                sessions.c.project,
                held.c.version,
            )
            .outerjoin(held, held.c.session_id == sessions.c.id)
            .where(sessions.c.id.in_(session_ids))
        )
        return {r[0]: tuple(r[1:]) for r in rows}

    def launchers(self, secret_id: str, session_ids: Sequence[str]) -> dict[str, str]:
        """Who started each session that someone else's name is on (a service acting for a person)."""
        if not session_ids:
            return {}
        rows = self.conn.execute(
            select(_a.c.session_id, _a.c.actor_name).where(
                _a.c.secret_id == secret_id,
                _a.c.action == "session.create",
                _a.c.on_behalf_of.is_not(None),
                _a.c.session_id.in_(session_ids),
            )
        )
        return {r[0]: r[1] for r in rows if r[1]}

    def member_names(self, group_ids: Sequence[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {g: set() for g in group_ids}
        if not group_ids:
            return out
        rows = self.conn.execute(
            select(group_members.c.group_id, users.c.name)
            .join(users, users.c.id == group_members.c.user_id)
            .where(group_members.c.group_id.in_(group_ids))
        )
        for gid, name in rows:
            out[gid].add(name)
        return out

    def candidates(self, owner_id: str, shared_ids: Any) -> list[tuple[Any, ...]]:
        """(id, name, owner name, kind, created) of the live secrets a user owns or is granted."""
        rows = self.conn.execute(
            select(secrets.c.id, secrets.c.name, users.c.name, secrets.c.kind, secrets.c.created_at)
            .join(users, users.c.id == secrets.c.owner_id)
            .where(
                or_(secrets.c.owner_id == owner_id, secrets.c.id.in_(shared_ids)),
                secrets.c.deleted_at.is_(None),
            )
            .order_by(users.c.name, secrets.c.name)
        )
        return [tuple(r) for r in rows]

    def last_uses(self, secret_ids: Sequence[str]) -> dict[tuple[str, str], datetime]:
        """The last use of each secret by each person: {(secret id, user): time}."""
        out: dict[tuple[str, str], datetime] = {}
        for chunk in _chunks(secret_ids):
            rows = self.conn.execute(
                select(_a.c.secret_id, _a.c.on_behalf_of, func.max(_a.c.at))
                .where(*_uses(list(chunk), None))
                .group_by(_a.c.secret_id, _a.c.on_behalf_of)
            )
            out.update({(r[0], r[1] or ""): r[2] for r in rows})
        return out

    def grants_on(self, secret_ids: Sequence[str]) -> list[tuple[str, str, str, str, str, datetime]]:
        """(secret id, grantee type, grantee id, grantee name, level, granted) of these secrets' grants."""
        out: list[tuple[str, str, str, str, str, datetime]] = []
        named = and_(grants.c.grantee_type == "user", users.c.id == grants.c.grantee_id)
        grouped = and_(grants.c.grantee_type == "group", groups.c.id == grants.c.grantee_id)
        for chunk in _chunks(secret_ids):
            rows = self.conn.execute(
                select(
                    grants.c.secret_id,
                    grants.c.grantee_type,
                    grants.c.grantee_id,
                    func.coalesce(users.c.name, groups.c.name),
                    grants.c.level,
                    grants.c.created_at,
                )
                .outerjoin(users, named)
                .outerjoin(groups, grouped)
                .where(grants.c.secret_id.in_(list(chunk)))
                .order_by(grants.c.secret_id, grants.c.grantee_type, grants.c.grantee_id)
            )
            out += [(r[0], r[1], r[2], r[3] or "", r[4], r[5]) for r in rows]
        return out
