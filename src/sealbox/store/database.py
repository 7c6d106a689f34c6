"""The database handle services use: short read and write transactions on one engine."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sealbox.errors import Unavailable
from sealbox.store.engine import WRITE, make_engine, migrate

_HELD_IDLE_S = 10.0  # a held read connection unused this long goes back through the pool


class Database:
    """Owns the engine; `read()` and `write()` hand out connections inside one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time; waiting on a lock here is fairer and faster than SQLite's
        # busy-timeout backoff (which puts seconds on the tail under 16 concurrent writers).
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        # One connection stays checked out for reads: whoever finds it free (nearly always the event
        # loop's thread, where the hot reads run) skips the pool's checkout and return. Anyone else,
        # and nested reads, take a pooled connection as before.
        self._held: Connection | None = None
        self._held_free = threading.Lock()
        self._held_used = 0.0

    @classmethod
    def open(cls, url: str, *, run_migrations: bool = True) -> Database:
        engine = make_engine(url)
        if run_migrations:
            migrate(engine)
        return cls(engine)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        if not self._held_free.acquire(blocking=False):
            try:
                with self.engine.connect() as conn, conn.begin():
                    yield conn
            except (OperationalError, PoolTimeout):
                raise Unavailable("the database is unavailable", code="database_unavailable") from None
            return
        try:
            held = self._held
            now = time.monotonic()
            if held is None or held.invalidated or held.closed or now - self._held_used > _HELD_IDLE_S:
                # After a quiet spell, hand it back and check one out again: the pool's pre-ping
                # (PostgreSQL) then finds a connection the database dropped meanwhile.
                if held is not None:
                    held.close()
                held = self._held = self.engine.connect()
            self._held_used = now
            with held.begin():
                yield held
        except (OperationalError, PoolTimeout):
            self._drop_held(invalidate=True)
            raise Unavailable("the database is unavailable", code="database_unavailable") from None
        finally:
            self._held_free.release()

    def _drop_held(self, *, invalidate: bool = False) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close: it is gone anyway
                if invalidate:
                    held.invalidate()
                held.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        lock = self._write_lock or contextlib.nullcontext()
        try:
            with lock, self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                yield conn
        except (OperationalError, PoolTimeout):
            raise Unavailable("the database is unavailable", code="database_unavailable") from None

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        with self._held_free:
            self._drop_held()
        self.engine.dispose()
