"""Secrets and their versions, as the rest of sealbox sees them (never with a value)."""

from __future__ import annotations

from datetime import datetime
from typing import NewType

import msgspec

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import UserID

SecretID = NewType("SecretID", str)

MAX_DESCRIPTION = 1024  # characters, without NUL
MAX_SCOPES = 32  # scope patterns per secret
MAX_SCOPE_LENGTH = 512  # characters of one scope pattern, printable


class SecretVersion(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    created_at: datetime
    created_by: str
    size: int


class Secret(msgspec.Struct, frozen=True, kw_only=True):
    id: SecretID
    owner_id: UserID
    owner_name: str
    name: str
    kind: Kind
    description: str
    field_names: tuple[str, ...]
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    expires_at: datetime | None
    current_version: int
    versions: tuple[SecretVersion, ...] = ()
    project: str | None = None  # set: it can be brought only into that project's sessions
    project_id: str | None = None
    scopes: tuple[str, ...] = ()  # resource patterns a typed credential is for, e.g. s3://team-data/*
    access: str = "owner"  # the viewer's level: owner, manage, write or use
    deleted_at: datetime | None = None  # set: in the recovery window, removed for good at `purge_at`
    deleted_by: str | None = None
    purge_at: datetime | None = None

    @property
    def ref(self) -> str:
        """How others name it: `owner/name`."""
        return f"{self.owner_name}/{self.name}"


class SecretPatch(msgspec.Struct, frozen=True, kw_only=True):
    """A metadata change; `None` leaves a field alone, `clear_expiry` removes the expiry."""

    description: str | None = None
    expires_at: datetime | None = None
    clear_expiry: bool = False
    scopes: tuple[str, ...] | None = None


class Page(msgspec.Struct, frozen=True, kw_only=True):
    items: tuple[Secret, ...]
    next_cursor: str | None


class OwnedVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One stored version of a secret a user owns, as a removal moves or deletes it."""

    secret_id: str
    name: str
    version: int
    wrapped_dek: bytes
    context_owner_id: str  # the owner id its ciphertexts bind

    def __repr__(self) -> str:  # the wrapped key stays out of logs
        return f"OwnedVersion(secret_id={self.secret_id!r}, name={self.name!r}, version={self.version})"
