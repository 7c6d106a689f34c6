"""Groups and projects (collections of users): who is in one, with which role, and who is invited."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

GROUP_ROLES = ("member", "manager")
PROJECT_ROLES = ("member", "owner")


class StoredCollection(msgspec.Struct, frozen=True, kw_only=True):
    """A group or a project as stored: `created_by` is a user name, or the identity provider's mark."""

    id: str
    name: str
    created_at: datetime
    created_by: str


class Member(msgspec.Struct, frozen=True, kw_only=True):
    user: str  # a user name
    role: str  # groups: member or manager; projects: member or owner


class Collection(msgspec.Struct, frozen=True, kw_only=True):
    """A group or a project with its members, by user name."""

    name: str
    members: tuple[Member, ...]


class Membership(msgspec.Struct, frozen=True, kw_only=True):
    """A group or a project one belongs to, and one's role in it."""

    name: str
    role: str


class MemberChange(msgspec.Struct, frozen=True, kw_only=True):
    """What a manager's "add" did: `member` (in the group now) or `invited` (until they accept)."""

    group: str
    user: str
    role: str
    status: Literal["member", "invited"]


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    group: str
    role: str  # the role accepting gives
    invited_by: str
    created_at: datetime
