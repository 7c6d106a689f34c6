"""What /api/v1/secrets/{name}/grants, /api/v1/groups, /api/v1/projects and /api/v1/invitations answer:
the Structs of protocol.sharing_answers, built here from the domain's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from sealbox.protocol.sharing_answers import (
    CollectionPublic,
    GrantPublic,
    InvitationPublic,
    Member,
    MemberChange,
    Membership,
)

if TYPE_CHECKING:
    from sealbox.domain.grants import Grant

# The answers the OpenAPI document carries for these routes (those they name come along).
SHARING_STRUCTS = (GrantPublic, CollectionPublic, Membership, MemberChange, InvitationPublic)

__all__ = [
    "SHARING_STRUCTS",
    "CollectionPublic",
    "GrantPublic",
    "InvitationPublic",
    "Member",
    "MemberChange",
    "Membership",
    "answer",
    "grant_public",
]

A = TypeVar("A", bound=msgspec.Struct)


def answer(kind: type[A], found: Any) -> A:
    """A domain dataclass (a Collection, a Membership, ...) as the answer of the same fields."""
    return msgspec.convert(found, kind, from_attributes=True)


def grant_public(g: Grant) -> GrantPublic:
    return GrantPublic(
        grantee_type=g.grantee_type,
        grantee=g.grantee_name,
        level=g.level.value,
        created_at=g.created_at,
        created_by=g.created_by,
    )
