"""One SQLite writer at a time across the server's worker processes, waited for without polling.

SQLite lets one transaction write at a time. Without this, a worker that finds the write lock taken
sleeps in SQLite's busy handler (1, 2, 5 ... up to 100 ms a try) while the other worker's writers take
the lock again and again: at 16 concurrent writers that put seconds on the tail. Here each worker's
writers queue on a thread lock, and the one at the front of each worker waits on an exclusive `flock`
of a file beside the database: the kernel wakes it when the holder lets go, so the lock passes between
workers as soon as it is free. `BEGIN IMMEDIATE` still takes SQLite's own lock, which is what orders
writers of other programs (the CLI's admin commands); this only keeps the server's own from spinning.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

SUFFIX = ".write-lock"


class WriterLock:
    """A reentrant lock, held by one thread of one process sharing `database` at a time."""

    def __init__(self, database: Path | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        if database is not None:
            try:
                self._fd = os.open(
                    database.with_name(database.name + SUFFIX), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
                )
            except OSError:  # a read-only directory: SQLite's own lock and busy timeout still order writers
                self._fd = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks without the GIL until the holder lets go
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
