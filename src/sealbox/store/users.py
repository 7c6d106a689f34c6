"""Users and their access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import NoResultFound

from sealbox.domain.names import is_valid_user_name
from sealbox.domain.principals import AccessToken, Purposes, TokenID, User, UserID
from sealbox.store.raw import RawReader, Statement, utc, utc_required
from sealbox.store.tables import previous_user_keys, tokens, users

_WRAPPED_KEY = Statement.of("SELECT user_key FROM users WHERE id = ?")  # every write of a value
# A token and its user, as `token_from_row` takes them (also the head of store/secret_read.py's statement).
LOOKUP_COLUMNS = (
    "t.user_id, t.name, t.secret_hash, t.created_at, t.expires_at, t.revoked_at, "
    "u.name, u.is_admin, u.created_at, u.kind, u.purposes, u.disabled_at"
)
_LOOKUP = Statement.of(
    f"SELECT {LOOKUP_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?"  # noqa: S608  # nosec B608
)


def token_from_row(token_id: str, row: Any) -> tuple[AccessToken, bytes, User]:
    """The token, its stored hash and its user from a row of `LOOKUP_COLUMNS`."""
    user_id, name, secret_hash, created, expires, revoked = row[:6]
    user_name, admin, user_created, kind, purposes, disabled = row[6:]
    user = User(
        id=UserID(user_id),
        name=user_name,
        is_admin=bool(admin),
        created_at=utc_required(user_created),
        kind=kind,
        purposes=Purposes.from_json(purposes),
        disabled_at=utc(disabled),
    )
    token = AccessToken(
        id=TokenID(token_id),
        user_id=UserID(user_id),
        name=name,
        created_at=utc_required(created),
        expires_at=utc(expires),
        revoked_at=utc(revoked),
    )
    return token, bytes(secret_hash), user


def user_from_row(row: Any) -> User:
    m = row._mapping
    return User(
        id=UserID(m["id"]),
        name=m["name"],
        is_admin=bool(m["is_admin"]),
        created_at=m["created_at"],
        kind=m["kind"],
        purposes=Purposes.from_json(m["purposes"]),
        external_id=m.get("external_id"),
        disabled_at=m.get("disabled_at"),
        removed_at=m.get("removed_at"),
    )


def _token(row: Any) -> AccessToken:
    m = row._mapping
    return AccessToken(
        id=TokenID(m["id"]),
        user_id=UserID(m["user_id"]),
        name=m["name"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
    )


_USER_COLS = (
    users.c.id,
    users.c.name,
    users.c.is_admin,
    users.c.created_at,
    users.c.kind,
    users.c.purposes,
    users.c.external_id,
    users.c.disabled_at,
    users.c.removed_at,
)


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, *, user: User, wrapped_user_key: bytes, master_key_id: str) -> None:
        self.conn.execute(
            insert(users).values(
                id=user.id,
                name=user.name,
                is_admin=user.is_admin,
                user_key=wrapped_user_key,
                master_key_id=master_key_id,
                created_at=user.created_at,
                kind=user.kind,
                purposes=user.purposes.to_json() if user.purposes else None,
                external_id=user.external_id,
            )
        )

    def by_name(self, name: str) -> User | None:
        """None for a name no user can have: it never reaches the database (PostgreSQL refuses a NUL)."""
        if not is_valid_user_name(name):
            return None
        row = self.conn.execute(select(*_USER_COLS).where(users.c.name == name)).first()
        return user_from_row(row) if row else None

    def by_id(self, user_id: str) -> User | None:
        row = self.conn.execute(select(*_USER_COLS).where(users.c.id == user_id)).first()
        return user_from_row(row) if row else None

    def wrapped_key(self, user_id: str) -> bytes:
        row = RawReader(self.conn).one(_WRAPPED_KEY, (user_id,))
        if row is None:
            raise NoResultFound("no such user")  # as scalar_one() would: the callers name a user that exists
        return bytes(row[0])

    def previous_wrapped_key(self, user_id: str, key_id: str) -> bytes | None:
        p = previous_user_keys.c
        found = self.conn.execute(select(p.user_key).where(p.user_id == user_id, p.key_id == key_id)).scalar()
        return bytes(found) if found is not None else None

    def list(self) -> list[User]:
        return [user_from_row(r) for r in self.conn.execute(select(*_USER_COLS).order_by(users.c.name))]

    def set_disabled(self, user_id: str, at: datetime | None) -> bool:
        """Disable (`at`) or enable (None) a user; False when that changes nothing."""
        change = users.c.disabled_at.is_(None) if at is not None else users.c.disabled_at.is_not(None)
        result = self.conn.execute(update(users).where(users.c.id == user_id, change).values(disabled_at=at))
        return result.rowcount == 1

    def is_disabled(self, user_id: str) -> bool:
        """True for a disabled user (and for one that no longer exists)."""
        row = self.conn.execute(select(users.c.disabled_at).where(users.c.id == user_id)).first()
        return row is None or row[0] is not None

    def count_admins(self) -> int:
        return len(self.conn.execute(select(users.c.id).where(users.c.is_admin.is_(True))).all())


class TokenRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, *, token: AccessToken, secret_hash: bytes) -> None:
        self.conn.execute(
            insert(tokens).values(
                id=token.id,
                user_id=token.user_id,
                name=token.name,
                secret_hash=secret_hash,
                created_at=token.created_at,
                expires_at=token.expires_at,
                revoked_at=None,
            )
        )

    def lookup(self, token_id: str) -> tuple[AccessToken, bytes, User] | None:
        """The token, its stored hash and its user, in one query (the hot path of every request)."""
        raw = RawReader(self.conn)
        row = raw.one(_LOOKUP, (token_id,))
        return None if row is None else token_from_row(token_id, row)

    def list_for(self, user_id: str) -> list[AccessToken]:
        rows = self.conn.execute(
            select(tokens).where(tokens.c.user_id == user_id).order_by(tokens.c.created_at, tokens.c.id)
        )
        return [_token(r) for r in rows]

    def revoke(self, *, user_id: str, token_id: str, now: datetime) -> bool:
        result = self.conn.execute(
            update(tokens)
            .where(tokens.c.id == token_id, tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return result.rowcount == 1

    def get_for(self, *, user_id: str, token_id: str) -> AccessToken | None:
        row = self.conn.execute(
            select(tokens).where(tokens.c.id == token_id, tokens.c.user_id == user_id)
        ).first()
        return _token(row) if row else None
