"""Server -> a person: their tokens, who they are (/me), an admin's users and service accounts.

What /api/v1/tokens, /me, /users and /service-accounts answer (built by server/schemas/accounts.py),
decoded by the SDK's `Client` and the CLI. Imports only msgspec and the standard library.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from sealbox.protocol.base import Answer, Time


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
