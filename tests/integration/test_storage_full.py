"""A full disk under the database (issue 12, "Under faults" 4; TEST-PLAN T31).

The disk is made full for real: a small tmpfs holds the database (SQLite: the whole data dir;
PostgreSQL: a private cluster whose database lives in a tablespace on it), and a filler file takes
every byte left. Writes are then refused with `503 storage_full` (before: `database_unavailable`,
"the database is unavailable", while reads worked), reads still work, /healthz answers 200 with
`status: degraded` and `database_write: storage_full` (before: "ok"), and once the filler is gone
writes work again and /healthz says "ok". Every acknowledged write is there afterwards; nothing
answers 500.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.canaries import make_canary
from tests.support.diskfull import fill, small_tmpfs
from tests.support.health import wait_for_health
from tests.support.pgcluster import ACCOUNT, private_cluster
from tests.support.processes import Stack, running_stack
from tests.support.writes import Ledger, values_through_launch

API = "/api/v1"
NAMES = 8


def _seed(stack: Stack, ledger: Ledger) -> None:
    with stack.client() as c:
        for i in range(NAMES):
            value = make_canary("full")
            assert c.post(f"{API}/secrets", json={"name": f"f{i}", "value": value}).status_code == 201
            ledger.ack(f"f{i}", value)


def _replace(c: httpx.Client, ledger: Ledger, n: int) -> httpx.Response:
    name, value = f"f{n % NAMES}", make_canary("full")
    r = c.put(f"{API}/secrets/{name}/value", json={"value": value})
    if r.status_code == 200:
        ledger.ack(name, value)
    else:
        ledger.maybe(name, value)
    return r


def _run_out_of_space(stack: Stack, ledger: Ledger, folder: Path) -> None:
    """Fill `folder`'s file system, write until refused, check what every side says, then free it."""
    answers: Counter[tuple[int, str]] = Counter()
    filler = fill(folder)
    try:
        with stack.client() as c:
            for n in range(2000):  # what the database had allocated already fills first
                r = _replace(c, ledger, n)
                answers[(r.status_code, "" if r.status_code == 200 else r.json()["code"])] += 1
                if r.status_code != 200:
                    break
            assert r.status_code == 503 and r.json()["code"] == "storage_full", (r.text, answers)
            assert "full" in r.json()["message"]
            for n in range(5):  # and stays refused while the disk is full
                r = _replace(c, ledger, n)
                assert (r.status_code, r.json()["code"]) == (503, "storage_full"), r.text
            assert c.get(f"{API}/secrets/f0").status_code == 200  # reads work
            assert c.get(f"{API}/secrets?limit=5").status_code == 200
        # Every worker says so within seconds (its own failed writes, or its next probe write), and
        # keeps saying so while the disk is full; 200: readiness stays (reads work, a restart would
        # free nothing).
        full = (
            200,
            {"status": "degraded", "database": "ok", "database_write": "storage_full", "keeper": "ok"},
        )
        wait_for_health(stack.url, full)
    finally:
        filler.unlink()
    with stack.client() as c:
        assert _replace(c, ledger, 0).status_code == 200
    # A worker that saw the disk full says so until a write of its own, or its next probe, works.
    wait_for_health(
        stack.url, (200, {"status": "ok", "database": "ok", "database_write": "ok", "keeper": "ok"})
    )
    lost = ledger.lost(values_through_launch(stack, sorted(ledger.acked)))
    assert lost == [], f"acknowledged writes lost or corrupted: {lost}"
    log = stack.log.read_text()
    assert "unhandled" not in log and "Traceback" not in log
    assert "database writes fail: storage_full" in log


@pytest.mark.slow
def test_sqlite_on_a_full_disk_refuses_writes_with_storage_full_and_health_says_so(tmp_path: Path) -> None:
    ledger = Ledger()
    with small_tmpfs(tmp_path / "data", size_mb=12) as data, running_stack(tmp_path) as stack:
        assert stack.data_dir == data
        _seed(stack, ledger)
        _run_out_of_space(stack, ledger, data)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_on_a_full_disk_refuses_writes_with_storage_full_and_health_says_so(
    tmp_path: Path,
) -> None:
    """SQLSTATE 53100 (disk_full): the database's tablespace on a full tmpfs; the WAL has room."""
    ledger = Ledger()
    with private_cluster() as pg:
        owner = ACCOUNT if pg.account else None
        with small_tmpfs(pg.root / "full", size_mb=24, owner=owner) as space:
            url = pg.create_database("onfull", tablespace=space)
            with running_stack(tmp_path, database_url=url) as stack:
                _seed(stack, ledger)
                _run_out_of_space(stack, ledger, space)
