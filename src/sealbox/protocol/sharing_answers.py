"""Server -> a person: a secret's grants, a group or project and its members, an invitation.

What /api/v1/secrets/{name}/grants, /api/v1/groups, /api/v1/projects and /api/v1/invitations answer
(built by server/schemas/sharing.py), decoded by the SDK's `Client` and the CLI. Imports only msgspec
and the standard library.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from sealbox.protocol.base import Answer, Time


class GrantPublic(Answer, frozen=True, kw_only=True):
    grantee_type: str
    grantee: str
    level: str
    created_at: Time
    created_by: str


class Member(Answer, frozen=True, kw_only=True):
    user: str
    role: str


class CollectionPublic(Answer, frozen=True, kw_only=True):
    name: str
    members: list[Member]


class Membership(Answer, frozen=True, kw_only=True):
    name: str
    role: str


class MemberChange(Answer, frozen=True, kw_only=True):
    """What a manager's add did. `invited` is the answer for any name that is not already a member,
    whether or not it names anyone: the person joins by accepting (`POST /invitations/{group}/accept`)."""

    group: str
    user: str
    role: str
    status: Annotated[
        str,
        msgspec.Meta(
            description="member: in the group now; invited: pending",
            extra_json_schema={"enum": ["member", "invited"]},
        ),
    ]


class InvitationPublic(Answer, frozen=True, kw_only=True):
    group: str
    role: Annotated[str, msgspec.Meta(description="the role accepting gives: member or manager")]
    invited_by: str
    created_at: Time
