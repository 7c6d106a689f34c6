"""The audit chain's anchor outside the database: a tagged checkpoint file (`audit.head` in the data dir).

After every transaction that appended audit records commits, its new head (record id and tag) is
handed to a writer thread that records it in the checkpoint file, tagged under the chain key.
`verify_chain` then requires the chain to reach that record with that tag, so removing the newest
records, or rewriting them, is detected although every row left in the table still verifies.

The file only moves forward: writers (the thread of each worker process) take an exclusive lock on a
lock file beside it and never replace a newer head with an older one. The thread coalesces: it writes
at most once per 50 ms, one fsync'd write covering every commit since the last, so a write pays no
file I/O of its own. Residual window: the records committed since the last checkpoint written (under
about 50 ms plus one fsync; more after a crash, or when the data dir cannot be written) are covered by
their tags only, not by the anchor.

The head goes from the transaction to the thread through the connection's `info` and SQLAlchemy's
events: staged on "commit" (just before the commit), dropped on "rollback" and on an error, and
submitted when the connection goes back to the pool, which happens only after the commit returned.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection, ExceptionContext

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import write_private_file
from sealbox.errors import ConfigError, DecryptionError

log = logging.getLogger("sealbox.audit")
CHECKPOINT_NAME = "audit.head"
_STAGED = "sealbox.audit.head"  # set by append_many inside the transaction
_COMMITTING = "sealbox.audit.committing"  # moved here when the transaction commits
WRITE_INTERVAL_S = 0.05
IDLE_EXIT_S = 10.0  # a writer thread with nothing to write for this long ends


@dataclass(frozen=True, kw_only=True, slots=True)
class Checkpoint:
    record_id: int
    head: str
    key_id: str


def _message(record_id: int, head: str) -> bytes:
    return f"sealbox audit checkpoint v1\n{record_id}\n{head}".encode()


def read_checkpoint(path: Path, keys: ChainKeys) -> Checkpoint | None:
    """The checkpoint in `path` (None when there is none); ConfigError when it is unreadable or forged."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        raise ConfigError(f"the audit checkpoint {path} cannot be read") from None
    try:
        data: Any = json.loads(text)
        point = Checkpoint(record_id=int(data["id"]), head=str(data["head"]), key_id=str(data["key_id"]))
        keys.verify(_message(point.record_id, point.head), data["tag"], key_id=point.key_id)
    except (ValueError, KeyError, TypeError, DecryptionError):
        raise ConfigError(f"the audit checkpoint {path} does not verify under this master key") from None
    return point


class CheckpointFile:
    """Writes checkpoints to one file, forward only, safe across threads and processes."""

    def __init__(self, path: Path, keys: ChainKeys) -> None:
        self.path = path
        self.keys = keys
        self._lock = threading.Lock()
        self._warned = False
        self._queue = threading.Condition()
        self._pending: tuple[int, str] | None = None
        self._busy = False
        self._thread: threading.Thread | None = None
        self._exit_hooked = False

    def submit(self, record_id: int, head: str) -> None:
        """Hand a committed head to the writer thread; returns at once (no file I/O here)."""
        with self._queue:
            if self._pending is None or record_id > self._pending[0]:
                self._pending = (record_id, head)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sealbox-audit-head", daemon=True)
                self._thread.start()
                if not self._exit_hooked:
                    self._exit_hooked = True
                    atexit.register(self.flush)
            self._queue.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted head is written; False if that took longer than `timeout` s."""
        with self._queue:
            return self._queue.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._queue:
                if not self._queue.wait_for(lambda: self._pending is not None, IDLE_EXIT_S):
                    self._thread = None  # idle: the next submit starts another
                    return
                assert self._pending is not None
                (record_id, head), self._pending = self._pending, None
                self._busy = True
            try:
                self.advance(record_id, head)
            except Exception as exc:  # the thread must outlive any one write; the next head retries
                log.warning("audit checkpoint not written (%s)", type(exc).__name__)
            finally:
                with self._queue:
                    self._busy = False
                    self._queue.notify_all()
            # One fsync'd write per interval at most: the heads of the commits meanwhile wait and
            # coalesce, so even one-at-a-time writes share the file's cost (see bench/audit_chain.py).
            time.sleep(WRITE_INTERVAL_S)

    def advance(self, record_id: int, head: str) -> None:
        """Record (record_id, head) unless the file already names a later record. Never raises."""
        try:
            with self._lock, self._file_lock():
                try:
                    current = read_checkpoint(self.path, self.keys)
                except ConfigError:
                    current = None  # unreadable or from another key: the new head replaces it
                if current is not None and current.record_id >= record_id:
                    return
                body = {
                    "id": record_id,
                    "head": head,
                    "key_id": self.keys.current_id,
                    "tag": self.keys.tag(_message(record_id, head)),
                }
                write_private_file(self.path, json.dumps(body, separators=(",", ":")) + "\n", replace=True)
        except OSError as exc:
            if not self._warned:  # once per process: the log must not fill up with it
                self._warned = True
                log.warning("cannot write the audit checkpoint %s (%s)", self.path, type(exc).__name__)

    @contextlib.contextmanager
    def _file_lock(self) -> Any:
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainSetup:
    keys: ChainKeys
    checkpoints: CheckpointFile | None


_SETUPS: WeakKeyDictionary[Engine, ChainSetup] = WeakKeyDictionary()


def install_chain(engine: Engine, keys: ChainKeys, *, checkpoint_path: Path | None) -> None:
    """Give `engine`'s audit writers their chain key and (optionally) the checkpoint file to advance."""
    first = engine not in _SETUPS
    setup = ChainSetup(
        keys=keys, checkpoints=CheckpointFile(checkpoint_path, keys) if checkpoint_path else None
    )
    _SETUPS[engine] = setup
    if first:
        event.listen(engine, "commit", _on_commit)
        event.listen(engine, "rollback", _on_rollback)
        event.listen(engine, "handle_error", _on_error)
        event.listen(engine.pool, "checkin", _on_checkin(engine))


def flush_checkpoints(engine: Engine, timeout: float = 30.0) -> bool:
    """Wait until the heads committed through `engine` are in the checkpoint file (tests, shutdown)."""
    setup = _SETUPS.get(engine)
    return setup is None or setup.checkpoints is None or setup.checkpoints.flush(timeout)


def chain_setup(conn: Connection) -> ChainSetup:
    setup = _SETUPS.get(conn.engine)
    if setup is None:
        raise ConfigError("the audit chain key is not loaded")
    return setup


def stage_head(conn: Connection, record_id: int, head: str) -> None:
    conn.info[_STAGED] = (record_id, head)


def _on_commit(conn: Connection) -> None:
    staged = conn.info.pop(_STAGED, None)
    if staged is not None:
        conn.info[_COMMITTING] = staged


def _on_rollback(conn: Connection) -> None:
    conn.info.pop(_STAGED, None)
    conn.info.pop(_COMMITTING, None)


def _on_error(context: ExceptionContext) -> None:
    if context.connection is not None and not context.connection.invalidated:
        _on_rollback(context.connection)


def _on_checkin(engine: Engine) -> Any:
    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is None:
            return
        committed = record.info.pop(_COMMITTING, None)
        record.info.pop(_STAGED, None)
        setup = _SETUPS.get(engine)
        if committed is not None and setup is not None and setup.checkpoints is not None:
            setup.checkpoints.submit(*committed)

    return checkin
