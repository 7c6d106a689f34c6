"""The audit chain's anchor outside the database: a tagged checkpoint file (`audit.head` in the data dir).

After every transaction that appended audit records commits, its new head (record id and tag) is
handed to a writer thread that records it in the checkpoint file, tagged under the chain key.
`verify_chain` then requires the chain to reach that record with that tag, so removing the newest
records, or rewriting them, is detected although every row left in the table still verifies.

The file only moves forward, and only along the chain it names: writers (the thread of each worker
process) take an exclusive lock on a lock file beside it, never replace a newer head with an older
one, and before replacing a checkpoint look the record it names up in the database: when the chain
there no longer holds that record with that tag (the database was rolled back, or its log cut), the
checkpoint stays as it is, so `verify` and the next start still see the gap. A checkpoint that does
not verify is never replaced either. Only `sealbox admin audit reanchor` moves the anchor off a chain
that lost what it named, after an audit record that names the gap (`replace`). `anchor_gap` is the
check made at every start.

The thread coalesces: it writes at most once per 50 ms, one fsync'd write covering every commit
since the last, so a write pays no file I/O of its own. Residual window: the records committed since
the last checkpoint written (under about 50 ms plus one fsync; more after a crash, or when the data
dir cannot be written) are covered by their tags only, not by the anchor.

The head goes from the transaction to the thread through the connection's `info` and SQLAlchemy's
events: staged on "commit" (just before the commit), dropped on "rollback" and on an error, and
submitted when the connection goes back to the pool, which happens only after the commit returned.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hmac
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, select
from sqlalchemy.engine import Connection, ExceptionContext

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import write_private_file
from sealbox.domain.audit import Checkpoint
from sealbox.errors import ConfigError, DecryptionError
from sealbox.store.tables import audit_events

log = logging.getLogger("sealbox.audit")
CHECKPOINT_NAME = "audit.head"
_STAGED = "sealbox.audit.head"  # set by append_many inside the transaction
_COMMITTING = "sealbox.audit.committing"  # moved here when the transaction commits
WRITE_INTERVAL_S = 0.05
IDLE_EXIT_S = 10.0  # a writer thread with nothing to write for this long ends
REANCHOR = "audit.reanchor"  # the action of the record that moves the anchor across a gap

# Record id -> tag, for the ids asked about that the database has.
Lookup = Callable[[Iterable[int]], dict[int, str]]
# The chain keys as they are now: a server's follow its master key file (`audit_chain.live_chain_keys`).
KeySource = Callable[[], ChainKeys]


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


def read_text(path: Path) -> str | None:
    """The checkpoint file's text as it is (None when there is none), to replace it only if unchanged."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        raise ConfigError(f"the audit checkpoint {path} cannot be read") from None


def _same(tag: str | None, expected: str) -> bool:
    return tag is not None and hmac.compare_digest(tag.encode(), expected.encode())


