"""One secret's metadata read with its caller's token, in ONE statement.

A metadata read used to be six statements (BEGIN, the token, the secret, its versions, its live
sessions, COMMIT): on PostgreSQL six round trips, most of the request's time spent waiting; on SQLite
six driver calls and SQLAlchemy's transaction around them. This statement looks the token and its user
up and, beside them, the secret (the caller's own, or `owner/name`), the caller's grant levels on it,
its versions and the live sessions that mount it (JSON aggregates in scalar subqueries; the same text
for both databases but for the JSON function names). It runs alone, outside a transaction
(store/database.py `statement()`): one statement sees one snapshot on both databases.

Nothing is decided here: the service checks the token (constant time, services/tokens.py) and the
access rule from what comes back, and anything but a plain success takes the general path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from sealbox.domain.grants import Level
from sealbox.domain.principals import AccessToken, User
from sealbox.domain.secrets import Secret, SecretVersion
from sealbox.domain.sessions import LiveSession, SessionID, session_is_live
from sealbox.store.raw import RawReader, Statement, utc, utc_required
from sealbox.store.secret_queries import SECRET_COLUMNS, secret_from_row
from sealbox.store.users import LOOKUP_COLUMNS, token_from_row

_SECRET_COLUMNS = ", ".join(f"s.{c.name}" for c in SECRET_COLUMNS)  # secret_from_row's order
_JSON = {  # (aggregate, array) per dialect
    "sqlite": ("json_group_array", "json_array"),
    "postgresql": ("json_agg", "json_build_array"),
}


def _sql(dialect: str, *, by_owner_name: bool) -> str:
    agg, array = _JSON[dialect]
    whose = "(SELECT id FROM users WHERE name = ?)" if by_owner_name else "t.user_id"
    # Built from this module's constants only; every value is a placeholder.
    return f"""SELECT {LOOKUP_COLUMNS}, {_SECRET_COLUMNS}, owner.name, p.name,
        (SELECT {agg}(g.level) FROM grants g
         WHERE g.secret_id = s.id AND s.owner_id <> t.user_id
           AND ((g.grantee_type = 'user' AND g.grantee_id = t.user_id)
             OR (g.grantee_type = 'group' AND g.grantee_id IN
                 (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = t.user_id)))),
        (SELECT {agg}({array}(sv.version, sv.created_at, sv.created_by, sv.size))
         FROM secret_versions sv WHERE sv.secret_id = s.id),
        (SELECT {agg}({array}(se.id, su.name, se.created_at, se.expires_at, se.heartbeat_seconds,
                              se.last_seen_at))
         FROM sessions se JOIN users su ON su.id = se.owner_id
         WHERE EXISTS (SELECT 1 FROM session_secrets ss WHERE ss.session_id = se.id AND ss.secret_id = s.id)
           AND se.status != 'ended' AND se.expires_at > ?)
    FROM tokens t JOIN users u ON u.id = t.user_id
    LEFT JOIN secrets s ON s.owner_id = {whose} AND s.name = ? AND s.deleted_at IS NULL
    LEFT JOIN users owner ON owner.id = s.owner_id
    LEFT JOIN projects p ON p.id = s.project_id
    WHERE t.id = ?"""  # noqa: S608  # nosec B608


def _statement(*, by_owner_name: bool) -> Statement:
    lite = Statement.of(_sql("sqlite", by_owner_name=by_owner_name))
    pg = Statement.of(_sql("postgresql", by_owner_name=by_owner_name))
    return Statement(sqlite=lite.sqlite, postgresql=pg.postgresql)


_OWN = _statement(by_owner_name=False)
_BY_OWNER_NAME = _statement(by_owner_name=True)
_TOKEN_WIDTH = len(LOOKUP_COLUMNS.split(","))
_SECRET_WIDTH = len(SECRET_COLUMNS) + 2


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
            row = raw.one(_OWN, (at, name, token_id))
        else:
            row = raw.one(_BY_OWNER_NAME, (at, owner_name, name, token_id))
        if row is None:
            return None
        token, secret_hash, user = token_from_row(token_id, row[:_TOKEN_WIDTH])
        secret_row = row[_TOKEN_WIDTH : _TOKEN_WIDTH + _SECRET_WIDTH]
        levels, versions, sessions = (_list(v) for v in row[_TOKEN_WIDTH + _SECRET_WIDTH :])
        secret = None if secret_row[0] is None else secret_from_row(secret_row, _versions(versions))
        return SecretWithToken(
            token=token,
            secret_hash=secret_hash,
            user=user,
            secret=secret,
            levels=tuple(Level(level) for level in levels),
            live=_live(sessions, now),
        )


def _list(value: Any) -> list[Any]:
    """A JSON aggregate: text from SQLite, parsed by psycopg, NULL from PostgreSQL over no rows."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def _versions(rows: list[list[Any]]) -> tuple[SecretVersion, ...]:
    """Newest first, as store/secrets.py gives them (SQLite before 3.44 cannot order an aggregate)."""
    return tuple(
        SecretVersion(version=version, created_at=utc_required(created_at), created_by=created_by, size=size)
        for version, created_at, created_by, size in sorted(rows, key=lambda r: -r[0])
    )


def _live(rows: list[list[Any]], now: datetime) -> tuple[LiveSession, ...]:
    """As store/sessions.py `live_for_secret`: by creation, those `session_is_live` keeps (the JSON
    holds times as ISO text without a zone)."""
    found = []
    for sid, owner, created, expires, heartbeat, seen in rows:
        expires_at = utc_required(expires)
        seen_at = utc(seen)
        if session_is_live(
            status="active", expires_at=expires_at, heartbeat_seconds=heartbeat, last_seen_at=seen_at, now=now
        ):
            found.append(LiveSession(SessionID(sid), owner, utc_required(created), expires_at))
    return tuple(sorted(found, key=lambda live: live.created_at))
