"""The database half of `sealbox admin backup` and `restore`: an online SQLite copy and the audit checkpoint.

SQLite is copied with its backup API in one step: the copy is the database as one read transaction saw
it, while the server goes on writing (WAL: a reader blocks no writer). The audit checkpoint (audit.head)
is read before the copy, so the copy holds every record it names (a checkpoint only ever names committed
records), then moved forward to the copy's newest record: `sealbox audit verify` on a restore covers the
whole chain the copy has, and a backup cut short at its end fails it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import Keyring, write_private_file
from sealbox.errors import SERVER_PART as SERVER
from sealbox.errors import BackupRefused, ConfigError
from sealbox.store.audit_anchor import (
    CHECKPOINT_NAME,
    CheckpointFile,
    anchor_gap,
    read_checkpoint,
    records_in,
)
from sealbox.store.audit_chain import verify_chain
from sealbox.store.database import Database
from sealbox.store.tables import audit_events


def copy_sqlite(source: Path, dest: Path) -> None:
    """Copy the SQLite database `source` (live or not) to the new file `dest` (0600), consistently.

    The copy is left in rollback-journal mode, one self-contained file; the server puts it back in WAL
    mode when it opens it.
    """
    if not source.is_file():
        raise ConfigError(f"no SQLite database at {source}")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.close(fd)
    src = sqlite3.connect(f"file:{quote(str(source.absolute()))}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)  # pages=-1: all of it under one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")
            if dst.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise ConfigError(f"the copy of {source} does not pass SQLite's quick_check")
        finally:
            dst.close()
    finally:
        src.close()
    fd = os.open(dest, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sqlite_copy_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{path}"


def carry_checkpoint(db: Database, master: Keyring, *, text: str | None, dest_dir: Path) -> int | None:
    """Put the checkpoint `text` (read before `db` was copied; None: there was none) into `dest_dir`, moved
    forward to `db`'s newest audit record. Returns the record it names (None: the chain is empty).

    Raises BackupRefused (the server part) when `db` does not hold what the checkpoint named.
    """
    keys = ChainKeys.derive(master)
    path = dest_dir / CHECKPOINT_NAME
    if text is not None:
        write_private_file(path, text)
    with db.read() as conn:
        gap = anchor_gap(conn, path, keys)
        newest = conn.execute(
            select(audit_events.c.id, audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)
        ).first()
    if gap is not None:
        raise BackupRefused(
            SERVER, f"the database copy lacks what the audit checkpoint names: {gap.describe()}"
        )
    if newest is not None:
        CheckpointFile(path, keys, records_in(db.engine)).advance(int(newest[0]), str(newest[1]))
    (dest_dir / f".{CHECKPOINT_NAME}.lock").unlink(missing_ok=True)
    point = read_checkpoint(path, keys)
    if newest is not None and (point is None or point.record_id != int(newest[0])):
        raise BackupRefused(SERVER, "the audit checkpoint could not be moved to the copy's newest record")
    return point.record_id if point is not None else None


def check_audit(db: Database, master: Keyring, *, data_dir: Path) -> int:
    """The restored chain verifies under the server part's master key up to its checkpoint; its length."""
    try:
        result = verify_chain(db, master, data_dir=data_dir)
    except ConfigError:
        raise BackupRefused(
            SERVER, "the backup's audit checkpoint does not verify under its master key"
        ) from None
    if result.truncated:
        raise BackupRefused(
            SERVER,
            f"the backup's database does not reach the record its audit checkpoint names "
            f"({result.first_bad_id}); with PostgreSQL, take the keys part before pg_dump",
        )
    if not result.ok:
        raise BackupRefused(SERVER, f"the backup's audit chain is broken at record {result.first_bad_id}")
    return result.records
