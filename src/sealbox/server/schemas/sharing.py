"""What /api/v1/groups and /api/v1/projects answer: members and their roles (what they are sent:
protocol.sharing_api)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Member(BaseModel):
    user: str
    role: str


class CollectionPublic(BaseModel):
    name: str
    members: list[Member]


class Membership(BaseModel):
    name: str
    role: str


class MemberChange(BaseModel):
    """What a manager's add did. `invited` is the answer for any name that is not already a member,
    whether or not it names anyone: the person joins by accepting (`POST /invitations/{group}/accept`)."""

    group: str
    user: str
    role: str
    status: Literal["member", "invited"] = Field(description="member: in the group now; invited: pending")


class InvitationPublic(BaseModel):
    group: str
    role: str = Field(description="the role accepting gives: member or manager")
    invited_by: str
    created_at: datetime
