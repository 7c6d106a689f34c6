"""The database handle services use: short read and write transactions on one engine.

Every failure of the database itself leaves `read()` and `write()` as one `Unavailable` (503) with a
stable code (`store/faults.py`: `storage_full`, `database_unavailable`); its text, which may hold SQL,
goes nowhere. The outcome of each write is kept, and with a probe write makes `write_health()`, so
that /healthz can say whether writes work while reads do.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from sealbox.errors import ConstraintViolation, Unavailable
from sealbox.store.audit_anchor import flush_checkpoints
from sealbox.store.engine import WRITE, known_revisions, make_engine, migrate, schema_revision, sqlite_file
from sealbox.store.faults import (
    DATABASE_UNAVAILABLE,
    STORAGE_FULL,
    fault_code,
    file_id,
    free_bytes,
    unavailable,
)
from sealbox.store.unit_of_work import UnitOfWork
from sealbox.store.writer_lock import WriterLock

log = logging.getLogger("sealbox.database")
_HELD_IDLE_S = 10.0  # a held read connection unused this long goes back through the pool
WRITE_EVIDENCE_S = 15.0  # a failed write speaks for the write path this long (unless a later one worked)
PROBE_EVERY_S = 5.0  # write_health() commits a probe at most this often
MIN_FREE_BYTES = 1 << 20  # SQLite: less than this left on the file system counts as full for write_health()


@dataclass(frozen=True, slots=True)
class WriteState:
    """An outcome: "ok" or a fault code, and when (time.monotonic())."""

    state: str
    at: float


class Database:
    """Owns the engine; `read()` and `write()` hand out connections inside one transaction."""

    def __init__(self, engine: Engine, *, sqlite_file: Path | None = None) -> None:
        self.engine = engine
        # SQLite has one writer at a time; waiting on a lock here (across the workers too) is fairer and
        # faster than SQLite's busy-timeout backoff (which puts seconds on the tail under 16 writers).
        self._write_lock = WriterLock(sqlite_file) if engine.dialect.name == "sqlite" else None
        # One connection stays checked out for reads: whoever finds it free (nearly always the event
        # loop's thread, where the hot reads run) skips the pool's checkout and return. Anyone else,
        # and nested reads, take a pooled connection as before.
        self._held: Connection | None = None
        self._held_free = threading.Lock()
        self._held_used = 0.0
        # The SQLite file as it was when opened: a write first checks the path still names that file,
        # so nothing is acknowledged into a file that was removed or replaced under the server.
        self._file = sqlite_file
        self._file_id = file_id(sqlite_file) if sqlite_file is not None else None
        self._file_lost = False
        self._last_write: WriteState | None = None
        self._last_probe: WriteState | None = None

    @classmethod
    def open(cls, url: str, *, run_migrations: bool = True) -> Database:
        """Raises Unavailable (503 codes) when the database cannot be reached or migrated for a fault."""
        engine = make_engine(url)
        if run_migrations:
            try:
                migrate(engine)
            except Exception as exc:
                engine.dispose()
                _raise_fault(exc)
                raise
        return cls(engine, sqlite_file=sqlite_file(url))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self, *, autocommit: bool = False) -> Iterator[Connection]:
        """A read transaction. `autocommit` (PostgreSQL): each statement runs on its own, without BEGIN
        and COMMIT (two round trips fewer). Under READ COMMITTED, PostgreSQL's level and sealbox's, each
        statement of a transaction sees its own snapshot anyway, so a read sees the same either way;
        only a block that writes nothing may ask for it (a write would commit at once). SQLite ignores
        it: a transaction there is in-process, and is what gives its statements one snapshot."""
        with self._connection() as conn, _autocommit(conn, autocommit and not self.is_sqlite), conn.begin():
            yield conn

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A connection for ONE read statement run on its driver (store/raw.py), outside a transaction:
        a statement alone sees one snapshot on both databases, and needs no BEGIN or COMMIT (on
        PostgreSQL two round trips, on SQLite two calls and SQLAlchemy's transaction around them)."""
        with self._connection() as conn, _autocommit(conn, not self.is_sqlite):
            yield conn

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if not self._held_free.acquire(blocking=False):
            try:
                with self.engine.connect() as conn:
                    yield conn
            except Exception as exc:
                _raise_fault(exc)
                raise
            return
        try:
            held = self._held
            now = time.monotonic()
            if held is None or held.invalidated or held.closed or now - self._held_used > _HELD_IDLE_S:
                # After a quiet spell, hand it back and check one out again: the pool's pre-ping
                # (PostgreSQL) then finds a connection the database dropped meanwhile.
                if held is not None:
                    self._drop_held()
                held = self._held = self.engine.connect()
            self._held_used = now
            yield held
        except Exception as exc:
            if fault_code(exc) is not None:
                self._drop_held(invalidate=True)
            _raise_fault(exc)
            raise
        finally:
            self._held_free.release()

    @contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        """A read transaction as a unit of work (see `read`)."""
        with self.read() as conn:
            yield UnitOfWork(conn)

    @contextmanager
    def writing(self) -> Iterator[UnitOfWork]:
        """A write transaction as a unit of work (see `write`)."""
        with self.write() as conn:
            yield UnitOfWork(conn)

    def _drop_held(self, *, invalidate: bool = False) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close: it is gone anyway
                if invalidate:
                    held.invalidate()
                held.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._write(note=True) as conn:
            yield conn

    @contextmanager
    def _write(self, *, note: bool) -> Iterator[Connection]:
        lock = self._write_lock.held() if self._write_lock is not None else contextlib.nullcontext()
        try:
            with lock:
                self._check_file()
                with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                    yield conn
        except Exception as exc:
            code = fault_code(exc)
            if code is not None and note:
                self._note_write(code, exc)
            _raise_fault(exc)
            if isinstance(exc, IntegrityError):  # its text holds SQL and parameters: none of it goes on
                raise ConstraintViolation() from None
            raise
        if note:
            self._note_write("ok")

    def _check_file(self) -> None:
        if self._file is None:
            return
        lost = file_id(self._file) != self._file_id
        if lost != self._file_lost:
            self._file_lost = lost
            if lost:
                log.error(
                    "the database file %s was removed or replaced under the server: writes are refused "
                    "until that file is back (restart the server to use another one)",
                    self._file,
                )
        if lost:
            raise unavailable(DATABASE_UNAVAILABLE)

    def _note_write(self, state: str, exc: BaseException | None = None) -> None:
        previous, self._last_write = self._last_write, WriteState(state, time.monotonic())
        if previous is None or previous.state != state:
            # Once per change, not per request: an outage must not flood the log. The type only: the
            # exception's text may hold SQL and its parameters.
            if state != "ok":
                log.error("database writes fail: %s (%s)", state, type(exc).__name__ if exc else "-")
            elif previous is not None:
                log.warning("database writes work again")

    def write_health(self) -> str:
        """Whether writes work: "ok", or the code they fail with.

        A write that failed less than `WRITE_EVIDENCE_S` ago, with none working since, says so;
        otherwise a probe write (at most one per `PROBE_EVERY_S`) decides. The probe is needed also
        after writes that worked: other processes (workers) may have seen the disk fill up since.
        """
        now = time.monotonic()
        last = self._last_write
        if last is not None and last.state != "ok" and now - last.at <= WRITE_EVIDENCE_S:
            return last.state
        probe = self._last_probe
        if probe is None or now - probe.at > PROBE_EVERY_S:
            probe = self._last_probe = WriteState(self.probe_write(), now)
        return probe.state

    def probe_write(self) -> str:
        """Commit a write that changes nothing and leaves nothing behind; "ok" or the fault code.

        SQLite: the header's `user_version` (which sealbox does not use) set to its own value; SQLite
        writes the page all the same, through the WAL, synced. (A row updated to its own value is not
        written at all.) One page may still fit where a real write's several do not, so with less
        than `MIN_FREE_BYTES` left on the file system the answer is `storage_full` without a write.
        PostgreSQL: a row in a temporary table dropped at commit; PostgreSQL extends the table's file
        there and then, in the database's tablespace, so a full disk shows as it would to an insert
        (a row rewritten in place would fit in its page and pass). Without the TEMP privilege, a row
        rewritten in place instead: that still shows a lost connection.
        """
        if self._file is not None:
            if free_bytes(self._file) < MIN_FREE_BYTES:
                return STORAGE_FULL
            return self._probe(_probe_sqlite)
        if self.is_sqlite:
            return self._probe(_probe_sqlite)
        try:
            return self._probe(_probe_postgresql)
        except DBAPIError:
            return self._probe(_probe_in_place)

    def _probe(self, run: Callable[[Connection], None]) -> str:
        try:
            with self._write(note=False) as conn:
                run(conn)
        except Unavailable as exc:
            return exc.code
        return "ok"

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def schema_state(self) -> str:
        """`ok` at this sealbox's newest revision, `behind` (an older one, or none: not migrated) or
        `ahead` (one a newer sealbox wrote); raises Unavailable when the database cannot be read."""
        with self.read() as conn:
            revision = schema_revision(conn)
        head, known = known_revisions()
        if revision == head:
            return "ok"
        return "behind" if revision is None or revision in known else "ahead"

    def dispose(self) -> None:
        # The checkpoint writer looks records up on this engine: let it finish first, so that no
        # connection is opened again after the pool is emptied.
        flush_checkpoints(self.engine, timeout=5.0)
        with self._held_free:
            self._drop_held()
        self.engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()


@contextmanager
def _autocommit(conn: Connection, autocommit: bool) -> Iterator[None]:
    """The driver in autocommit for the block (psycopg: statements without BEGIN and COMMIT)."""
    if not autocommit:
        yield
        return
    driver: Any = conn.connection.driver_connection
    driver.autocommit = True
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a broken connection is dropped and invalidated anyway
            driver.autocommit = False


def _raise_fault(exc: BaseException) -> None:
    """Raise the 503 for a database failure (never its text); return for anything else."""
    code = fault_code(exc)
    if code is not None and not isinstance(exc, Unavailable):
        raise unavailable(code) from None


def _probe_sqlite(conn: Connection) -> None:
    version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
    conn.exec_driver_sql(f"PRAGMA user_version = {version}")


def _probe_postgresql(conn: Connection) -> None:
    conn.execute(text("CREATE TEMP TABLE sealbox_write_probe (b text) ON COMMIT DROP"))
    conn.execute(text("INSERT INTO sealbox_write_probe VALUES ('x')"))


def _probe_in_place(conn: Connection) -> None:
    conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
