"""Secrets and their versions, as the rest of sealbox sees them (never with a value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NewType

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import UserID

SecretID = NewType("SecretID", str)

MAX_DESCRIPTION = 1024  # characters, without NUL
MAX_SCOPES = 32  # scope patterns per secret
MAX_SCOPE_LENGTH = 512  # characters of one scope pattern, printable


@dataclass(frozen=True, kw_only=True, slots=True)
class SecretVersion:
    version: int
    created_at: datetime
    created_by: str
    size: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Secret:
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


@dataclass(frozen=True, kw_only=True, slots=True)
class SecretPatch:
    """A metadata change; `None` leaves a field alone, `clear_expiry` removes the expiry."""

    description: str | None = None
    expires_at: datetime | None = None
    clear_expiry: bool = False
    scopes: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Page:
    items: tuple[Secret, ...]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class OwnedVersion:
    """One stored version of a secret a user owns, as a removal moves or deletes it."""

    secret_id: str
    name: str
    version: int
    wrapped_dek: bytes = field(repr=False)
    context_owner_id: str  # the owner id its ciphertexts bind
