"""Signing in to the web pages: a random cookie id (only its hash stored) and a CSRF token per sign-in.

A web session lives no longer than what it was signed in with: it names the personal access token
(none for single sign-on), and every request checks, in the same query that finds the session, that
the token is neither revoked nor expired and that the user is not disabled. Revoking the token or
disabling the user also deletes the web sessions at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sealbox.domain.principals import Principal, TokenID, User
from sealbox.errors import Forbidden
from sealbox.services.audit import record
from sealbox.services.ports import Store

WEB_SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class WebSession:
    user: User
    token_id: TokenID | None
    csrf_token: str = field(repr=False)


def _hash(cookie: str) -> bytes:
    return hashlib.sha256(b"sealbox-web\x00" + cookie.encode()).digest()


def sign_in(db: Store, principal: Principal, *, now: datetime) -> str:
    """Start a web session for an authenticated person; returns the cookie value.

    Raises Forbidden (`service_account`) for a service account: the pages are for people."""
    if principal.user.is_service:
        raise Forbidden("a service account's token cannot sign in to the web pages", code="service_account")
    cookie = secrets.token_urlsafe(32)
    with db.writing() as uow:
        uow.web_sessions.add(
            id_hash=_hash(cookie),
            user_id=principal.user.id,
            token_id=principal.token_id,
            csrf_token=secrets.token_urlsafe(32),
            now=now,
            expires_at=now + WEB_SESSION_TTL,
        )
        record(uow, principal, "web.sign_in", now=now)
    return cookie


def lookup(db: Store, cookie: str, *, now: datetime) -> WebSession | None:
    """The live web session of a cookie, checked afresh on every request (nothing is cached)."""
    if not cookie or len(cookie) > 100:
        return None
    with db.reading() as uow:
        found = uow.web_sessions.lookup(_hash(cookie), now)
    return WebSession(user=found[0], csrf_token=found[1], token_id=found[2]) if found else None


def sign_out(db: Store, cookie: str) -> None:
    with db.writing() as uow:
        uow.web_sessions.remove(_hash(cookie))
