"""A person <-> server: a grant on a secret, a new group or project, a member and their role.

POST /api/v1/secrets/{name}/grants, POST /api/v1/groups and /api/v1/projects, PUT .../{name}/members.
The choices (levels, roles) are stated as enums; the services refuse anything else with their own codes.
And what those routes and /api/v1/invitations answer (built by server/schemas/sharing.py).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from sealbox.domain.collections import GROUP_ROLES, PROJECT_ROLES
from sealbox.domain.grants import GRANTABLE
from sealbox.protocol.api_fields import CollectionName, UserName
from sealbox.protocol.base import Answer, Message, Time

GRANT_LEVELS = tuple(level.value for level in GRANTABLE)
GroupRole = Annotated[str, msgspec.Meta(max_length=16, extra_json_schema={"enum": list(GROUP_ROLES)})]
ProjectRole = Annotated[str, msgspec.Meta(max_length=16, extra_json_schema={"enum": list(PROJECT_ROLES)})]


class GrantIn(Message, frozen=True, kw_only=True):
    """Exactly one of `user` or `group`."""

    json_schema_extra: ClassVar[dict[str, Any]] = {
        "oneOf": [
            {"required": ["user"], "properties": {"user": {"type": "string"}, "group": {"type": "null"}}},
            {"required": ["group"], "properties": {"group": {"type": "string"}, "user": {"type": "null"}}},
        ]
    }

    user: UserName | None = None
    group: CollectionName | None = None
    level: Annotated[
        str, msgspec.Meta(description="use, write or manage", extra_json_schema={"enum": list(GRANT_LEVELS)})
    ]


class CollectionIn(Message, frozen=True):
    """POST /api/v1/groups or /api/v1/projects."""

    name: CollectionName


class GroupMemberIn(Message, frozen=True):
    """PUT /api/v1/groups/{name}/members."""

    user: UserName
    role: GroupRole = "member"


class ProjectMemberIn(Message, frozen=True):
    """PUT /api/v1/projects/{name}/members."""

    user: UserName
    role: ProjectRole = "member"


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
