"""The audit chain's head checkpoint of a running stack, for the audit tests."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import load_keyring
from sealbox.domain.audit import Checkpoint
from sealbox.store.audit_anchor import CHECKPOINT_NAME, read_checkpoint
from sealbox.store.tables import audit_events
from tests.support.processes import Stack


def chain_keys(stack: Stack) -> ChainKeys:
    return ChainKeys.derive(load_keyring(stack.data_dir / "master.key"))


def stack_url(stack: Stack) -> str:
    return stack.database_url or f"sqlite+pysqlite:///{stack.data_dir / 'sealbox.db'}"


def newest_record(stack: Stack) -> int:
    engine = create_engine(stack_url(stack), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.max(audit_events.c.id))).scalar_one())
    finally:
        engine.dispose()


def settled(stack: Stack, data_dir: Path | None = None) -> Checkpoint:
    """The stack's head checkpoint (or the one in `data_dir`) once it names the newest record.

    The server's writer thread records a head a few milliseconds after its commit; the stack is idle
    here, so the checkpoint catches up with the table and stays there.
    """
    point = None
    for _ in range(600):
        point = read_checkpoint((data_dir or stack.data_dir) / CHECKPOINT_NAME, chain_keys(stack))
        newest = newest_record(stack)
        if point is not None and point.record_id == newest:
            return point
        time.sleep(0.05)
    raise AssertionError(f"the checkpoint never reached the newest record: {point}")
