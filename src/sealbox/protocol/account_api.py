"""A person <-> server: a token of their own; an admin's new user or service account.

POST /api/v1/tokens, POST /api/v1/users and POST /api/v1/service-accounts (what those routes answer is
in `account_answers`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import MAX_TOKEN_NAME
from sealbox.protocol.api_fields import TOKEN_NAME_PATTERN, SecretRef, Timestamp, UserName, stated
from sealbox.protocol.base import Message


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