def records(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    """The tags of those of `ids` the chain has."""
    rows = conn.execute(
        select(audit_events.c.id, audit_events.c.hash).where(audit_events.c.id.in_(list(ids)))
    )
    return {int(r[0]): str(r[1]) for r in rows}


def records_in(engine: Engine) -> Lookup:
    # A weak reference: the lookup lives in the engine's own entry of _SETUPS, which must not keep it.
    ref = weakref.ref(engine)

    def lookup(ids: Iterable[int]) -> dict[int, str]:
        engine = ref()
        if engine is None:
            return {}
        with engine.connect() as conn:
            return records(conn, ids)

    return lookup


@dataclass(frozen=True, kw_only=True, slots=True)
class AnchorGap:
    """The chain does not hold what the checkpoint names: what it named, and what the chain has."""

    path: Path
    expected: Checkpoint | None  # None: the file does not verify under this master key
    found: str | None  # the chain's tag at the record the checkpoint names, if it has that record
    head_id: int | None  # the chain's newest record now
    head: str | None

    def describe(self) -> str:
        if self.expected is None:
            named = f"the checkpoint {self.path} does not verify under this master key"
        else:
            point = self.expected
            named = f"the checkpoint {self.path} names record {point.record_id} with tag {point.head}"
            if self.found is not None:
                named += f", and the chain has that record with tag {self.found}"
        if self.head_id is None:
            return f"{named}; the chain is empty"
        return f"{named}; the chain ends at record {self.head_id} with tag {self.head}"


def anchor_gap(conn: Connection, path: Path, keys: ChainKeys) -> AnchorGap | None:
    """None when there is no checkpoint, or the chain holds the record it names with its tag.

    One indexed lookup, not a walk of the chain (that is `verify`): cheap enough for every start.
    """
    try:
        point = read_checkpoint(path, keys)
    except ConfigError:
        point = None
        if read_text(path) is None:  # removed meanwhile
            return None
    else:
        if point is None:
            return None
        found = records(conn, (point.record_id,)).get(point.record_id)
        if _same(found, point.head):
            return None
    newest = conn.execute(
        select(audit_events.c.id, audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)
    ).first()
    return AnchorGap(
        path=path,
        expected=point,
        found=found if point is not None else None,
        head_id=int(newest[0]) if newest else None,
        head=str(newest[1]) if newest else None,
    )


class CheckpointFile:
    """Writes checkpoints to one file, forward only, safe across threads and processes."""

    def __init__(self, path: Path, keys: ChainKeys | KeySource, lookup: Lookup) -> None:
        self.path = path
        self.keys: KeySource = (lambda: keys) if isinstance(keys, ChainKeys) else keys
        self._lookup = lookup
        self._lock = threading.Lock()
        self._warned = False
        self._refused: str | None = None  # the checkpoint this process last refused to move off
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
        """Record (record_id, head) unless the file names a later record, or one this chain lost.

        Never raises for the file (a warning, once); the database lookup may raise (the next head
        retries).
        """
        try:
            with self._lock, self._file_lock():
                try:
                    current = read_checkpoint(self.path, self.keys())
                except ConfigError:
                    self._refuse(f"{self.path} cannot be read or does not verify under this master key")
                    return
                if current is not None and current.record_id >= record_id:
                    return
                if current is not None:
                    found = self._lookup((current.record_id, record_id))
                    for wanted, tag in ((current.record_id, current.head), (record_id, head)):
                        if not _same(found.get(wanted), tag):
                            self._refuse(
                                f"the audit chain no longer holds record {wanted} as {self.path} knew it"
                            )
                            return
                self._write(record_id, head)
        except OSError as exc:
            if not self._warned:  # once per process: the log must not fill up with it
                self._warned = True
                log.warning("cannot write the audit checkpoint %s (%s)", self.path, type(exc).__name__)

    def replace(self, record_id: int, head: str, *, expected: str | None) -> bool:
        """Write (record_id, head) whatever the file names, if its text is still `expected` (None: no file).

        Only for the re-anchoring, after the record that names the gap is committed: False (nothing
        written) when the file changed meanwhile.
        """
        with self._lock, self._file_lock():
            if read_text(self.path) != expected:
                return False
            self._write(record_id, head)
            return True

    def _write(self, record_id: int, head: str) -> None:
        keys = self.keys()
        body = {
            "id": record_id,
            "head": head,
            "key_id": keys.current_id,
            "tag": keys.tag(_message(record_id, head)),
        }
        write_private_file(self.path, json.dumps(body, separators=(",", ":")) + "\n", replace=True)

    def _refuse(self, why: str) -> None:
        if self._refused != why:  # once per checkpoint, not once per commit
            self._refused = why
            log.error(
                "audit checkpoint not moved: %s (the database was rolled back or its audit log cut?). "
                "`sealbox audit verify` shows the gap; `sealbox admin audit reanchor` records it",
                why,
            )

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
    source: KeySource
    checkpoints: CheckpointFile | None

    @property
    def keys(self) -> ChainKeys:
        """The chain keys now: a rotated audit or master key is current for the next record."""
        return self.source()


_SETUPS: WeakKeyDictionary[Engine, ChainSetup] = WeakKeyDictionary()


def install_chain(engine: Engine, keys: KeySource, *, checkpoint_path: Path | None) -> None:
    """Give `engine`'s audit writers their chain keys (as they are at each use) and (optionally) the
    checkpoint file to advance."""
    first = engine not in _SETUPS
    setup = ChainSetup(
        source=keys,
        checkpoints=CheckpointFile(checkpoint_path, keys, records_in(engine)) if checkpoint_path else None,
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


def staged_head(conn: Connection) -> tuple[int, str] | None:
    """The head the records appended in `conn`'s transaction so far end at (id, tag)."""
    staged: tuple[int, str] | None = conn.info.get(_STAGED)
    return staged


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
