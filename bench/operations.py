"""Operations figures (issue 14, docs/operations.md): with N secrets (100,000 unless told otherwise),

- key rotation of each level (master-key, user-keys, keeper-key, audit-key): the command's time to
  re-wrap, and reads/s and writes/s through the API while it runs, beside the same load without a
  rotation just before it (pairs, in the same run);
- backup and restore: time and size;
- replica failover (PostgreSQL): two servers behind a loopback balancer (tests/support), one killed
  with SIGKILL under load, twice: requests failed, and the time from the kill to the last failure.

The secrets are seeded in-process (bench/bulk.py: what the server would hold after a create and the
keeper's conversion). The load is client threads in this process (httpx): readers ask for a bulk
secret's metadata (`GET /api/v1/secrets/{name}`), writers replace their own secrets' values; on a
2-core machine the clients take CPU from the server, which is why only the pairs compare.

    python -m bench.operations [--secrets N] [--quick] [--skip-failover]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench.bulk import bulk_insert
from bench.stack import BENCH_DIR, SealboxInstance, postgres_database, sealbox_instance

PREFIX = "ops"
READERS, WRITERS = 3, 1
LEVELS = ("master-key", "user-keys", "keeper-key", "audit-key")


def log(msg: str) -> None:
    print(f"[operations {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Load:
    """Reader and writer threads against one server; counts what worked and what failed."""

    url: str
    token: str
    secrets: int
    ok: dict[str, int] = field(default_factory=lambda: {"read": 0, "write": 0})
    failed: dict[str, int] = field(default_factory=lambda: {"read": 0, "write": 0})
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=30, trust_env=False, headers={"Authorization": f"Bearer {self.token}"}
        )

    def _count(self, kind: str, r: httpx.Response) -> None:
        (self.ok if r.status_code == 200 else self.failed)[kind] += 1

    def _reader(self, seed: int) -> None:
        rng = random.Random(seed)
        with self.client() as c:
            while not self.stop.is_set():
                self._count("read", c.get(f"/api/v1/secrets/{PREFIX}{rng.randrange(self.secrets)}"))

    def _writer(self, w: int) -> None:
        with self.client() as c:
            name = f"writer{w}"
            if c.get(f"/api/v1/secrets/{name}").status_code == 404:
                c.post("/api/v1/secrets", json={"name": name, "value": "0"}).raise_for_status()
            n = 0
            while not self.stop.is_set():
                n += 1
                self._count("write", c.put(f"/api/v1/secrets/{name}/value", json={"value": str(n)}))

    def during(self, action: Any) -> dict[str, Any]:
        """Run the load while `action()` runs; ops/s of each kind over that time, and failures."""
        self.stop.clear()
        before_ok, before_failed = dict(self.ok), dict(self.failed)
        threads = [threading.Thread(target=self._reader, args=(i,)) for i in range(READERS)]
        threads += [threading.Thread(target=self._writer, args=(i,)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # every thread past its first request
        t0, ok0 = time.monotonic(), dict(self.ok)
        result = action()
        seconds = time.monotonic() - t0
        ok1 = dict(self.ok)
        self.stop.set()
        for t in threads:
            t.join(60)
        return {
            "seconds": seconds,
            "reads_per_s": (ok1["read"] - ok0["read"]) / seconds,
            "writes_per_s": (ok1["write"] - ok0["write"]) / seconds,
            "failed": sum(self.failed.values()) - sum(before_failed.values()),
            "ok": sum(self.ok.values()) - sum(before_ok.values()),
            "result": result,
        }


def _admin(inst: SealboxInstance, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "sealbox", "admin", *args],
        env=inst.server_env(SEALBOX_KEEPER_URL=inst.keeper_url),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sealbox admin {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def _timed(inst: SealboxInstance, *args: str) -> dict[str, Any]:
    t0 = time.monotonic()
    done = _admin(inst, *args)
    return {"command_s": time.monotonic() - t0, "said": done.stdout.strip().splitlines()[-1]}


def rotations(inst: SealboxInstance, load: Load, baseline_s: float) -> list[dict[str, Any]]:
    """For each level: the load alone for `baseline_s`, then the load during its rotation."""
    rows = []
    for level in LEVELS:
        log(f"baseline before {level} ({baseline_s:.0f} s)")
        base = load.during(lambda: time.sleep(baseline_s))
        log(f"rotate {level}")
        during = load.during(lambda lv=level: _timed(inst, "rotate", lv))
        rows.append({"level": level, "baseline": base, "during": during})
        log(f"  {during['result']['said']} in {during['result']['command_s']:.1f} s")
        log(
            f"  reads/s {base['reads_per_s']:.0f} -> {during['reads_per_s']:.0f}, writes/s "
            f"{base['writes_per_s']:.0f} -> {during['writes_per_s']:.0f}, failed {base['failed']}/{during['failed']}"
        )
    return rows


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def backup_restore(inst: SealboxInstance, root: Path) -> dict[str, Any]:
    """`sealbox admin backup` of the running server, then `sealbox admin restore` into new dirs."""
    target = root / "backup"
    t0 = time.monotonic()
    _admin(
        inst, "backup", str(target), "--data-dir", str(inst.data_dir), "--keeper-dir", str(inst.keeper_dir)
    )
    backup_s = time.monotonic() - t0
    t0 = time.monotonic()
    restored = root / "restored"
    _admin(
        inst,
        "restore",
        str(target),
        "--data-dir",
        str(restored / "data"),
        "--keeper-dir",
        str(restored / "k"),
    )
    return {
        "backup_s": backup_s,
        "restore_s": time.monotonic() - t0,
        "backup_bytes": _size(target),
        "database_bytes": (inst.data_dir / "sealbox.db").stat().st_size,
    }


def failover(root: Path, rounds: int = 2) -> list[dict[str, Any]]:
    """Two replicas on one PostgreSQL behind the test balancer; kill one under load, `rounds` times."""
    from tests.support.replicas import running_replicas

    out = []
    with (
        postgres_database() as url,
        running_replicas(root, database_url=url.replace("postgresql://", "postgresql+psycopg://")) as rep,
    ):
        front = rep.front
        with httpx.Client(
            base_url=front.url, timeout=30, headers={"Authorization": f"Bearer {front.admin_token}"}
        ) as c:
            for i in range(200):
                c.post("/api/v1/secrets", json={"name": f"{PREFIX}{i}", "value": f"v{i}"}).raise_for_status()
        for r in range(rounds):
            victim = rep.servers[r % 2]
            out.append(_kill_under_load(front.url, front.admin_token, victim))
            victim.start(database_url=front.database_url or "", keeper_url=front.keeper.url)
    return out


@dataclass
class Timeline:
    events: list[tuple[float, float, bool]] = field(default_factory=list)  # (start, end, worked)


def _timeline_client(url: str, token: str, tl: Timeline, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
        while not stop.is_set():
            start = time.monotonic()
            try:
                if rng.random() < 0.25:
                    r = c.put(f"/api/v1/secrets/{PREFIX}{seed}/value", json={"value": str(start)})
                else:
                    r = c.get(f"/api/v1/secrets/{PREFIX}{rng.randrange(200)}")
                worked = r.status_code == 200
            except httpx.TransportError:
                worked = False
            tl.events.append((start, time.monotonic(), worked))


def _kill_under_load(url: str, token: str, victim: Any, clients: int = 8) -> dict[str, Any]:
    tl, stop = Timeline(), threading.Event()
    threads = [
        threading.Thread(target=_timeline_client, args=(url, token, tl, stop, s)) for s in range(clients)
    ]
    for t in threads:
        t.start()
    time.sleep(3.0)
    killed_at = time.monotonic()
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    time.sleep(6.0)
    stop.set()
    for t in threads:
        t.join(60)
    failed = [e for e in tl.events if not e[2]]
    after = [e for e in tl.events if e[0] >= killed_at]
    return {
        "clients": clients,
        "requests": len(tl.events),
        "failed": len(failed),
        "recovered_s": max((e[1] for e in failed), default=killed_at) - killed_at,
        "worked_after_kill": sum(1 for e in after if e[2]),
    }


def render(report: dict[str, Any]) -> str:
    n = report["secrets"]
    lines = [
        f"## sealbox operations benchmark ({n:,} secrets; load average {report['loadavg_start'][0]:.1f} at start, "
        f"{report['loadavg_end'][0]:.1f} at end; {report['date']})",
        "",
        f"Load: {READERS} reader and {WRITERS} writer threads through the API of one server (2 workers).",
        "",
        "| rotation | command time | rows re-wrapped (its line) | reads/s without / during | writes/s without / during | failed |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["rotations"]:
        b, d = row["baseline"], row["during"]
        lines.append(
            f"| {row['level']} | {d['result']['command_s']:.1f} s | {d['result']['said']} | "
            f"{b['reads_per_s']:.0f} / {d['reads_per_s']:.0f} | {b['writes_per_s']:.0f} / {d['writes_per_s']:.0f} | "
            f"{b['failed']} / {d['failed']} |"
        )
    if "backup" in report:
        br = report["backup"]
        lines += [
            "",
            "| backup (online, server idle) | restore (into new dirs, with its checks) | backup size | live database |",
            "|---|---|---|---|",
            f"| {br['backup_s']:.1f} s | {br['restore_s']:.1f} s | {br['backup_bytes'] / 1e6:.1f} MB | "
            f"{br['database_bytes'] / 1e6:.1f} MB |",
        ]
    if report.get("failover"):
        lines += [
            "",
            "| failover round | requests | failed | last failure after the kill | worked after the kill |",
            "|---|---|---|---|---|",
        ]
        for i, f in enumerate(report["failover"], 1):
            lines.append(
                f"| {i} ({f['clients']} clients) | {f['requests']} | {f['failed']} | {f['recovered_s']:.2f} s | {f['worked_after_kill']} |"
            )
    elif "failover_skipped" in report:
        lines += ["", f"Failover skipped: {report['failover_skipped']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secrets", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="smoke test: 2,000 secrets, 3 s baselines")
    ap.add_argument("--skip-failover", action="store_true")
    args = ap.parse_args(argv)
    n = 2_000 if args.quick else args.secrets
    baseline_s = 3.0 if args.quick else 15.0
    report: dict[str, Any] = {
        "secrets": n,
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg_start": os.getloadavg(),
    }
    with sealbox_instance("ops") as inst:
        log(f"seeding {n} secrets")
        seeded = bulk_insert(
            inst.resolved_database_url,
            master_key_path=inst.master_key_path,
            keeper_public_key_path=inst.keeper_public_key_path,
            keeper_dir=inst.keeper_dir,
            owner_name="admin",
            prefix=PREFIX,
            start=0,
            count=n,
        )
        report["seed_s"] = seeded.seconds
        log(f"seeded in {seeded.seconds:.0f} s")
        with inst.server(workers=2) as srv:
            load = Load(srv.url, inst.admin_token, n)
            report["rotations"] = rotations(inst, load, baseline_s)
            _save(report)  # a long run keeps what it measured if a later part fails
            log("backup and restore")
            report["backup"] = backup_restore(inst, inst.root)
            _save(report)
    if args.skip_failover:
        report["failover_skipped"] = "--skip-failover"
    else:
        log("failover")
        try:
            with tempfile.TemporaryDirectory(prefix="sealbox-bench-failover-") as tmp:
                report["failover"] = failover(Path(tmp))
        except OSError as exc:
            report["failover_skipped"] = f"PostgreSQL or processes unavailable: {type(exc).__name__}"
    report["loadavg_end"] = os.getloadavg()
    _save(report)
    print(render(report))
    return 0


def _save(report: dict[str, Any]) -> None:
    out = BENCH_DIR / "results" / "operations.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
