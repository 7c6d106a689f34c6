"""The rows a key rotation moves, and the lease that lets one runner at a time move them.

Implements `services.rotation.RotationRows` over a `Database`; `sealbox admin rotate` wires it in.
Each batch is one write transaction that first renews the lease (compare-and-set on its holder) and
then moves each row by compare-and-set on the key id it was read with (the data-key re-wrap reads and
wraps its batch before that transaction): a batch of a runner that lost its lease changes nothing,
and a row moved meanwhile (by a slow runner, or rewritten by a request) is left alone, so running a
batch twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, select, tuple_, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.errors import ConstraintViolation
from sealbox.store import rotation_progress
from sealbox.store.audit import AuditRepository
from sealbox.store.database import Database
from sealbox.store.tables import key_rotation_leases, previous_user_keys, secret_versions, secrets, users

Rewrap = Callable[[str, bytes], tuple[bytes, str]]  # (row id, wrapped) -> (wrapped anew, its key id)
# (owner id, its user key wrapped) -> (the user key's id, a new user key wrapped, the master key id)
Swap = Callable[[str, bytes], tuple[str, bytes, str]]
VersionKey = tuple[str, int]  # (secret id, version): where a batch walk stands


class DatabaseRotationRows:
    def __init__(self, db: Database, *, checkpoint: Path | None = None) -> None:
        self.db = db
        self.checkpoint = checkpoint  # the audit checkpoint file, whose key an audit key retire keeps

    def mark_done(self, kind: str, *, now: datetime) -> None:
        with self.db.write() as conn:
            rotation_progress.mark_done(conn, kind, now)

    def audit_key_uses(self, key_ids: set[str]) -> dict[str, int]:
        with self.db.read() as conn:
            return rotation_progress.audit_key_uses(conn, key_ids, self.checkpoint)

    def progress(
        self, master_key_id: str, keeper_current: tuple[str, ...] | None = None
    ) -> rotation_progress.RotationProgress:
        """Rows left per rotation kind (against the current master key id and, when known, the keeper's
        current key ids) and the last completions."""
        left = self.data_keys_left(None)
        with self.db.read() as conn:
            return rotation_progress.progress(
                conn, master_key_id=master_key_id, data_keys_left=left, keeper_current=keeper_current
            )

    def take_lease(
        self, name: str, holder: str, *, now: datetime, ttl: timedelta, may_take: Callable[[str], bool]
    ) -> str | None:
        """Hold the lease `name`; None when held now, else the holder that keeps it."""
        try:
            with self.db.write() as conn:
                row = conn.execute(
                    select(key_rotation_leases.c.holder, key_rotation_leases.c.expires_at).where(
                        key_rotation_leases.c.name == name
                    )
                ).first()
                if row is None:
                    conn.execute(
                        insert(key_rotation_leases).values(
                            name=name, holder=holder, expires_at=now + ttl, started_at=now
                        )
                    )
                    return None
                if row.holder != holder and row.expires_at > now and not may_take(row.holder):
                    return str(row.holder)
                conn.execute(
                    update(key_rotation_leases)
                    .where(key_rotation_leases.c.name == name, key_rotation_leases.c.holder == row.holder)
                    .values(holder=holder, expires_at=now + ttl)
                )
                return None
        except ConstraintViolation:  # another runner inserted it first
            return "another runner"

    def release(self, name: str, holder: str, *, finished: bool, now: datetime) -> None:
        """End the round (`finished`), or only let the lease go: the next runner resumes the round."""
        mine = (key_rotation_leases.c.name == name, key_rotation_leases.c.holder == holder)
        with self.db.write() as conn:
            if finished:
                conn.execute(delete(key_rotation_leases).where(*mine))
            else:
                conn.execute(update(key_rotation_leases).where(*mine).values(expires_at=now))

    def round_started(self, name: str) -> datetime:
        with self.db.read() as conn:
            return conn.execute(  # type: ignore[no-any-return]
                select(key_rotation_leases.c.started_at).where(key_rotation_leases.c.name == name)
            ).scalar_one()

    def master_key_ids_in_use(self) -> dict[str, int]:
        """How many user keys (current and previous) each master key id wraps."""
        both = union_all(
            select(users.c.master_key_id.label("kid")).where(_HAS_KEY),
            select(previous_user_keys.c.master_key_id),
        ).subquery()
        with self.db.read() as conn:
            rows = conn.execute(select(both.c.kid, func.count()).group_by(both.c.kid)).all()
        return {str(kid): int(n) for kid, n in rows}

    def user_id_of(self, name: str) -> str | None:
        with self.db.read() as conn:
            found = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
        return str(found) if found is not None else None

    def rewrap_user_keys(
        self,
        *,
        lease: tuple[str, str],
        now: datetime,
        ttl: timedelta,
        current_id: str,
        limit: int,
        rewrap: Rewrap,
    ) -> int | None:
        """Move up to `limit` user keys not under `current_id`; how many moved, None if the lease is lost."""
        with self.db.write() as conn:
            if not _renew(conn, lease, now + ttl):
                return None
            rows = conn.execute(
                select(users.c.id, users.c.user_key, users.c.master_key_id)
                .where(users.c.master_key_id != current_id, _HAS_KEY)
                .order_by(users.c.id)
                .limit(limit)
            ).all()
            moved = 0
            for user_id, wrapped, old_id in rows:
                new_wrapped, new_id = rewrap(user_id, wrapped)
                done = conn.execute(
                    update(users)
                    .where(users.c.id == user_id, users.c.master_key_id == old_id)
                    .values(user_key=new_wrapped, master_key_id=new_id)
                )
                moved += done.rowcount
            p = previous_user_keys.c
            kept = conn.execute(
                select(p.user_id, p.key_id, p.user_key, p.master_key_id)
                .where(p.master_key_id != current_id)
                .order_by(p.user_id, p.key_id)
                .limit(limit)
            ).all()
            for user_id, key_id, wrapped, old_id in kept:
                new_wrapped, new_id = rewrap(user_id, wrapped)
                done = conn.execute(
                    update(previous_user_keys)
                    .where(p.user_id == user_id, p.key_id == key_id, p.master_key_id == old_id)
                    .values(user_key=new_wrapped, master_key_id=new_id)
                )
                moved += done.rowcount
            return moved

    def swap_user_keys(
        self,
        *,
        lease: tuple[str, str],
        now: datetime,
        ttl: timedelta,
        since: datetime,
        user_id: str | None,
        limit: int,
        swap: Swap,
    ) -> int | None:
        """Give up to `limit` users (or `user_id`) not given one since `since` a new user key, keeping
        the old one in previous_user_keys; how many, None if the lease is lost."""
        p = previous_user_keys.c
        with self.db.write() as conn:
            if not _renew(conn, lease, now + ttl):
                return None
            done_since = exists().where(p.user_id == users.c.id, p.replaced_at >= since)
            query = select(users.c.id, users.c.user_key, users.c.master_key_id).where(~done_since, _HAS_KEY)
            if user_id is not None:
                query = query.where(users.c.id == user_id)
            swapped = 0
            for uid, wrapped, old_mk in conn.execute(query.order_by(users.c.id).limit(limit)).all():
                old_kid, new_wrapped, new_mk = swap(uid, wrapped)
                changed = conn.execute(
                    update(users)
                    .where(users.c.id == uid, users.c.user_key == wrapped)
                    .values(user_key=new_wrapped, master_key_id=new_mk)
                )
                if changed.rowcount:
                    conn.execute(
                        insert(previous_user_keys).values(
                            user_id=uid,
                            key_id=old_kid,
                            user_key=wrapped,
                            master_key_id=old_mk,
                            replaced_at=now,
                        )
                    )
                    swapped += 1
            return swapped

    def data_keys_left(self, user_id: str | None) -> int:
        """Versions whose data key is still wrapped by one of its owner's previous user keys."""
        with self.db.read() as conn:
            return int(conn.execute(_count_on_previous(user_id)).scalar_one())

    def rewrap_data_keys(
        self,
        *,
        lease: tuple[str, str],
        now: datetime,
        ttl: timedelta,
        user_id: str | None,
        after: VersionKey | None,
        limit: int,
        rewrap: Callable[[DataKeyRow], tuple[bytes, str]],
    ) -> tuple[int, VersionKey | None] | None:
        """Move up to `limit` data keys after `after` (in key order) to their owner's current user key:
        (how many moved, where the walk stands; None once it read the last row), None if the lease is
        lost. Each batch reads on from the primary key where the last stopped, so it costs the same
        whatever the table's size."""
        v = secret_versions.c
        bound = func.coalesce(v.context_owner_id, secrets.c.owner_id)  # a transferred secret's contexts
        cols = (v.secret_id, v.version, secrets.c.owner_id, bound, v.wrapped_dek, v.user_key_id)
        query = select(*cols, previous_user_keys.c.user_key, users.c.user_key).select_from(
            _versions_on_previous().join(users, users.c.id == secrets.c.owner_id)
        )
        query = _on_previous_keys(_walk(query, after), user_id).order_by(v.secret_id, v.version).limit(limit)
        with self.db.read() as conn:
            found_rows = [DataKeyRow(*row) for row in conn.execute(query).all()]
        # Opened and wrapped again before the write transaction, which then holds the write lock only
        # for the updates: back-to-back batches leave the writers of requests their turn.
        moves = [(found, *rewrap(found)) for found in found_rows]
        with self.db.write() as conn:
            if not _renew(conn, lease, now + ttl):
                return None
            moved = 0
            for found, new_wrapped, new_kid in moves:
                done = conn.execute(
                    update(secret_versions)
                    .where(
                        v.secret_id == found.secret_id,
                        v.version == found.version,
                        v.user_key_id == found.user_key_id,
                    )
                    .values(wrapped_dek=new_wrapped, user_key_id=new_kid)
                )
                moved += done.rowcount
            return moved, walked_to([(r.secret_id, r.version) for r in found_rows], limit)

    def retire_user_keys(self, user_id: str | None) -> tuple[int, int]:
        """Remove previous user keys (of `user_id`, or all) once no version uses one: (removed, still
        used); nothing is removed while any is used."""
        p = previous_user_keys.c
        with self.db.write() as conn:
            used = int(conn.execute(_count_on_previous(user_id)).scalar_one())
            if used:
                return 0, used
            gone = delete(previous_user_keys)
            if user_id is not None:
                gone = gone.where(p.user_id == user_id)
            return conn.execute(gone).rowcount, 0

    def record(self, action: str, detail: str, *, now: datetime) -> None:
        """An audit record of the operator's step (who: the machine's operator, no API principal)."""
        with self.db.write() as conn:
            AuditRepository(conn).append_failing_closed(
                [
                    AuditEvent(
                        at=now,
                        actor_id=None,
                        actor_name=None,
                        token_id=None,
                        action=action,
                        outcome=Outcome.SUCCESS,
                        detail=detail,
                    )
                ]
            )


