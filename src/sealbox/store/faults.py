"""What a database failure is, as the API says it: `storage_full` or `database_unavailable` (503).

`storage_full` when the disk under the database is full (SQLite's SQLITE_FULL, PostgreSQL's SQLSTATE
53100); `database_unavailable` for every other failure that is the database's and not the request's:
a lost or invalidated connection (also mid-transaction and at commit, and the `PendingRollbackError`
that follows one), a pool timeout, a read-only server, a locked, removed or unreadable SQLite file.
Errors that are a bug or bad input (a unique constraint, a value the column refuses) are not faults.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sealbox.errors import Unavailable

DATABASE_UNAVAILABLE = "database_unavailable"
STORAGE_FULL = "storage_full"
DATABASE_CODES = frozenset({DATABASE_UNAVAILABLE, STORAGE_FULL})
_DRIVERS = frozenset({"sqlite3", "psycopg"})  # modules whose exceptions may reach us unwrapped
_PG_DISK_FULL = "53100"
_PG_READ_ONLY = "25006"  # a hot standby, or a database set read-only
# SQLite result codes (the low byte of an extended code) that mean the file, not the request, failed.
_SQLITE_FILE_FAULTS = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_NOTADB,
    }
)


def unavailable(code: str) -> Unavailable:
    """The 503 for a fault code."""
    if code == STORAGE_FULL:
        return Unavailable("the database's storage is full; the change was not saved", code=STORAGE_FULL)
    return Unavailable("the database is unavailable", code=DATABASE_UNAVAILABLE)


def fault_code(exc: BaseException) -> str | None:
    """`storage_full` or `database_unavailable` when `exc` is a failure of the database; else None."""
    if isinstance(exc, Unavailable):
        return exc.code if exc.code in DATABASE_CODES else None
    # The pool ran dry, or a connection was invalidated inside a transaction that then had to roll back.
    if isinstance(exc, PoolTimeout | PendingRollbackError):
        return DATABASE_UNAVAILABLE
    orig: object
    if isinstance(exc, DBAPIError):
        orig, invalidated = exc.orig, exc.connection_invalidated
    elif type(exc).__module__.partition(".")[0] in _DRIVERS:
        orig, invalidated = exc, False  # raised by the driver itself (the BEGIN the engine's event issues)
    else:
        return None
    sqlstate = getattr(orig, "sqlstate", None)
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    sqlite_code = sqlite_code & 0xFF if isinstance(sqlite_code, int) else None
    if sqlstate == _PG_DISK_FULL or sqlite_code == sqlite3.SQLITE_FULL:
        return STORAGE_FULL
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if (
        invalidated
        or kinds & {"OperationalError", "InterfaceError"}
        or sqlstate == _PG_READ_ONLY
        or sqlite_code in _SQLITE_FILE_FAULTS
    ):
        return DATABASE_UNAVAILABLE
    return None


def file_id(path: Path) -> tuple[int, int] | None:
    """Which file `path` names now (device, inode); None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def free_bytes(path: Path) -> int:
    """Bytes a write beside `path` may still use (root may use the blocks kept for it)."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return 0
    return (stats.f_bfree if os.geteuid() == 0 else stats.f_bavail) * stats.f_frsize
