"""The scale benchmark: one owner with 1,000 stored secrets beside one with 1,000,000, in the same run.

Two sealbox instances (each its own data dir, SQLite database and keeper) are seeded with
``bench/bulk.py`` (the stored form the keeper's conversion leaves, built directly; a sample is opened
through the whole key hierarchy). Then, alternating the two in every step so that the shared
machine's load falls on both alike:

- start: ``sealbox server`` (default workers) until ``/healthz`` answers, ``--starts`` times each;
- memory: VmRSS summed over granian's process and its workers, after warm-up and after the runs;
- list pages (limit=100, c=16): the first page and the page after a cursor from the middle,
  ``--rounds`` rounds of ``--seconds`` each, the two servers in turns (the order swaps every round);
- the SQL behind a list page at the large size, with SQLite's ``EXPLAIN QUERY PLAN``.

Run from the repo root: ``.venv/bin/python -m bench.scale [--quick]``. Prints markdown and writes
``bench/results/scale.json``. ``--quick`` (10,000 instead of 1,000,000) only smoke-tests the harness.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bulk import bulk_insert, count_secrets
from bench.stack import BENCH_DIR, SealboxInstance, ServerProcess, sealbox_instance, tree_cpu_seconds
from bench.store import DEFAULT_WORKERS, check_pages, deep_cursor, log, sealbox_list, sealbox_read
from sqlalchemy import event

from sealbox.domain.principals import Principal
from sealbox.services.secrets import secret_page
from sealbox.store.database import Database

RESULTS = BENCH_DIR / "results" / "scale.json"
SEED_CHUNK = 100_000
OPS = ("list first page", "list deep page")


def seed(inst: SealboxInstance, total: int) -> dict[str, Any]:
    """``total`` secrets ``b0`` .. for the admin, in chunks (each chunk: batches of 5,000 per transaction)."""
    t0 = time.monotonic()
    crypto = 0.0
    verified = 0
    for lo in range(0, total, SEED_CHUNK):
        res = bulk_insert(
            inst.resolved_database_url,
            master_key_path=inst.master_key_path,
            keeper_public_key_path=inst.keeper_public_key_path,
            keeper_dir=inst.keeper_dir,
            owner_name="admin",
            prefix="b",
            start=lo,
            count=min(SEED_CHUNK, total - lo),
            verify=2,
        )
        crypto += res.crypto_seconds
        verified += res.verified
        if total > SEED_CHUNK:
            log(f"seeded {lo + res.inserted:,} / {total:,}")
    seconds = time.monotonic() - t0
    log(f"seeded {total:,} in {seconds:.0f}s (crypto {crypto:.0f}s, {verified} opened and checked)")
    return {"stored": total, "seconds": seconds, "crypto_seconds": crypto, "verified_by_decrypting": verified}


def page_plans(inst: SealboxInstance, cursor_after: str) -> list[dict[str, Any]]:
    """Every statement one list page runs (first page, then after ``cursor_after``), with its plan."""
    db = Database.open(inst.resolved_database_url, run_migrations=False)
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.reading() as uow:
            admin = uow.users.by_name("admin")
            if admin is None:
                raise RuntimeError("no admin user")
            me = Principal(user=admin, token_id=None, client_addr=None)
            secret_page(uow, me, cursor=None, limit=100, prefix=None)
            secret_page(uow, me, cursor=cursor_after, limit=100, prefix=None)
        out = []
        with db.read() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            for statement, params in seen:
                rows = raw.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
                out.append({"sql": " ".join(statement.split()), "plan": [str(r[-1]) for r in rows]})
        return out
    finally:
        db.dispose()


def reused(root: Path) -> SealboxInstance:
    """An instance seeded by an earlier run and still up (its keeper running), from its root directory;
    its admin token is read from ``root/admin-token``."""
    keeper_dir = root / "data-keeper"
    return SealboxInstance(
        root=root,
        data_dir=root / "data",
        keeper_dir=keeper_dir,
        keeper_url=f"unix://{keeper_dir / 'keeper.sock'}",
        database_url=None,
        admin_token=(root / "admin-token").read_text().strip(),
    )


def _started(inst: SealboxInstance) -> tuple[float, float]:
    """Seconds until ``/healthz`` answers, and the CPU seconds the server's processes spent until then
    (the figure the machine's load does not stretch)."""
    with inst.server(workers=DEFAULT_WORKERS) as srv:
        return srv.start_s, tree_cpu_seconds(srv.pid)


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(
    small: SealboxInstance, large: SealboxInstance, sizes: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    pairs = {"small": small, "large": large}
    starts: dict[str, list[float]] = {"small": [], "large": []}
    start_cpu: dict[str, list[float]] = {"small": [], "large": []}
    for k in range(args.starts):
        for name in ("small", "large") if k % 2 == 0 else ("large", "small"):
            wall, cpu = _started(pairs[name])
            starts[name].append(wall)
            start_cpu[name].append(cpu)
            log(
                f"start {name} ({sizes[name]:,}): {wall:.2f}s, {cpu:.2f} CPU s, load {os.getloadavg()[0]:.1f}"
            )
    p99: dict[str, dict[str, list[float]]] = {n: {op: [] for op in OPS} for n in pairs}
    rps: dict[str, dict[str, list[float]]] = {n: {op: [] for op in OPS} for n in pairs}
    memory: dict[str, dict[str, Any]] = {}
    loads: list[float] = []
    with ExitStack() as stack:
        servers: dict[str, ServerProcess] = {
            n: stack.enter_context(inst.server(workers=DEFAULT_WORKERS)) for n, inst in pairs.items()
        }
        cursors: dict[str, str] = {}
        for n, inst in pairs.items():
            t0 = time.monotonic()
            cursors[n], after = deep_cursor(inst, servers[n], sizes[n] // 2)
            check_pages(inst, servers[n], cursors[n], after)
            log(f"{n}: cursor after item {sizes[n] // 2:,} ({after}) in {time.monotonic() - t0:.1f}s")
        for n, inst in pairs.items():
            srv, tok = servers[n], inst.admin_token
            for _ in range(2):  # warm-up: reads and both pages, not recorded
                sealbox_read(srv, tok, "b", sizes[n], 16, args.warmup)
                sealbox_list(srv, tok, None, 16, args.warmup)
                sealbox_list(srv, tok, cursors[n], 16, args.warmup)
            memory[n] = {"rss_warm_bytes": srv.rss()[0], "processes": len(srv.rss()[1])}
        for r in range(args.rounds):
            for n in ("small", "large") if r % 2 == 0 else ("large", "small"):
                for op in OPS:
                    res = sealbox_list(
                        servers[n],
                        pairs[n].admin_token,
                        None if op == OPS[0] else cursors[n],
                        16,
                        args.seconds,
                    )
                    p99[n][op].append(res.p99_ms)
                    rps[n][op].append(res.requests_per_s)
                    loads.append(os.getloadavg()[0])
                    bad = f" non-2xx={res.non_2xx} errors={res.errors}" if res.non_2xx or res.errors else ""
                    log(f"round {r} {n} {op}: {res.requests_per_s:,.0f} req/s p99 {res.p99_ms:.0f} ms{bad}")
        for n in pairs:
            memory[n]["rss_after_bytes"] = servers[n].rss()[0]
    return {
        "start_s": {n: _summary(v) | {"all": v} for n, v in starts.items()},
        "start_cpu_s": {n: _summary(v) | {"all": v} for n, v in start_cpu.items()},
        "p99_ms": {n: {op: _summary(v) | {"all": v} for op, v in ops.items()} for n, ops in p99.items()},
        "req_per_s": {n: {op: _summary(v) for op, v in ops.items()} for n, ops in rps.items()},
        "p99_ratio_large_to_small": {
            op: statistics.median(b / a for a, b in zip(p99["small"][op], p99["large"][op], strict=True))
            for op in OPS
        },
        "memory": memory,
        "loadavg_1m": _summary(loads),
    }


def markdown(sizes: dict[str, int], data: dict[str, Any]) -> str:
    s, b = sizes["small"], sizes["large"]
    out = [
        f"### List pages at {s:,} and {b:,} stored (limit=100, c=16, {DEFAULT_WORKERS} workers, SQLite)",
        "",
        f"| page | p99 ms @{s:,} median (range) | p99 ms @{b:,} median (range) | paired p99 ratio (median) "
        f"| req/s @{s:,} | req/s @{b:,} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for op in OPS:
        x, y = data["p99_ms"]["small"][op], data["p99_ms"]["large"][op]
        out.append(
            f"| {op} | {x['median']:.0f} ({x['min']:.0f}-{x['max']:.0f}) | {y['median']:.0f} "
            f"({y['min']:.0f}-{y['max']:.0f}) | {data['p99_ratio_large_to_small'][op]:.2f} "
            f"| {data['req_per_s']['small'][op]['median']:,.0f} | {data['req_per_s']['large'][op]['median']:,.0f} |"
        )
    mem, st = data["memory"], data["start_s"]
    out += [
        "",
        "| stored | start s median (range) | start CPU s median (range) | RSS after warm-up MB "
        "| RSS after runs MB | processes |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, size in (("small", s), ("large", b)):
        cpu = data["start_cpu_s"][n]
        out.append(
            f"| {size:,} | {st[n]['median']:.2f} ({st[n]['min']:.2f}-{st[n]['max']:.2f}) "
            f"| {cpu['median']:.2f} ({cpu['min']:.2f}-{cpu['max']:.2f}) "
            f"| {mem[n]['rss_warm_bytes'] / 2**20:.1f} | {mem[n]['rss_after_bytes'] / 2**20:.1f} "
            f"| {mem[n]['processes']} |"
        )
    grow = (mem["large"]["rss_warm_bytes"] - mem["small"]["rss_warm_bytes"]) / 2**20
    la = data["loadavg_1m"]
    out += [
        "",
        f"Memory growth {s:,} -> {b:,}: {grow:+.1f} MB after warm-up. Load average (1 min) during the "
        f"list rounds: {la['median']:.1f} ({la['min']:.1f}-{la['max']:.1f}).",
        "",
        f"### The SQL of a list page at {b:,} (first page, then after a cursor), EXPLAIN QUERY PLAN",
        "",
    ]
    for p in data["plans"]:
        out += [f"- `{p['sql'][:160]}{'...' if len(p['sql']) > 160 else ''}`"]
        out += [f"  - {line}" for line in p["plan"]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10,000 instead of 1,000,000; short rounds")
    ap.add_argument("--large", type=int, default=None, help="secrets in the large instance")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None, help="per measured run")
    ap.add_argument("--starts", type=int, default=None, help="server starts per instance")
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument(
        "--reuse", type=Path, default=None, help="the root of a seeded instance still up, as the large one"
    )
    args = ap.parse_args(argv)
    args.large = args.large or (10_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.seconds = args.seconds or (2.0 if args.quick else 6.0)
    args.starts = args.starts or (2 if args.quick else 4)
    args.warmup = 1.0 if args.quick else 3.0
    for k in [k for k in os.environ if k.startswith("SEALBOX_")]:
        del os.environ[k]
    os.umask(0o077)
    sizes = {"small": 1_000, "large": args.large}
    started = time.monotonic()
    with ExitStack() as stack:
        small = stack.enter_context(sealbox_instance("scale-small"))
        seeding = [seed(small, sizes["small"])]
        if args.reuse is None:
            large = stack.enter_context(sealbox_instance("scale-large"))
            seeding.append(seed(large, sizes["large"]))
        else:
            large = reused(args.reuse)
            sizes["large"] = count_secrets(large.resolved_database_url)
            log(f"reusing {args.reuse}: {sizes['large']:,} secrets")
        for inst in (small, large):  # a first start migrates a reused database: not measured
            _started(inst)
        data = measure(small, large, sizes, args)
        with large.server(workers=DEFAULT_WORKERS) as srv:
            cursor, _ = deep_cursor(large, srv, 100)
        data["plans"] = page_plans(large, cursor)
    data |= {
        "sizes": sizes,
        "seeding": seeding,
        "workers": DEFAULT_WORKERS,
        "elapsed_s": time.monotonic() - started,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2) + "\n")
    print(markdown(sizes, data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
