"""What /api/v1/secrets and /api/v1/deleted-secrets answer: the Structs of protocol.secret_answers, built
here from the domain's secrets (a grant: sharing.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sealbox.protocol.secret_answers import (
    DeletedSecretPublic,
    DeletedSecrets,
    MountingSession,
    SecretPage,
    SecretPublic,
    SecretVersionPublic,
    UnshareOut,
)

if TYPE_CHECKING:
    from sealbox.domain.secrets import Page, Secret
    from sealbox.domain.sessions import LiveSession

__all__ = [
    "DeletedSecretPublic",
    "DeletedSecrets",
    "MountingSession",
    "SecretPage",
    "SecretPublic",
    "SecretVersionPublic",
    "UnshareOut",
    "deleted_secret_public",
    "mounting_session",
    "secret_page",
    "secret_public",
]


def mounting_session(s: LiveSession) -> MountingSession:
    return MountingSession(id=s.id, owner=s.owner, created_at=s.created_at, expires_at=s.expires_at)


def secret_public(
    s: Secret, *, with_versions: bool, live: Sequence[LiveSession] | None = None
) -> SecretPublic:
    return SecretPublic(
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
        sessions=None if live is None else [mounting_session(m) for m in live],
    )


def secret_page(page: Page) -> SecretPage:
    return SecretPage(
        items=[secret_public(s, with_versions=False) for s in page.items], next_cursor=page.next_cursor
    )


def deleted_secret_public(s: Secret) -> DeletedSecretPublic:
    if s.deleted_at is None or s.purge_at is None:
        raise ValueError("not a deleted secret")
    return DeletedSecretPublic(
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
