"""What /api/v1/tokens, /me, /users and /service-accounts answer: the Structs of protocol.account_answers,
built here from the domain's and the services' results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealbox.protocol.account_answers import (
    TokenIssued,
    TokenPublic,
    TokenRevokedOut,
    UserCreated,
    UserDisabledOut,
    UserPublic,
    UserStatus,
)

if TYPE_CHECKING:
    from sealbox.domain.principals import AccessToken, User
    from sealbox.services.tokens import RevokedToken
    from sealbox.services.users import DisabledUser

# The answers the OpenAPI document carries for these routes (those they name come along).
ACCOUNT_STRUCTS = (TokenPublic, TokenIssued, TokenRevokedOut, UserCreated, UserStatus, UserDisabledOut)

__all__ = [
    "ACCOUNT_STRUCTS",
    "TokenIssued",
    "TokenPublic",
    "TokenRevokedOut",
    "UserCreated",
    "UserDisabledOut",
    "UserPublic",
    "UserStatus",
    "token_issued",
    "token_public",
    "token_revoked",
    "user_disabled",
    "user_public",
    "user_status",
]


def token_public(t: AccessToken) -> TokenPublic:
    return TokenPublic(
        id=t.id, name=t.name, created_at=t.created_at, expires_at=t.expires_at, revoked_at=t.revoked_at
    )


def token_issued(t: AccessToken, value: str) -> TokenIssued:
    """A new token and, this once, the token itself."""
    return TokenIssued(
        id=t.id,
        name=t.name,
        created_at=t.created_at,
        expires_at=t.expires_at,
        revoked_at=t.revoked_at,
        token=value,
    )


def token_revoked(r: RevokedToken) -> TokenRevokedOut:
    t = r.token
    return TokenRevokedOut(
        id=t.id,
        name=t.name,
        created_at=t.created_at,
        expires_at=t.expires_at,
        revoked_at=t.revoked_at,
        web_sessions_ended=r.web_sessions_ended,
    )


def user_public(u: User) -> UserPublic:
    return UserPublic(id=u.id, name=u.name, is_admin=u.is_admin, created_at=u.created_at)


def user_status(u: User) -> UserStatus:
    """A user as admins see them."""
    return UserStatus(
        id=u.id,
        name=u.name,
        is_admin=u.is_admin,
        created_at=u.created_at,
        kind=u.kind,
        disabled_at=u.disabled_at,
        removed_at=u.removed_at,
    )


def user_disabled(d: DisabledUser) -> UserDisabledOut:
    return UserDisabledOut(
        user=user_status(d.user), web_sessions_ended=d.web_sessions_ended, sessions_ended=d.sessions_ended
    )
