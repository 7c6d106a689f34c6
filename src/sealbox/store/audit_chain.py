"""The operator's tools on the audit chain: keying it in a process, verifying it, re-anchoring it.

They work on the chain's storage itself (its key, its checkpoint file next to the data, the engine's
commit hook: `audit_anchor.py`), not through a unit of work; the CLI and create_app call them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import Keyring
from sealbox.domain.audit import AuditEvent, ChainCheck, Outcome
from sealbox.errors import ConfigError
from sealbox.store.audit import AuditRepository
from sealbox.store.audit_anchor import (
    CHECKPOINT_NAME,
    REANCHOR,
    CheckpointFile,
    anchor_gap,
    install_chain,
    read_checkpoint,
    read_text,
    staged_head,
)
from sealbox.store.database import Database

MasterSource = Keyring | Callable[[], Keyring]


class LiveChainKeys:
    """The chain keys of the master keyring as `master` gives it now, derived again only when it
    changed (`MasterKeyFile.current` returns the same keyring until its file changes): a server
    tags each record under the current audit key of the moment, in every worker, without a restart."""

    def __init__(self, master: Callable[[], Keyring]) -> None:
        self._master = master
        self._lock = threading.Lock()
        self._seen: tuple[Keyring, ChainKeys] | None = None

    def __call__(self) -> ChainKeys:
        ring = self._master()
        seen = self._seen
        if seen is not None and seen[0] is ring:
            return seen[1]
        with self._lock:
            keys = ChainKeys.derive(ring)
            self._seen = (ring, keys)
        return keys


def live_chain_keys(master: MasterSource) -> Callable[[], ChainKeys]:
    if isinstance(master, Keyring):
        keys = ChainKeys.derive(master)
        return lambda: keys
    return LiveChainKeys(master)


def install_audit_chain(db: Database, master: MasterSource, *, data_dir: Path | None) -> None:
    """Key `db`'s audit chain with the master keyring, anchoring heads in `data_dir`/audit.head.

    `master` may be a callable giving the keyring as its file holds it now (a server's
    `MasterKeyFile.current`): a rotated audit key (or master key) then tags the next record at once.

    Every process that writes audit records calls this once after opening the database; without it,
    writes that need a record fail closed. With a checkpoint in `data_dir` that the database's chain
    does not hold (a rollback, a cut log), raises ConfigError, one line naming the gap and the way out
    (`sealbox admin audit reanchor`): the server refuses to start, however often it is restarted.
    """
    source = live_chain_keys(master)
    if data_dir is not None:
        with db.read() as conn:
            gap = anchor_gap(conn, data_dir / CHECKPOINT_NAME, source())
        if gap is not None:
            raise ConfigError(
                f"the audit chain does not hold what its checkpoint names: {gap.describe()}. The database "
                "was rolled back or its audit log cut; `sealbox audit verify` shows it. To accept it and "
                "record the gap in the log: sealbox admin audit reanchor --reason TEXT"
            )
    install_chain(
        db.engine, source, checkpoint_path=data_dir / CHECKPOINT_NAME if data_dir is not None else None
    )


def verify_chain(db: Database, master: Keyring, *, data_dir: Path | None) -> ChainCheck:
    """Check the chain under the master keyring's chain keys, and against data_dir's checkpoint if any.

    Raises ConfigError when the checkpoint file is there but unreadable or does not verify.
    """
    keys = ChainKeys.derive(master)
    checkpoint = read_checkpoint(data_dir / CHECKPOINT_NAME, keys) if data_dir is not None else None
    with db.read() as conn:
        return AuditRepository(conn).verify_chain(keys, checkpoint=checkpoint)


@dataclass(frozen=True, kw_only=True, slots=True)
class Reanchored:
    record_id: int  # the `audit.reanchor` record, which the checkpoint now names
    gap: str


def reanchor(
    db: Database, master: Keyring, *, data_dir: Path, reason: str, operator: str, now: datetime
) -> Reanchored | None:
    """Accept a chain that lost what `data_dir`'s checkpoint names: record the gap, then anchor there.

    None when there is nothing to accept. The chain must verify on its own up to its newest record:
    a lost tail is accepted, an edited record never (ConfigError). `db` has the chain key installed
    without a checkpoint file (`install_audit_chain(..., data_dir=None)`), so that nothing but this
    moves the checkpoint. The record (action `audit.reanchor`) names the checkpoint's record and tag
    and the chain's newest record and tag, the reason and who ran it; it is part of the chain, so
    `verify` reports it from then on.
    """
    keys = ChainKeys.derive(master)
    path = data_dir / CHECKPOINT_NAME
    before = read_text(path)
    with db.read() as conn:
        gap = anchor_gap(conn, path, keys)
        if gap is None:
            return None
        check = AuditRepository(conn).verify_chain(keys)
    if not check.ok:
        raise ConfigError(
            f"the audit chain itself is broken at record {check.first_bad_id}: re-anchoring accepts "
            "records missing at its end, never an edited one (restore the database from a backup)"
        )
    detail = f"{gap.describe()}; reason: {reason}; by {operator}"
    with db.write() as conn:
        AuditRepository(conn).append_failing_closed(
            [
                AuditEvent(
                    at=now,
                    actor_id=None,
                    actor_name=None,
                    token_id=None,
                    action=REANCHOR,
                    outcome=Outcome.SUCCESS,
                    detail=detail,
                )
            ]
        )
        staged = staged_head(conn)
    assert staged is not None  # the record was appended in this transaction
    if not CheckpointFile(path, keys, lookup=lambda _ids: {}).replace(*staged, expected=before):
        raise ConfigError(f"the audit checkpoint {path} changed meanwhile; run the command again")
    return Reanchored(record_id=staged[0], gap=gap.describe())
