"""Bodies of /api/v1/groups and /api/v1/projects: names, members and their roles."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sealbox.server.schemas.fields import CollectionName, In, UserName
from sealbox.services.sharing import GROUP_ROLES, PROJECT_ROLES


class CollectionIn(In):
    name: CollectionName


class GroupMemberIn(In):
    user: UserName
    role: str = Field(default="member", max_length=16, json_schema_extra={"enum": list(GROUP_ROLES)})


class ProjectMemberIn(In):
    user: UserName
    role: str = Field(default="member", max_length=16, json_schema_extra={"enum": list(PROJECT_ROLES)})


class Member(BaseModel):
    user: str
    role: str


class CollectionPublic(BaseModel):
    name: str
    members: list[Member]


class Membership(BaseModel):
    name: str
    role: str
