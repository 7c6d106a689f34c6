"""Sharing levels and the rule that orders them: use < write < manage < owner."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from sealbox.errors import BadRequest


class Level(StrEnum):
    USE = "use"  # may bring it into own sessions and jobs; never read through the API
    WRITE = "write"  # also replace the value
    MANAGE = "manage"  # also grant, revoke, change metadata and delete
    OWNER = "owner"


_RANK = {Level.USE: 1, Level.WRITE: 2, Level.MANAGE: 3, Level.OWNER: 4}
GRANTABLE = (Level.USE, Level.WRITE, Level.MANAGE)


def at_least(have: Level | None, need: Level) -> bool:
    return have is not None and _RANK[have] >= _RANK[need]


def best(levels: list[Level]) -> Level | None:
    return max(levels, key=lambda level: _RANK[level]) if levels else None


def parse_level(raw: str) -> Level:
    try:
        level = Level(raw)
    except ValueError:
        level = None
    if level not in GRANTABLE:
        raise BadRequest("level must be use, write or manage", code="invalid_level", field="level")
    assert level is not None
    return level


def split_ref(ref: str) -> tuple[str | None, str]:
    """`alice/db_password` -> ('alice', 'db_password'); a bare name is the caller's own."""
    owner, slash, name = ref.partition("/")
    return (owner, name) if slash else (None, ref)


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    secret_id: str
    grantee_type: str  # user or group
    grantee_id: str
    grantee_name: str
    level: Level
    created_at: datetime
    created_by: str
