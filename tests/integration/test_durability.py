"""Acknowledged writes survive a SIGKILL of the server (TEST-PLAN T19, bounded), and a backup restores (T25).

Power loss cannot be simulated here (SIGKILL is not a power cut); what this shows is that every
write the API acknowledged is in the database after a kill and decrypts to its exact value through a
real launch (or to the value of a later write the dying server never answered: such a write is all or
nothing), and that the database passes its integrity check.
"""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.canaries import make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack
from tests.support.writes import Ledger, values_through_launch

WRITERS = 8
CYCLES = 3


def _writer(stack: Stack, worker: int, stop: threading.Event, ledger: Ledger) -> None:
    """Create and replace secrets until stopped, writing down what was acknowledged and what not."""
    with httpx.Client(
        base_url=stack.url, timeout=5, headers={"Authorization": f"Bearer {stack.admin_token}"}
    ) as c:
        n = 0
        while not stop.is_set():
            name = f"d{worker}-{n % 5}"  # each writer its own names: the ledger's entries are not shared
            value = make_canary(f"w{worker}")
            exists = name in ledger.acked or name in ledger.unanswered
            try:
                if exists:
                    r = c.put(f"/api/v1/secrets/{name}/value", json={"value": value})
                if not exists or r.status_code == 404:  # 404: an unanswered create that did not commit
                    r = c.post("/api/v1/secrets", json={"name": name, "value": value})
            except httpx.HTTPError:
                ledger.maybe(name, value)
                return  # the server died under us
            if r.status_code in (200, 201):
                ledger.ack(name, value)
            n += 1


def _kill_cycles(stack: Stack) -> Ledger:
    ledger = Ledger()
    rng = random.Random(19)
    for _ in range(CYCLES):
        stop = threading.Event()
        threads = [threading.Thread(target=_writer, args=(stack, w, stop, ledger)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 1.5))
        stack.stop_server(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(10)
        stack.start_server()
    return ledger


def _check_all(stack: Stack, ledger: Ledger) -> None:
    assert len(ledger.acked) >= WRITERS, "the writers should have had many writes acknowledged"
    lost = ledger.lost(values_through_launch(stack, sorted(ledger.acked)))
    assert lost == [], f"acknowledged writes lost or corrupted: {lost}"


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill_on_sqlite(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        _check_all(stack, _kill_cycles(stack))
        db = sqlite3.connect(stack.data_dir / "sealbox.db")
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_acknowledged_writes_survive_sigkill_on_postgres(tmp_path: Path) -> None:
    with fresh_database() as url, running_stack(tmp_path, database_url=url) as stack:
        _check_all(stack, _kill_cycles(stack))


@pytest.mark.slow
def test_a_backup_restores_to_a_fresh_directory(tmp_path: Path) -> None:
    """T25: an online SQLite backup plus the two key folders brings every value back."""
    values = {f"b{i}": make_canary("backup") for i in range(20)}
    (tmp_path / "a").mkdir()
    with running_stack(tmp_path / "a") as stack:
        with stack.client() as c:
            for name, value in values.items():
                assert c.post("/api/v1/secrets", json={"name": name, "value": value}).status_code == 201
        backup = tmp_path / "backup.db"
        src = sqlite3.connect(stack.data_dir / "sealbox.db")
        dst = sqlite3.connect(backup)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        data_dir, keeper_dir = stack.data_dir, stack.keeper.dir
        token = stack.admin_token
    # Restore: a fresh directory with the backup and copies of the key files, as an operator would.
    restored = tmp_path / "b"
    (restored / "data").mkdir(parents=True, mode=0o700)
    for name in ("master.key", "signing.key", "signing.pub", "keeper.pub"):
        shutil.copy2(data_dir / name, restored / "data" / name)
    shutil.copy2(backup, restored / "data" / "sealbox.db")
    shutil.copytree(keeper_dir, restored / "data-keeper", ignore=shutil.ignore_patterns("*.sock"))
    with running_stack(restored) as stack:
        stack.admin_token = token  # the backup's users and tokens came back with it
        assert values_through_launch(stack, sorted(values)) == {n: v.encode() for n, v in values.items()}
    raw = backup.read_bytes()
    assert not any(v.encode() in raw for v in values.values())
