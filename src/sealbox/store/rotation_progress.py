"""What is left of the key rotations, and when each kind last completed: for `/metrics` and retiring.

A completed rotation leaves a row `done:<kind>` in key_rotation_leases (`expires_at`: when it
completed); no runner ever takes a lease by that name, so it is never a lease.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, select
from sqlalchemy.engine import Connection

from sealbox.store.tables import (
    audit_events,
    key_rotation_leases,
    previous_user_keys,
    secret_versions,
    users,
)

DONE_PREFIX = "done:"


@dataclass(frozen=True, kw_only=True, slots=True)
class RotationProgress:
    # By kind: "master-key" (user keys), "user-keys" (data keys), "keeper-key" (outer layers; absent
    # when the keeper's current key ids were not known).
    rows_left: dict[str, int]
    completed: dict[str, datetime]  # by kind: when its last rotation completed


def mark_done(conn: Connection, kind: str, now: datetime) -> None:
    name = DONE_PREFIX + kind
    conn.execute(delete(key_rotation_leases).where(key_rotation_leases.c.name == name))
    conn.execute(
        insert(key_rotation_leases).values(name=name, holder="completed", expires_at=now, started_at=now)
    )


def progress(
    conn: Connection, *, master_key_id: str, data_keys_left: int, keeper_current: tuple[str, ...] | None
) -> RotationProgress:
    """Rows on a master key other than `master_key_id`, outer layers under none of the `keeper_current`
    ids (when given), and the completions."""
    current_users = conn.execute(
        select(func.count()).where(users.c.removed_at.is_(None), users.c.master_key_id != master_key_id)
    ).scalar_one()
    p = previous_user_keys.c
    kept = conn.execute(select(func.count()).where(p.master_key_id != master_key_id)).scalar_one()
    done = conn.execute(
        select(key_rotation_leases.c.name, key_rotation_leases.c.expires_at).where(
            key_rotation_leases.c.name.startswith(DONE_PREFIX)
        )
    ).all()
    left = {"master-key": int(current_users) + int(kept), "user-keys": data_keys_left}
    if keeper_current is not None:
        kid = secret_versions.c.keeper_key_id
        left["keeper-key"] = sum(
            int(conn.execute(select(func.count()).where(gap)).scalar_one())
            for gap in outside(kid, keeper_current)
        )
    return RotationProgress(
        rows_left=left,
        completed={str(name).removeprefix(DONE_PREFIX): at for name, at in done},
    )


def outside(column: Any, values: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """`column NOT IN values` as ranges between them, each an index range: a count over them costs the
    rows outside, not the table."""
    cuts = sorted(set(values))
    if not cuts:
        return [column.is_not(None)]
    gaps: list[ColumnElement[bool]] = [column < cuts[0]]
    gaps += [and_(column > low, column < high) for low, high in pairwise(cuts)]
    return [*gaps, column > cuts[-1]]


def audit_key_uses(conn: Connection, key_ids: set[str], checkpoint: Path | None) -> dict[str, int]:
    """Records naming each of `key_ids`, plus one for the checkpoint file's key (a full scan: retiring
    is rare, and audit_events has no index on key_id)."""
    c = audit_events.c
    rows = conn.execute(
        select(c.key_id, func.count()).where(c.key_id.in_(sorted(key_ids))).group_by(c.key_id)
    ).all()
    uses = {str(kid): int(n) for kid, n in rows}
    named = _checkpoint_key_id(checkpoint) if checkpoint is not None else None
    if named in key_ids:
        uses[named] = uses.get(named, 0) + 1
    return uses


def _checkpoint_key_id(path: Path) -> str | None:
    try:
        kid = json.loads(path.read_text()).get("key_id")
    except (OSError, ValueError, AttributeError):
        return None
    return kid if isinstance(kid, str) else None
