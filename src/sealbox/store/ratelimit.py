"""Counters per bucket and minute, in the database so every replica shares them.

Two kinds share the table `auth_failures`: failed authentications (buckets `ip:…` and `id:…`, worthless
after a minute and pruned), and denied requests not yet summed up on the audit record (buckets
`deny:…`, kept until `DenialCounter.claim` takes them).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from sealbox.store.raw import RawReader, Statement
from sealbox.store.tables import auth_failures

DENIAL_PREFIX = "deny:"

# Checked on every failed authentication: hand-written SQL (store/raw.py), one statement per bucket count.
_COUNTS: dict[int, Statement] = {}


def _counts_statement(n: int) -> Statement:
    stmt = _COUNTS.get(n)
    if stmt is None:
        marks = ", ".join("?" * n)
        stmt = _COUNTS[n] = Statement.of(
            f'SELECT max("count") FROM auth_failures WHERE window_start = ? AND bucket IN ({marks})'  # noqa: S608 -- placeholders only  # nosec B608
        )
    return stmt


def _bump(conn: Connection, bucket: str, window: int) -> int:
    """Add one to a bucket's count in a window; the count after (1: the first in that window)."""
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = make(auth_failures).values(bucket=bucket, window_start=window, count=1)
    return int(
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[auth_failures.c.bucket, auth_failures.c.window_start],
                set_={"count": auth_failures.c.count + 1},
            ).returning(auth_failures.c.count)
        ).scalar_one()
    )


class FailureCounter:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def counts(self, buckets: Sequence[str], window: int) -> int:
        """The highest count among `buckets` in this window."""
        row = RawReader(self.conn).one(_counts_statement(len(buckets)), (window, *buckets))
        return int(row[0]) if row and row[0] is not None else 0

    def add(self, buckets: Sequence[str], window: int) -> None:
        for bucket in buckets:
            _bump(self.conn, bucket, window)
        # Old windows are worthless: keep the table small (denial counts wait for their summary).
        self.conn.execute(
            delete(auth_failures).where(
                auth_failures.c.window_start < window - 1,
                ~auth_failures.c.bucket.startswith(DENIAL_PREFIX, autoescape=True),
            )
        )


class DenialCounter:
    """Denied requests per key and minute, until they are summed up on the audit record."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def bump(self, key: str, window: int) -> int:
        """Count one denial; returns the count in this window so far (1: the first)."""
        return _bump(self.conn, DENIAL_PREFIX + key, window)

    def claim(self, *, before: int | None) -> list[tuple[str, int, int]]:
        """Take (key, window, count) of every window before `before` (None: all) out of the table.

        Deleting is claiming: of two replicas that claim at once, each row goes to exactly one."""
        query = delete(auth_failures).where(auth_failures.c.bucket.startswith(DENIAL_PREFIX, autoescape=True))
        if before is not None:
            query = query.where(auth_failures.c.window_start < before)
        rows = self.conn.execute(
            query.returning(auth_failures.c.bucket, auth_failures.c.window_start, auth_failures.c.count)
        ).all()
        claimed = [(str(b)[len(DENIAL_PREFIX) :], int(w), int(c)) for b, w, c in rows]
        return sorted(claimed, key=lambda item: (item[1], item[0]))
