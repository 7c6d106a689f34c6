"""What /api/v1/secrets answers: a secret, a page of them, an unshare (a grant: sharing.py).

What a person sends (a new secret, a new value, a change, a grant) is sealbox.protocol's: secret_api and
sharing_api.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import msgspec

from sealbox.domain.kinds import Kind
from sealbox.domain.secrets import Page, Secret
from sealbox.domain.sessions import LiveSession

# What comes back: msgspec Structs, encoded by the one read handler (server/hot.py) and by the write
# routes alike, and put into the OpenAPI document from these same types (server/openapi.py).


class SecretVersionPublic(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    created_at: datetime
    created_by: str
    size: int


class MountingSession(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    owner: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, s: LiveSession) -> MountingSession:
        return cls(id=s.id, owner=s.owner, created_at=s.created_at, expires_at=s.expires_at)


class SecretPublic(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    owner: str
    ref: Annotated[str, msgspec.Meta(description="owner/name: how others refer to it")]
    access: Annotated[str, msgspec.Meta(description="your level: owner, manage, write or use")]
    kind: Kind
    description: str
    fields: Annotated[list[str], msgspec.Meta(description="names of the fields present (never their values)")]
    project: str | None = None
    scopes: list[str] = []
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

    @classmethod
    def of(cls, s: Secret, *, with_versions: bool, live: Sequence[LiveSession] | None = None) -> SecretPublic:
        return cls(
            id=s.id,
            name=s.name,
            owner=s.owner_name,
            ref=s.ref,
            access=s.access,
            kind=s.kind,
            description=s.description,
            fields=list(s.field_names),
            project=s.project,
            scopes=list(s.scopes),
            created_at=s.created_at,
            created_by=s.created_by,
            updated_at=s.updated_at,
            updated_by=s.updated_by,
            expires_at=s.expires_at,
            current_version=s.current_version,
            versions=[
                SecretVersionPublic(
                    version=v.version, created_at=v.created_at, created_by=v.created_by, size=v.size
                )
                for v in s.versions
            ]
            if with_versions
            else None,
            sessions=None if live is None else [MountingSession.of(m) for m in live],
        )


class SecretPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SecretPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page) -> SecretPage:
        return cls(
            items=[SecretPublic.of(s, with_versions=False) for s in page.items], next_cursor=page.next_cursor
        )


class DeletedSecretPublic(msgspec.Struct, frozen=True, kw_only=True):
    """A secret in its recovery window: hidden everywhere; restorable until `purge_at`."""

    id: str
    name: str
    owner: str
    ref: str
    access: str
    kind: Kind
    description: str
    current_version: int
    deleted_at: datetime
    deleted_by: str
    purge_at: Annotated[datetime, msgspec.Meta(description="when it is removed for good")]

    @classmethod
    def of(cls, s: Secret) -> DeletedSecretPublic:
        if s.deleted_at is None or s.purge_at is None:
            raise ValueError("not a deleted secret")
        return cls(
            id=s.id,
            name=s.name,
            owner=s.owner_name,
            ref=s.ref,
            access=s.access,
            kind=s.kind,
            description=s.description,
            current_version=s.current_version,
            deleted_at=s.deleted_at,
            deleted_by=s.deleted_by or "",
            purge_at=s.purge_at,
        )


class DeletedSecrets(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeletedSecretPublic]


class UnshareOut(msgspec.Struct, frozen=True, kw_only=True):
    live_sessions: Annotated[
        list[MountingSession], msgspec.Meta(description="sessions that still hold the value; end them")
    ]
