"""One secret's metadata read with its caller's token, in ONE PostgreSQL statement (one round trip).

On PostgreSQL each statement of a read is a round trip to the server, and a metadata read took six
(BEGIN, the token, the secret, its versions, its live sessions, COMMIT): most of its time was waiting.
This statement looks the token and its user up, and beside them the secret (the caller's own, or
`owner/name`), the caller's grant levels on it, its versions and the sessions that mount it, each in a
LATERAL subquery. It runs alone, outside a transaction (store/database.py `read(alone=True)`): under
PostgreSQL's READ COMMITTED every statement sees its own snapshot anyway, and this one sees all of it
in one. Nothing is decided here: the service checks the token (constant-time, services/tokens.py) and
the access rule from what comes back, and anything but a plain success takes the general path.

SQLite answers in-process, where six statements cost less than the JSON this one builds: it keeps
the general path (store/secrets.py, store/users.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from sealbox.domain.grants import Level
from sealbox.domain.principals import AccessToken, User
from sealbox.domain.secrets import Secret, SecretVersion
from sealbox.domain.sessions import LiveSession, SessionID, session_is_live
from sealbox.store.raw import RawReader, Statement, utc, utc_required
from sealbox.store.secret_queries import secret_from_row
from sealbox.store.tables import secrets
from sealbox.store.users import LOOKUP_COLUMNS, token_from_row

_SECRET_COLUMNS = ", ".join(f"secrets.{c.name}" for c in secrets.c)  # secret_from_row's order


def _statement(*, by_owner_name: bool) -> Statement:
    whose = "owner.name = ?" if by_owner_name else "secrets.owner_id = t.user_id"
    # Built from this module's constants only; every value is a placeholder.
    return Statement.of(  # nosec B608
        f"""SELECT {LOOKUP_COLUMNS}, s.*, lv.levels, v.versions, live.sessions
        FROM tokens t JOIN users u ON u.id = t.user_id
        LEFT JOIN LATERAL (
            SELECT {_SECRET_COLUMNS}, owner.name AS owner_name, projects.name AS project_name
            FROM secrets JOIN users owner ON owner.id = secrets.owner_id
            LEFT OUTER JOIN projects ON projects.id = secrets.project_id
            WHERE {whose} AND secrets.name = ? AND secrets.deleted_at IS NULL
        ) s ON true
        LEFT JOIN LATERAL (
            SELECT array_agg(g.level) AS levels FROM grants g
            WHERE g.secret_id = s.id AND s.owner_id <> t.user_id
              AND ((g.grantee_type = 'user' AND g.grantee_id = t.user_id)
                OR (g.grantee_type = 'group' AND g.grantee_id IN
                    (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = t.user_id)))
        ) lv ON true
        LEFT JOIN LATERAL (
            SELECT json_agg(json_build_array(sv.version, sv.created_at, sv.created_by, sv.size)
                            ORDER BY sv.version DESC) AS versions
            FROM secret_versions sv WHERE sv.secret_id = s.id
        ) v ON true
        LEFT JOIN LATERAL (
            SELECT json_agg(json_build_array(se.id, su.name, se.created_at, se.expires_at,
                                             se.heartbeat_seconds, se.last_seen_at)
                            ORDER BY se.created_at) AS sessions
            FROM sessions se JOIN users su ON su.id = se.owner_id
            WHERE EXISTS (SELECT 1 FROM session_secrets ss
                          WHERE ss.session_id = se.id AND ss.secret_id = s.id)
              AND se.status != 'ended' AND se.expires_at > ?
        ) live ON true
        WHERE t.id = ?"""  # noqa: S608
    )


_OWN = _statement(by_owner_name=False)
_BY_OWNER_NAME = _statement(by_owner_name=True)
_TOKEN_WIDTH = len(LOOKUP_COLUMNS.split(","))
_SECRET_WIDTH = len(secrets.c) + 2


@dataclass(frozen=True, slots=True)
class SecretWithToken:
    """What the statement found: the token (with its stored hash and user), and, when the token's user
    may be the one asking, the secret with its versions, the grant levels the user holds on it (empty
    for their own) and the live sessions that mount it."""

    token: AccessToken
    secret_hash: bytes
    user: User
    secret: Secret | None
    levels: tuple[Level, ...]
    live: tuple[LiveSession, ...]


class SecretReadRepository:
    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def read(
        self, token_id: str, *, owner_name: str | None, name: str, now: datetime
    ) -> SecretWithToken | None:
        """None when no token has this id."""
        raw = RawReader(self.conn)
        at = raw.time_param(now)
        if owner_name is None:
            row = raw.one(_OWN, (name, at, token_id))
        else:
            row = raw.one(_BY_OWNER_NAME, (owner_name, name, at, token_id))
        if row is None:
            return None
        token, secret_hash, user = token_from_row(token_id, row[:_TOKEN_WIDTH])
        secret_row = row[_TOKEN_WIDTH : _TOKEN_WIDTH + _SECRET_WIDTH]
        levels, versions, sessions = row[_TOKEN_WIDTH + _SECRET_WIDTH :]
        secret = None if secret_row[0] is None else secret_from_row(secret_row, _versions(versions))
        return SecretWithToken(
            token=token,
            secret_hash=secret_hash,
            user=user,
            secret=secret,
            levels=tuple(Level(level) for level in levels or ()),
            live=_live(sessions, now),
        )


def _versions(rows: list[list[Any]] | None) -> tuple[SecretVersion, ...]:
    return tuple(
        SecretVersion(version=version, created_at=utc_required(created_at), created_by=created_by, size=size)
        for version, created_at, created_by, size in rows or ()
    )


def _live(rows: list[list[Any]] | None, now: datetime) -> tuple[LiveSession, ...]:
    """As store/sessions.py `live_for_secret` (JSON gives the times as ISO text without a zone)."""
    found = []
    for sid, owner, created, expires, heartbeat, seen in rows or ():
        expires_at = utc_required(expires)
        seen_at = utc(seen)
        if session_is_live(
            status="active", expires_at=expires_at, heartbeat_seconds=heartbeat, last_seen_at=seen_at, now=now
        ):
            found.append(LiveSession(SessionID(sid), owner, utc_required(created), expires_at))
    return tuple(found)
