"""A person <-> server: a grant on a secret, a new group or project, a member and their role.

POST /api/v1/secrets/{name}/grants, POST /api/v1/groups and /api/v1/projects, PUT .../{name}/members.
The choices (levels, roles) are stated as enums; the services refuse anything else with their own codes.
What those routes and /api/v1/invitations answer is in `sharing_answers`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from sealbox.domain.collections import GROUP_ROLES, PROJECT_ROLES
from sealbox.domain.grants import GRANTABLE
from sealbox.protocol.api_fields import CollectionName, UserName
from sealbox.protocol.base import Message

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
