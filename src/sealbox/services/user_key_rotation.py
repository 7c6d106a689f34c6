"""Online rotation of user keys: each user gets a new key at once, then every data key moves to it.

1. Swap: in batches under the "user-keys" lease, each user's key is replaced in the users row by a new
   one (compare-and-set on the wrapped key read) and the old one is kept in previous_user_keys. Writes
   read the user's key in their own transaction, so every write that starts after a user's swap wraps
   its data key under the new key, in every server process, with no reload. A round remembers when it
   began: a runner that resumes it swaps only the users not swapped since.
2. Re-wrap: each data key still under a previous user key is opened and wrapped again under its
   owner's current key (compare-and-set on the old user key id), in bounded batches that walk the
   versions in key order, until a count at the end of a walk finds none left: a write that read the
   old key before its swap and committed behind the walk is found by that count (another walk).
   Launches open a data key with whichever of the owner's keys it names.
3. `--retire` removes previous keys once no version names them (refused, one line, while any does).

Only data keys and user keys are opened here, never a value: the value's outer layer is the keeper's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sealbox.crypto.keyring import Keyring, load_keyring
from sealbox.crypto.wrapping import new_user_key, rewrap_data_key, unwrap_user_key, wrap_user_key
from sealbox.errors import Conflict, NotFound
from sealbox.services.rotation import BATCH_ROWS, LEASE_TTL, RotationRows, lease_lost, leased

USER_LEASE = "user-keys"


class DataKeyRow(Protocol):
    """One version whose data key a previous user key wraps, with both of its owner's keys (wrapped)."""

    @property
    def secret_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def owner_id(self) -> str: ...
    @property
    def context_owner_id(self) -> str: ...
    @property
    def wrapped_dek(self) -> bytes: ...
    @property
    def previous_user_key(self) -> bytes: ...
    @property
    def current_user_key(self) -> bytes: ...


class UserKeyRows(RotationRows, Protocol):
    def user_id_of(self, name: str) -> str | None: ...

    def round_started(self, name: str) -> datetime: ...

    def swap_user_keys(
        self,
        *,
        lease: tuple[str, str],
        now: datetime,
        ttl: timedelta,
        since: datetime,
        user_id: str | None,
        limit: int,
        swap: Callable[[str, bytes], tuple[str, bytes, str]],
    ) -> int | None:
        """New keys for up to `limit` users not swapped since `since`; how many, None: lease lost."""
        ...

    def data_keys_left(self, user_id: str | None) -> int: ...

    def rewrap_data_keys(
        self,
        *,
        lease: tuple[str, str],
        now: datetime,
        ttl: timedelta,
        user_id: str | None,
        after: tuple[str, int] | None,
        limit: int,
        rewrap: Callable[[DataKeyRow], tuple[bytes, str]],
    ) -> tuple[int, tuple[str, int] | None] | None:
        """Move up to `limit` data keys after `after` (in key order) to their owner's current key: (how
        many, where the walk stands; None at its end), None: lease lost."""
        ...

    def retire_user_keys(self, user_id: str | None) -> tuple[int, int]:
        """(previous keys removed, versions still on one): nothing is removed while any is used."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class UserKeysDone:
    swapped: int  # users given a new key by this run
    moved: int  # data keys re-wrapped by this run


def _user_id(rows: UserKeyRows, user: str | None) -> str | None:
    if user is None:
        return None
    found = rows.user_id_of(user)
    if found is None:
        raise NotFound(f"no user named {user!r}", code="user_not_found")
    return found


def rotate_user_keys(
    rows: UserKeyRows,
    master_key_path: Path,
    *,
    user: str | None,
    progress: Callable[[int], None],
    limit: int = BATCH_ROWS,
) -> UserKeysDone:
    """Give every user (or `user`) a new key, then re-wrap their data keys; resume an unfinished round."""
    user_id = _user_id(rows, user)
    with leased(rows, USER_LEASE) as holder:
        lease = (USER_LEASE, holder)
        since = rows.round_started(USER_LEASE)
        swapped = 0
        while True:
            ring = load_keyring(master_key_path)  # a master key rotated meanwhile is used at once
            n = rows.swap_user_keys(
                lease=lease,
                now=datetime.now(UTC),
                ttl=LEASE_TTL,
                since=since,
                user_id=user_id,
                limit=limit,
                swap=_swapper(ring),
            )
            if n is None:
                raise lease_lost()
            if n == 0:
                break
            swapped += n
        moved = _rewrap_data_keys(rows, master_key_path, lease, user_id, progress=progress, limit=limit)
        rows.mark_done(USER_LEASE, now=datetime.now(UTC))
    rows.record(
        "key.rotate",
        f"user keys: {swapped} new" + (f" (user {user})" if user else "") + f", {moved} data keys re-wrapped",
        now=datetime.now(UTC),
    )
    return UserKeysDone(swapped=swapped, moved=moved)


def _swapper(ring: Keyring) -> Callable[[str, bytes], tuple[str, bytes, str]]:
    def swap(user_id: str, wrapped: bytes) -> tuple[str, bytes, str]:
        old = unwrap_user_key(ring, wrapped, user_id=user_id)
        fresh = wrap_user_key(ring, new_user_key(), user_id=user_id)
        return old.kid.hex(), fresh, ring.current_id.hex()

    return swap


def _rewrap_data_keys(
    rows: UserKeyRows,
    master_key_path: Path,
    lease: tuple[str, str],
    user_id: str | None,
    *,
    progress: Callable[[int], None],
    limit: int,
) -> int:
    moved = 0
    left = rows.data_keys_left(user_id)
    progress(left)
    after: tuple[str, int] | None = None
    while left:
        rewrap = _data_key_rewrapper(load_keyring(master_key_path))
        done = rows.rewrap_data_keys(
            lease=lease,
            now=datetime.now(UTC),
            ttl=LEASE_TTL,
            user_id=user_id,
            after=after,
            limit=limit,
            rewrap=rewrap,
        )
        if done is None:
            raise lease_lost()
        n, after = done
        moved += n
        # Counted again only where a walk ends (a write under a previous key behind it starts another).
        left = rows.data_keys_left(user_id) if after is None else max(left - n, 1)
        progress(left)
    return moved


def _data_key_rewrapper(ring: Keyring) -> Callable[[DataKeyRow], tuple[bytes, str]]:
    def rewrap(row: DataKeyRow) -> tuple[bytes, str]:
        old = unwrap_user_key(ring, row.previous_user_key, user_id=row.owner_id)
        current = unwrap_user_key(ring, row.current_user_key, user_id=row.owner_id)
        rewrapped = rewrap_data_key(
            old,
            current,
            row.wrapped_dek,
            secret_id=row.secret_id,
            version=row.version,
            owner_id=row.context_owner_id,
        )
        return rewrapped, current.kid.hex()

    return rewrap


def retire_user_keys(rows: UserKeyRows, *, user: str | None) -> int:
    """Remove the previous user keys (of `user`, or everyone's); Conflict while a data key uses one."""
    user_id = _user_id(rows, user)
    with leased(rows, USER_LEASE):
        removed, used = rows.retire_user_keys(user_id)
        if used:
            raise Conflict(
                f"{used} data key(s) still use a previous user key; run `sealbox admin rotate user-keys` "
                "to finish the re-wrap, then retire",
                code="rotation_unfinished",
            )
        if removed:
            rows.record("key.retire", f"previous user keys retired: {removed}", now=datetime.now(UTC))
    return removed
