"""Browser sign-in sessions: stored by the hash of the cookie's random id, bound to what signed them in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select
from sqlalchemy.engine import Connection

from sealbox.domain.principals import TokenID, User
from sealbox.store.tables import tokens, users, web_sessions
from sealbox.store.users import user_from_row


class WebSessionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        *,
        id_hash: bytes,
        user_id: str,
        token_id: str | None,
        csrf_token: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        self.conn.execute(
            insert(web_sessions).values(
                id_hash=id_hash,
                user_id=user_id,
                token_id=token_id,
                csrf_token=csrf_token,
                created_at=now,
                expires_at=expires_at,
            )
        )
        self.conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))

    def lookup(self, id_hash: bytes, now: datetime) -> tuple[User, str, TokenID | None] | None:
        """(user, CSRF token, the token it was signed in with) of a live web session, else None.

        Live means, checked here on every request: the web session has not expired, its user is not
        disabled, and the personal access token it was signed in with (if any: single sign-on has none)
        is neither revoked nor expired."""
        token_live = or_(
            web_sessions.c.token_id.is_(None),
            and_(
                tokens.c.revoked_at.is_(None),
                or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
            ),
        )
        row = self.conn.execute(
            select(
                users.c.id,
                users.c.name,
                users.c.is_admin,
                users.c.created_at,
                users.c.kind,
                users.c.purposes,
                users.c.external_id,
                users.c.disabled_at,
                web_sessions.c.csrf_token,
                web_sessions.c.token_id,
            )
            .join(users, users.c.id == web_sessions.c.user_id)
            .outerjoin(tokens, tokens.c.id == web_sessions.c.token_id)
            .where(
                web_sessions.c.id_hash == id_hash,
                web_sessions.c.expires_at > now,
                users.c.disabled_at.is_(None),
                token_live,
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        token_id = m["token_id"]
        return user_from_row(row), str(m["csrf_token"]), TokenID(token_id) if token_id else None

    def remove(self, id_hash: bytes) -> None:
        self.conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))

    def remove_for_token(self, token_id: str, now: datetime) -> int:
        """End every web session signed in with a token; returns how many were still live."""
        return self._remove(web_sessions.c.token_id == token_id, now)

    def remove_for_user(self, user_id: str, now: datetime) -> int:
        """End every web session of a user; returns how many were still live."""
        return self._remove(web_sessions.c.user_id == user_id, now)

    def _remove(self, which: ColumnElement[bool], now: datetime) -> int:
        live = self.conn.execute(
            select(func.count()).select_from(web_sessions).where(which, web_sessions.c.expires_at > now)
        ).scalar_one()
        self.conn.execute(delete(web_sessions).where(which))
        return int(live)
