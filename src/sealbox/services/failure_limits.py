"""Failed attempts per minute, per client address or identity, shared by every replica (the database).

Callers check what was presented first and count only failures: a valid credential is never refused by a
count (a flood from a shared address locks nobody out), and past the limit a failure is answered 429 at
once, without more work and without a record of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sealbox.errors import RateLimited
from sealbox.services.ports import FailureCounts, Store

WINDOW_SECONDS = 60


def count_failure(
    db: Store, buckets: Sequence[str], *, now: datetime, limit: int, counts: FailureCounts
) -> None:
    """Count one failure in each bucket; RateLimited (nothing counted) when one is full already.
    `counts`: the failure counts of a read the caller holds (its unit of work's), to look in."""
    window = int(now.timestamp()) // WINDOW_SECONDS
    seen = counts.counts(buckets, window)
    if seen >= limit:
        raise RateLimited(retry_after=WINDOW_SECONDS - int(now.timestamp()) % WINDOW_SECONDS) from None
    with db.writing() as uow:
        uow.failures.add(buckets, window)
