"""Two server replicas on one PostgreSQL and two keepers sharing one keeper key, each pair behind a balancer
(issue 14, "Replicas and upgrades"; docs/operations.md "Replicas").

16 client threads write, read and launch through the servers' balancer; mid-load one server replica and
one keeper are killed with SIGKILL at the same moment. What a user relies on:
- no acknowledged write is lost (every value the API acknowledged launches afterwards);
- writes, reads and launches keep working through the surviving server and keeper;
- the only failures are requests in flight at the kill (at most one per client thread), and no answer is
  a 5xx or any other error after that;
- no canary value reaches a log.
The figures (requests, failures, time to recover) are printed for docs/operations.md.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.canaries import find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import sealbox_cmd
from tests.support.replicas import Replicas, running_replicas
from tests.support.writes import Ledger, values_through_launch

API = "/api/v1"
CLIENTS = 16
LAUNCHERS = 4  # of the 16; the others write and read
NAMES_PER_WRITER = 3
WARM_S = 3.0
AFTER_S = 6.0
IN_FLIGHT_MARGIN_S = 0.5  # a request started this soon after the kill may still have met the dead process


@dataclass
class Outcome:
    kind: str
    start: float
    end: float
    failure: str | None  # None: it worked


@dataclass
class Load:
    replicas: Replicas
    ledger: Ledger = field(default_factory=Ledger)
    outcomes: list[Outcome] = field(default_factory=list)
    values: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self) -> httpx.Client:
        return self.replicas.front.client()

    def note(self, kind: str, start: float, failure: str | None) -> None:
        self.outcomes.append(Outcome(kind, start, time.monotonic(), failure))  # list.append is atomic

    def names(self, writer: int) -> list[str]:
        return [f"w{writer}-{i}" for i in range(NAMES_PER_WRITER)]

    def create(self) -> None:
        with self.client() as c:
            for w in range(CLIENTS - LAUNCHERS):
                for name in self.names(w):
                    value = make_canary(name)
                    assert c.post(f"{API}/secrets", json={"name": name, "value": value}).status_code == 201
                    self.values.add(value)
                    self.ledger.ack(name, value)

    def writer(self, w: int) -> None:
        with self.client() as c:
            n = 0
            while not self.stop.is_set():
                name = self.names(w)[n % NAMES_PER_WRITER]
                value = make_canary(name)
                self.values.add(value)
                start = time.monotonic()
                try:
                    r = c.put(f"{API}/secrets/{name}/value", json={"value": value})
                    failure = None if r.status_code == 200 else f"write {r.status_code}"
                except httpx.TransportError as exc:
                    failure = f"write {type(exc).__name__}"
                if failure is None:
                    self.ledger.ack(name, value)
                else:
                    self.ledger.maybe(name, value)
                self.note("write", start, failure)
                start = time.monotonic()
                try:
                    r = c.get(f"{API}/secrets/{name}")
                    failure = None if r.status_code == 200 else f"read {r.status_code}"
                except httpx.TransportError as exc:
                    failure = f"read {type(exc).__name__}"
                self.note("read", start, failure)
                n += 1

    def launcher(self, k: int) -> None:
        writers = CLIENTS - LAUNCHERS
        n = 0
        while not self.stop.is_set():
            names = [f"w{(k + n + i) % writers}-{i % NAMES_PER_WRITER}" for i in range(4)]
            start = time.monotonic()
            try:
                got = values_through_launch(self.replicas.front, names)
                failure = None if sorted(got) == sorted(names) else "launch: missing values"
            except Exception as exc:  # every failure counts, whatever it is
                failure = f"launch {type(exc).__name__}"
            self.note("launch", start, failure)
            n += 1


def _figures(load: Load, killed_at: float) -> dict[str, object]:
    failed = [o for o in load.outcomes if o.failure]
    after = [o for o in load.outcomes if o.start >= killed_at]
    first_launch = min((o.end for o in after if o.kind == "launch" and not o.failure), default=float("inf"))
    return {
        "requests": len(load.outcomes),
        "failed": len(failed),
        "recovered_s": max((o.end for o in failed), default=killed_at) - killed_at,
        "first_launch_s": first_launch - killed_at,
        "after_kill_ok": sum(1 for o in after if not o.failure),
        "launches_after_kill_ok": sum(1 for o in after if o.kind == "launch" and not o.failure),
        "by_kind": dict(Counter(o.failure for o in failed)),
    }


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_one_server_and_one_keeper_under_load(tmp_path: Path) -> None:
    with fresh_database() as url, running_replicas(tmp_path, database_url=url) as replicas:
        load = Load(replicas)
        load.create()
        threads = [threading.Thread(target=load.writer, args=(w,)) for w in range(CLIENTS - LAUNCHERS)]
        threads += [threading.Thread(target=load.launcher, args=(k,)) for k in range(LAUNCHERS)]
        for t in threads:
            t.start()
        try:
            time.sleep(WARM_S)
            killed_at = time.monotonic()
            killed = [replicas.servers[0].proc, replicas.keepers[0].proc]
            for proc in killed:
                assert proc is not None
                proc.kill()  # SIGKILL: no shutdown of any kind
            for proc in killed:
                assert proc is not None
                proc.wait(10)
            time.sleep(AFTER_S)
        finally:
            load.stop.set()
            for t in threads:
                t.join(60)

        figures = _figures(load, killed_at)
        print(
            f"\nreplica failover figures: {figures}; balancer failovers: "
            f"servers {replicas.server_balancer.failovers}, keepers {replicas.keeper_balancer.failovers}"
        )
        failed = [o for o in load.outcomes if o.failure]
        in_flight = [o for o in failed if o.start < killed_at + IN_FLIGHT_MARGIN_S and o.end >= killed_at]
        assert [o for o in failed if o not in in_flight] == []  # none before the kill, none after its moment
        assert len(in_flight) <= CLIENTS  # one request in flight per client thread, at most
        # The survivors carry the load: writes, reads and launches started after the kill succeed.
        assert isinstance(figures["after_kill_ok"], int) and figures["after_kill_ok"] > 100, figures
        launched = figures["launches_after_kill_ok"]
        assert isinstance(launched, int) and launched >= 4, figures
        assert replicas.servers[1].proc is not None and replicas.servers[1].proc.poll() is None
        assert replicas.keepers[1].proc is not None and replicas.keepers[1].proc.poll() is None

        names = sorted(load.ledger.acked)
        stored: dict[str, bytes] = {}
        for i in range(0, len(names), 8):
            stored.update(values_through_launch(replicas.front, names[i : i + 8]))
        assert load.ledger.lost(stored) == []
        # Started again on the same directories, the killed two serve with no repair: each launch below
        # goes through the next server and keeper in turn, so through all four.
        replicas.keepers[0].start()
        replicas.servers[0].start(database_url=url, keeper_url=replicas.front.keeper.url)
        again: dict[str, bytes] = {}
        for i in range(0, len(names), 4):
            again.update(values_through_launch(replicas.front, names[i : i + 4]))
        assert again == stored
        scanned = [*load.ledger.acked.values(), *sorted(load.values)[:300]]  # all values: too slow to scan
        assert find_in_bytes(replicas.logs(), scanned) == []
        # The audit chain both replicas appended to is one chain, checked from the survivor's data dir.
        env = replicas.front.env(SEALBOX_DATA_DIR=str(replicas.servers[1].data_dir))
        verify = subprocess.run(
            sealbox_cmd("audit", "verify"), env=env, capture_output=True, text=True, timeout=120
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
