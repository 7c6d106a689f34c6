"""Online rotation of the master key: a new key is current at once, then a re-wrap moves every row.

How a running server and its workers never write under the old key after the re-wrap passed:

1. The command swaps the master key file for one whose current key is new (an atomic rename), the
   old keys kept for reading. Every server process re-reads that file when it changes
   (`services.keys.MasterKeyFile`: one stat per use of the master key), so each wrap after the swap
   uses the new key, in every worker, without a restart or a signal.
2. It waits `settle` seconds for requests that read the old file to commit, then re-wraps in
   bounded batches (`limit` rows a transaction) under a lease row in the database (renewed by each
   batch, compare-and-set on its holder): two runners never move the same batch.
3. Each row moves by compare-and-set on the key id it was read with, so a batch is idempotent and a
   runner killed at any moment is resumed by running the command again: it finds rows left on old
   ids, takes the (expired, or dead runner's) lease and goes on, without making another key.
4. It loops until a count finds zero rows on old ids: a row a slow request wrapped under the old key
   after a batch passed is found by the next count. Retiring (`retire_master_keys`) counts again
   before and after it removes the old keys from the file, and puts them back if a row appeared.

The re-wrap opens only user keys (inside this process, like the server does), never a data key or
a value; the audit chain keys that retired master keys leave stay in the file (`Keyring.chain_only`).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import Keyring, load_keyring, replace_keyring
from sealbox.crypto.wrapping import unwrap_user_key, wrap_user_key
from sealbox.errors import Conflict

MASTER_LEASE = "master-key"
LEASE_TTL = timedelta(seconds=60)
BATCH_ROWS = 200
SETTLE_SECONDS = 2.0

Rewrap = Callable[[str, bytes], tuple[bytes, str]]


class RotationRows(Protocol):
    def take_lease(
        self, name: str, holder: str, *, now: datetime, ttl: timedelta, may_take: Callable[[str], bool]
    ) -> str | None:
        """Hold the lease `name`; None when held now, else who holds it."""
        ...

    def release(self, name: str, holder: str, *, finished: bool, now: datetime) -> None:
        """End the round (`finished`), or let the lease go so that the next runner resumes it."""
        ...

    def master_key_ids_in_use(self) -> dict[str, int]:
        """Rows (user keys) by the master key id that wraps them."""
        ...

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
        """Move up to `limit` rows off other ids; how many moved, None when the lease was lost."""
        ...

    def record(self, action: str, detail: str, *, now: datetime) -> None:
        """Append an audit record of the step."""
        ...

    def mark_done(self, kind: str, *, now: datetime) -> None:
        """Note that a rotation of `kind` completed at `now` (what /metrics reports)."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class RotationDone:
    new_key: bool  # False: an unfinished re-wrap was resumed
    current_id: str
    moved: int


def new_holder() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_dead(holder: str) -> bool:
    """A lease held by a process of this host that is gone (killed) may be taken at once."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:80] or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def leased(rows: RotationRows, name: str) -> Iterator[str]:
    """Hold the lease `name` (Conflict, one line, when another runner does) for one round; the round
    ends when the body returns, and is left to be resumed when it raises."""
    holder = new_holder()
    _take(rows, name, holder)
    try:
        yield holder
    except BaseException:
        rows.release(name, holder, finished=False, now=datetime.now(UTC))
        raise
    rows.release(name, holder, finished=True, now=datetime.now(UTC))


def _take(rows: RotationRows, name: str, holder: str) -> None:
    other = rows.take_lease(name, holder, now=datetime.now(UTC), ttl=LEASE_TTL, may_take=holder_is_dead)
    if other is not None:
        raise Conflict(
            f"another rotation holds the lease ({other}); "
            f"it expires within {int(LEASE_TTL.total_seconds())} s",
            code="rotation_running",
        )


def rows_left(in_use: dict[str, int], current_id: str) -> int:
    return sum(n for kid, n in in_use.items() if kid != current_id)


def rotate_master_key(
    rows: RotationRows,
    key_path: Path,
    *,
    progress: Callable[[int], None],
    limit: int = BATCH_ROWS,
    settle: float = SETTLE_SECONDS,
) -> RotationDone:
    """Make a new master key current and re-wrap every user key under it; resume an unfinished one."""
    with leased(rows, MASTER_LEASE) as holder:
        ring = load_keyring(key_path)
        new_key = rows_left(rows.master_key_ids_in_use(), ring.current_id.hex()) == 0
        if new_key:
            ring = ring.rotated()
            replace_keyring(key_path, ring)
            rows.record("key.rotate", f"master key {ring.current_id.hex()} is current", now=datetime.now(UTC))
            time.sleep(settle)
        moved = _rewrap_all(rows, ring, holder, progress=progress, limit=limit)
        rows.mark_done(MASTER_LEASE, now=datetime.now(UTC))
    return RotationDone(new_key=new_key, current_id=ring.current_id.hex(), moved=moved)


def _rewrap_all(
    rows: RotationRows, ring: Keyring, holder: str, *, progress: Callable[[int], None], limit: int
) -> int:
    current = ring.current_id.hex()

    def rewrap(user_id: str, wrapped: bytes) -> tuple[bytes, str]:
        user_key = unwrap_user_key(ring, wrapped, user_id=user_id)
        return wrap_user_key(ring, user_key, user_id=user_id), current

    moved = 0
    left = rows_left(rows.master_key_ids_in_use(), current)
    progress(left)
    while left:
        n = rows.rewrap_user_keys(
            lease=(MASTER_LEASE, holder),
            now=datetime.now(UTC),
            ttl=LEASE_TTL,
            current_id=current,
            limit=limit,
            rewrap=rewrap,
        )
        if n is None:
            raise lease_lost()
        moved += n
        left = rows_left(rows.master_key_ids_in_use(), current)
        progress(left)
    return moved


def lease_lost() -> Conflict:
    """Another runner took the rotation's lease (this one stalled past its TTL): it goes on there."""
    return Conflict("the rotation lost its lease to another runner; it goes on there")


@dataclass(frozen=True, kw_only=True, slots=True)
class RetireDone:
    retired: tuple[str, ...]


def retire_master_keys(rows: RotationRows, key_path: Path) -> RetireDone:
    """Remove every master key but the current one from the file, once no row uses them.

    Refused (Conflict) while rows are left on an old id. Each retired key leaves its audit-chain key.
    """
    with leased(rows, MASTER_LEASE):
        ring = load_keyring(key_path)
        old = {kid for kid, _ in ring.keys[1:]}
        if not old:
            return RetireDone(retired=())
        _refuse_if_used(rows, ring)
        chain = {kid: ChainKeys.of_master_key(key, kid) for kid, key in ring.keys[1:]}
        replace_keyring(key_path, ring.without(old, chain))
        try:
            _refuse_if_used(rows, ring)  # a slow request wrapped under an old key meanwhile
        except Conflict:
            replace_keyring(key_path, ring)
            raise
        retired = tuple(sorted(kid.hex() for kid in old))
        rows.record("key.retire", "master keys retired: " + ", ".join(retired), now=datetime.now(UTC))
    return RetireDone(retired=retired)


def _refuse_if_used(rows: RotationRows, ring: Keyring) -> None:
    left = rows_left(rows.master_key_ids_in_use(), ring.current_id.hex())
    if left:
        raise Conflict(
            f"{left} user key(s) still use an old master key; run `sealbox admin rotate master-key` "
            "to finish the re-wrap, then retire",
            code="rotation_unfinished",
        )