# A removed user's key is deleted with them (store/user_removal.py): nothing to re-wrap, nothing in use.
_HAS_KEY = users.c.removed_at.is_(None)


def _renew(conn: Connection, lease: tuple[str, str], expires_at: datetime) -> bool:
    name, holder = lease
    done = conn.execute(
        update(key_rotation_leases)
        .where(key_rotation_leases.c.name == name, key_rotation_leases.c.holder == holder)
        .values(expires_at=expires_at)
    )
    return done.rowcount == 1


@dataclass(frozen=True, slots=True)
class DataKeyRow:
    """One version whose data key a previous user key wraps, with both of its owner's user keys."""

    secret_id: str
    version: int
    owner_id: str  # whose user keys wrap the data key
    context_owner_id: str  # the owner id its contexts bind (the writer's, for a transferred secret)
    wrapped_dek: bytes
    user_key_id: str
    previous_user_key: bytes  # wrapped by the master key
    current_user_key: bytes  # wrapped by the master key


def _versions_on_previous() -> Any:
    p, v = previous_user_keys.c, secret_versions.c
    return secret_versions.join(secrets, secrets.c.id == v.secret_id).join(
        previous_user_keys, and_(p.user_id == secrets.c.owner_id, p.key_id == v.user_key_id)
    )


