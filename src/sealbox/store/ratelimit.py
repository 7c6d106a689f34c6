"""Failed-authentication counters per bucket and minute, in the database so every replica shares them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from sealbox.store.tables import auth_failures


class FailureCounter:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def counts(self, buckets: Sequence[str], window: int) -> int:
        """The highest count among `buckets` in this window."""
        rows = self.conn.execute(
            select(auth_failures.c.count).where(
                auth_failures.c.window_start == window, auth_failures.c.bucket.in_(list(buckets))
            )
        ).all()
        return max((r[0] for r in rows), default=0)

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
