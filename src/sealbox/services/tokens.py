"""Personal access tokens: issued once, stored as a hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sealbox.domain.principals import MAX_TOKEN_NAME, AccessToken, Principal, TokenID, User
from sealbox.domain.times import check_representable
from sealbox.errors import BadRequest, NotFound, Unauthenticated
from sealbox.services.audit import record
from sealbox.services.ports import Store, TokenReads, UnitOfWork

PREFIX = "sbx_"
_TOKEN = re.compile(r"sbx_([a-z2-7]{16})_([A-Za-z0-9_-]{43})")
# Unknown token ids are checked against this so that they cost the same work as known ones.
_DUMMY_HASH = hashlib.sha256(b"sealbox-token-dummy").digest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: `value` is shown to its owner once and never stored."""

    token: AccessToken
    value: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RevokedToken:
    """A revoked token and how many live web sessions signed in with it ended with it."""

    token: AccessToken
    web_sessions_ended: int


def _hash(token_id: str, secret_part: str) -> bytes:
    return hashlib.sha256(b"sealbox-token\x00" + token_id.encode() + b"\x00" + secret_part.encode()).digest()


def _new_token_id() -> str:
    import base64

    return base64.b32encode(secrets.token_bytes(10)).decode().lower()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """The one comparison used for token hashes."""
    return hmac.compare_digest(a, b)


def issue(
    db: Store,
    user: User,
    *,
    name: str,
    expires_at: datetime | None,
    now: datetime,
    requested_by: Principal | None,
) -> IssuedToken:
    with db.writing() as uow:
        return issue_in(uow, user, name=name, expires_at=expires_at, now=now, requested_by=requested_by)


def issue_in(
    uow: UnitOfWork,
    user: User,
    *,
    name: str,
    expires_at: datetime | None,
    now: datetime,
    requested_by: Principal | None,
) -> IssuedToken:
    """`issue` inside the caller's unit of work (its change and the token commit together)."""
    name = name.strip()
    if not name or len(name) > MAX_TOKEN_NAME or any(ord(c) < 32 for c in name):
        raise BadRequest(
            f"a token name is 1-{MAX_TOKEN_NAME} printable characters", code="invalid_name", field="name"
        )
    if expires_at is not None and expires_at.tzinfo is not None:
        check_representable(expires_at)
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise BadRequest("expires_at must be in the future", code="invalid_expiry", field="expires_at")
    token_id = _new_token_id()
    secret_part = secrets.token_urlsafe(32)  # 256 bits from the CSPRNG
    token = AccessToken(
        id=TokenID(token_id),
        user_id=user.id,
        name=name,
        created_at=now,
        expires_at=expires_at,
        revoked_at=None,
    )
    uow.tokens.add(token=token, secret_hash=_hash(token_id, secret_part))
    record(uow, requested_by, "token.create", now=now, detail=f"token_id={token_id} user={user.name}")
    return IssuedToken(token=token, value=f"{PREFIX}{token_id}_{secret_part}")


def authenticate(repo: TokenReads, presented: str, *, now: datetime, client_addr: str | None) -> Principal:
    """The principal a bearer token stands for; Unauthenticated for anything else, all alike.

    Runs in the caller's read transaction: a revoked or expired token, or a disabled user's, is refused
    at once (nothing is cached between requests)."""
    parts = token_parts(presented)
    token_id, secret_part = parts or ("", "")
    found = repo.lookup(token_id) if parts else None
    principal = verified(found, token_id, secret_part, now=now, client_addr=client_addr)
    if principal is None:
        raise Unauthenticated()
    return principal


def token_parts(presented: str) -> tuple[str, str] | None:
    """(token id, secret part) of a well-formed personal access token, else None."""
    match = _TOKEN.fullmatch(presented)
    return (match.group(1), match.group(2)) if match else None


def verified(
    found: tuple[AccessToken, bytes, User] | None,
    token_id: str,
    secret_part: str,
    *,
    now: datetime,
    client_addr: str | None,
) -> Principal | None:
    """The principal of a looked-up token (the token, its stored hash, its user) if the secret part
    matches and the token and user are active; the same work when nothing was found."""
    expected = found[1] if found else _DUMMY_HASH
    ok = constant_time_equal(_hash(token_id, secret_part), expected)
    if not (ok and found and found[0].is_active(now) and not found[2].is_disabled):
        return None
    return Principal(user=found[2], token_id=found[0].id, client_addr=client_addr)


def list_tokens(db: Store, principal: Principal) -> list[AccessToken]:
    with db.reading() as uow:
        return uow.tokens.list_for(principal.user.id)


def revoke(db: Store, principal: Principal, token_id: str, *, now: datetime) -> RevokedToken:
    """Revoke one of the caller's tokens; the web sessions signed in with it end in the same transaction."""
    with db.writing() as uow:
        repo = uow.tokens
        before = repo.get_for(user_id=principal.user.id, token_id=token_id)
        if before is None:
            raise NotFound("no such token")
        if not repo.revoke(user_id=principal.user.id, token_id=token_id, now=now):
            return RevokedToken(before, 0)  # already revoked: revoking again changes nothing
        ended = uow.web_sessions.remove_for_token(token_id, now)
        if not before.is_active(now):
            ended = 0  # an expired token's web sessions had ended already
        record(
            uow,
            principal,
            "token.revoke",
            now=now,
            detail=f"token_id={token_id} web_sessions_ended={ended}",
        )
        token = repo.get_for(user_id=principal.user.id, token_id=token_id)
    if token is None:  # pragma: no cover -- the row was just updated in this transaction
        raise NotFound("no such token")
    return RevokedToken(token, ended)