def _walk(query: Select[Any], after: VersionKey | None) -> Select[Any]:
    """The rows after `after` in primary-key order: a range on the primary key, not a scan from its start."""
    v = secret_versions.c
    return query if after is None else query.where(tuple_(v.secret_id, v.version) > tuple_(*after))


def walked_to(keys: list[VersionKey], limit: int) -> VersionKey | None:
    """Where a walk stands after a batch that read `keys`: None when it read fewer than `limit` (the end)."""
    return keys[-1] if len(keys) == limit else None


def _count_on_previous(user_id: str | None) -> Select[Any]:
    """The versions whose data key a previous user key wraps, counted key by key from previous_user_keys
    (ix_secret_versions_user_key_id): it costs the rows still to move, not the whole table."""
    p, v = previous_user_keys.c, secret_versions.c
    per_key = (
        select(func.count())
        .select_from(secret_versions.join(secrets, secrets.c.id == v.secret_id))
        .where(v.user_key_id == p.key_id, secrets.c.owner_id == p.user_id)
        .scalar_subquery()
    )
    query = select(func.coalesce(func.sum(per_key), 0)).select_from(previous_user_keys)
    return query if user_id is None else query.where(p.user_id == user_id)


def _on_previous_keys(query: Select[Any], user_id: str | None) -> Select[Any]:
    return query if user_id is None else query.where(secrets.c.owner_id == user_id)
