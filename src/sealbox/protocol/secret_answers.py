"""Server -> a person: what /api/v1/secrets and /api/v1/deleted-secrets answer (never a value).

Encoded by the one read handler (server/hot.py) and by the write routes alike (built by
server/schemas/secrets.py), decoded by the SDK's `Client` and so the CLI. Like every answer module it
imports only msgspec and the standard library: a client loads it without the domain's rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from sealbox.protocol.base import Answer

# The kinds of secret (domain.kinds.Kind, whose values tests/unit/protocol/test_answers.py keeps equal to
# these). An answer states them as text with this enum: a client decodes a kind a newer server added.
KIND_NAMES = ("generic", "aws", "database", "token", "ssh-key", "gcp", "aws-role")
KindName = Annotated[str, msgspec.Meta(extra_json_schema={"enum": list(KIND_NAMES)})]


class SecretVersionPublic(Answer, frozen=True, kw_only=True):
    version: int
    created_at: datetime
    created_by: str
    size: int


class MountingSession(Answer, frozen=True, kw_only=True):
    id: str
    owner: str
    created_at: datetime
    expires_at: datetime


class SecretPublic(Answer, frozen=True, kw_only=True):
    id: str
    name: str
    owner: str
    ref: Annotated[str, msgspec.Meta(description="owner/name: how others refer to it")]
    access: Annotated[str, msgspec.Meta(description="your level: owner, manage, write or use")]
    kind: KindName
    description: str
    fields: Annotated[list[str], msgspec.Meta(description="names of the fields present (never their values)")]
    project: str | None = None
    scopes: list[str] = msgspec.field(default_factory=list)
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    expires_at: datetime | None
    current_version: int
    versions: list[SecretVersionPublic] | None = None
    sessions: Annotated[
        list[MountingSession] | None, msgspec.Meta(description="live sessions that mount it")
    ] = None


class SecretPage(Answer, frozen=True, kw_only=True):
    items: list[SecretPublic]
    next_cursor: str | None


class DeletedSecretPublic(Answer, frozen=True, kw_only=True):
    """A secret in its recovery window: hidden everywhere; restorable until `purge_at`."""

    id: str
    name: str
    owner: str
    ref: str
    access: str
    kind: KindName
    description: str
    current_version: int
    deleted_at: datetime
    deleted_by: str
    purge_at: Annotated[datetime, msgspec.Meta(description="when it is removed for good")]


class DeletedSecrets(Answer, frozen=True, kw_only=True):
    items: list[DeletedSecretPublic]


class UnshareOut(Answer, frozen=True, kw_only=True):
    live_sessions: Annotated[
        list[MountingSession], msgspec.Meta(description="sessions that still hold the value; end them")
    ]
