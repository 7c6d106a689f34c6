"""Failed-authentication counters per bucket and minute, in the database so every replica shares them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from sealbox.store.raw import RawReader, Statement
from sealbox.store.tables import auth_failures

# Checked on every authenticated request: hand-written SQL (store/raw.py), one statement per bucket count.
_COUNTS: dict[int, Statement] = {}


def _counts_statement(n: int) -> Statement:
    stmt = _COUNTS.get(n)
    if stmt is None:
        marks = ", ".join("?" * n)
        stmt = _COUNTS[n] = Statement.of(
            f'SELECT max("count") FROM auth_failures WHERE window_start = ? AND bucket IN ({marks})'  # noqa: S608 -- placeholders only  # nosec B608
        )
    return stmt


class FailureCounter:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def counts(self, buckets: Sequence[str], window: int) -> int:
        """The highest count among `buckets` in this window."""
        row = RawReader(self.conn).one(_counts_statement(len(buckets)), (window, *buckets))
        return int(row[0]) if row and row[0] is not None else 0

    def add(self, buckets: Sequence[str], window: int) -> None:
        make = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        for bucket in buckets:
            stmt = make(auth_failures).values(bucket=bucket, window_start=window, count=1)
            self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[auth_failures.c.bucket, auth_failures.c.window_start],
                    set_={"count": auth_failures.c.count + 1},
                )
            )
        # Old windows are worthless: keep the table small.
        self.conn.execute(delete(auth_failures).where(auth_failures.c.window_start < window - 1))
