"""A person <-> server: a token of their own; an admin's new user or service account.

POST /api/v1/tokens, POST /api/v1/users and POST /api/v1/service-accounts, and what /api/v1/tokens, /me,
/users and /service-accounts answer (built by server/schemas/accounts.py).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import MAX_TOKEN_NAME
from sealbox.protocol.api_fields import TOKEN_NAME_PATTERN, SecretRef, Timestamp, UserName, stated
from sealbox.protocol.base import Answer, Message, Time


class TokenCreate(Message, frozen=True):
    """POST /api/v1/tokens."""

    name: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_TOKEN_NAME,
            description="1-128 characters (blank around them is dropped), no control characters",
            extra_json_schema=stated(TOKEN_NAME_PATTERN, minLength=1),
        ),
    ]
    expires_at: Annotated[Timestamp | None, msgspec.Meta(description="in the future; RFC 3339")] = None


class UserCreate(Message, frozen=True):
    """POST /api/v1/users."""

    name: UserName
    is_admin: bool = False


class ServiceAccountCreate(Message, frozen=True):
    """POST /api/v1/service-accounts."""

    name: UserName
    kinds: Annotated[list[Kind], msgspec.Meta(max_length=16, description="kinds of secret it may fetch")] = (
        msgspec.field(default_factory=list)
    )
    names: Annotated[
        list[SecretRef], msgspec.Meta(max_length=256, description="secret names (or OWNER/NAME) it may fetch")
    ] = msgspec.field(default_factory=list)


class TokenPublic(Answer, frozen=True, kw_only=True):
    id: str
    name: str
    created_at: Time
    expires_at: Time | None
    revoked_at: Time | None


class TokenIssued(TokenPublic, frozen=True, kw_only=True):
    token: Annotated[str, msgspec.Meta(description="the token itself: shown this once, never stored")]


class TokenRevokedOut(TokenPublic, frozen=True, kw_only=True):
    web_sessions_ended: Annotated[
        int,
        msgspec.Meta(description="web sessions signed in with this token that were live and ended with it"),
    ]


class UserPublic(Answer, frozen=True, kw_only=True):
    id: str
    name: str
    is_admin: bool
    created_at: Time


class UserCreated(Answer, frozen=True, kw_only=True):
    user: UserPublic
    token: Annotated[str, msgspec.Meta(description="the new user's first token: shown this once")]


class UserStatus(UserPublic, frozen=True, kw_only=True):
    """A user as admins see them: also the kind and, for a disabled or removed user, since when."""

    kind: Annotated[str, msgspec.Meta(description="person, or service (a service account)")]
    disabled_at: Annotated[
        Time | None, msgspec.Meta(description="set: none of their tokens or sign-ins works")
    ]
    removed_at: Annotated[
        Time | None,
        msgspec.Meta(
            description="set: removed for good (`sealbox admin user remove`); the name is not reused"
        ),
    ] = None


class UserDisabledOut(Answer, frozen=True, kw_only=True):
    user: UserStatus
    web_sessions_ended: Annotated[
        int, msgspec.Meta(description="web sessions of theirs that were live and are deleted")
    ]
    sessions_ended: Annotated[int, msgspec.Meta(description="live sessions of theirs that were ended")]
