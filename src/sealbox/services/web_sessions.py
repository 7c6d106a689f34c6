"""Signing in to the web pages: a random cookie id (only its hash stored) and a CSRF token per sign-in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sealbox.domain.principals import Principal, User
from sealbox.services.audit import record
from sealbox.store.database import Database
from sealbox.store.web_sessions import WebSessionRepository

WEB_SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class WebSession:
    user: User
    csrf_token: str = field(repr=False)


def _hash(cookie: str) -> bytes:
    return hashlib.sha256(b"sealbox-web\x00" + cookie.encode()).digest()


def sign_in(db: Database, principal: Principal, *, now: datetime) -> str:
    """Start a web session for an authenticated principal; returns the cookie value."""
    cookie = secrets.token_urlsafe(32)
    with db.write() as conn:
        WebSessionRepository(conn).add(
            id_hash=_hash(cookie),
            user_id=principal.user.id,
            csrf_token=secrets.token_urlsafe(32),
            now=now,
            expires_at=now + WEB_SESSION_TTL,
        )
        record(conn, principal, "web.sign_in", now=now)
    return cookie


def lookup(db: Database, cookie: str, *, now: datetime) -> WebSession | None:
    if not cookie or len(cookie) > 100:
        return None
    with db.read() as conn:
        found = WebSessionRepository(conn).lookup(_hash(cookie), now)
    return WebSession(user=found[0], csrf_token=found[1]) if found else None


def sign_out(db: Database, cookie: str) -> None:
    with db.write() as conn:
        WebSessionRepository(conn).remove(_hash(cookie))
