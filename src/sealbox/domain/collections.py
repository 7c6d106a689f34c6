"""Groups and projects (collections of users): who is in one, with which role, and who is invited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

GROUP_ROLES = ("member", "manager")
PROJECT_ROLES = ("member", "owner")


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredCollection:
    """A group or a project as stored: `created_by` is a user name, or the identity provider's mark."""

    id: str
    name: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    user: str  # a user name
    role: str  # groups: member or manager; projects: member or owner


@dataclass(frozen=True, kw_only=True, slots=True)
class Collection:
    """A group or a project with its members, by user name."""

    name: str
    members: tuple[Member, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Membership:
    """A group or a project one belongs to, and one's role in it."""

    name: str
    role: str


@dataclass(frozen=True, kw_only=True, slots=True)
class MemberChange:
    """What a manager's "add" did: `member` (in the group now) or `invited` (until they accept)."""

    group: str
    user: str
    role: str
    status: Literal["member", "invited"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Invitation:
    group: str
    role: str  # the role accepting gives
    invited_by: str
    created_at: datetime
