"""Browser sign-in sessions: stored by the hash of the cookie's random id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from sealbox.domain.principals import User
from sealbox.store.tables import users, web_sessions
from sealbox.store.users import user_from_row


class WebSessionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self, *, id_hash: bytes, user_id: str, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None:
        self.conn.execute(
            insert(web_sessions).values(
                id_hash=id_hash, user_id=user_id, csrf_token=csrf_token, created_at=now, expires_at=expires_at
            )
        )
        self.conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))

    def lookup(self, id_hash: bytes, now: datetime) -> tuple[User, str] | None:
        row = self.conn.execute(
            select(
                users.c.id,
                users.c.name,
                users.c.is_admin,
                users.c.created_at,
                users.c.kind,
                users.c.purposes,
                web_sessions.c.csrf_token,
            )
            .join(users, users.c.id == web_sessions.c.user_id)
            .where(web_sessions.c.id_hash == id_hash, web_sessions.c.expires_at > now)
        ).first()
        return (user_from_row(row), str(row._mapping["csrf_token"])) if row else None

    def remove(self, id_hash: bytes) -> None:
        self.conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))
