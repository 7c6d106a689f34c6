"""What /api/v1/tokens, /me, /users and /service-accounts answer (what they are sent: account_api)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sealbox.domain.principals import AccessToken, User
from sealbox.services.tokens import RevokedToken
from sealbox.services.users import DisabledUser


class TokenPublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: AccessToken) -> TokenPublic:
        return cls(
            id=t.id, name=t.name, created_at=t.created_at, expires_at=t.expires_at, revoked_at=t.revoked_at
        )


class TokenIssued(TokenPublic):
    token: str = Field(description="the token itself: shown this once, never stored")


class UserPublic(BaseModel):
    id: str
    name: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserPublic:
        return cls(id=u.id, name=u.name, is_admin=u.is_admin, created_at=u.created_at)


class UserCreated(BaseModel):
    user: UserPublic
    token: str = Field(description="the new user's first token: shown this once")


class UserStatus(UserPublic):
    """A user as admins see them: also the kind and, for a disabled or removed user, since when."""

    kind: str = Field(description="person, or service (a service account)")
    disabled_at: datetime | None = Field(description="set: none of their tokens or sign-ins works")
    removed_at: datetime | None = Field(
        default=None,
        description="set: removed for good (`sealbox admin user remove`); the name is not reused",
    )

    @classmethod
    def of_user(cls, u: User) -> UserStatus:
        return cls(
            id=u.id,
            name=u.name,
            is_admin=u.is_admin,
            created_at=u.created_at,
            kind=u.kind,
            disabled_at=u.disabled_at,
            removed_at=u.removed_at,
        )


class UserDisabledOut(BaseModel):
    user: UserStatus
    web_sessions_ended: int = Field(description="web sessions of theirs that were live and are deleted")
    sessions_ended: int = Field(description="live sessions of theirs that were ended")

    @classmethod
    def of(cls, d: DisabledUser) -> UserDisabledOut:
        return cls(
            user=UserStatus.of_user(d.user),
            web_sessions_ended=d.web_sessions_ended,
            sessions_ended=d.sessions_ended,
        )


class TokenRevokedOut(TokenPublic):
    web_sessions_ended: int = Field(
        description="web sessions signed in with this token that were live and ended with it"
    )

    @classmethod
    def of_revoked(cls, r: RevokedToken) -> TokenRevokedOut:
        return cls(**TokenPublic.of(r.token).model_dump(), web_sessions_ended=r.web_sessions_ended)
