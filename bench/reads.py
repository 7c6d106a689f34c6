"""The read-throughput benchmark: authenticated metadata reads, list pages and /me on SQLite, each
round beside OpenBao KV v2 reads (``bao server -dev``) measured in the same round with the same wrk
client, so that the ratio holds on a busy machine. Rounds alternate sealbox and OpenBao.

Run from the repo root: ``.venv/bin/python -m bench.reads [--rounds 3] [--seconds 5] [--workers 1,2]``
(or ``scripts/bench reads``). Prints a markdown table (medians over the rounds, min-max beside them)
and writes ``bench/results/reads.json``. ``--profile`` py-spies one worker under c=16 reads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bulk import bulk_insert
from bench.loadgen import LoadResult, concurrency_params, find_wrk, run_wrk
from bench.openbao import BaoServer, bao_dev, find_bao, seed_kv
from bench.pyspy import find_py_spy, record, wait_records
from bench.stack import BENCH_DIR, ServerProcess, sealbox_instance, tree_cpu_seconds

RESULTS = BENCH_DIR / "results" / "reads.json"
SEEDED = 1000
_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _wrk(url: str, headers: dict[str, str], c: int, dur: float, rand_max: int | None = None) -> LoadResult:
    conns, threads = concurrency_params(c)
    return run_wrk(
        url, headers=headers, rand_max=rand_max, connections=conns, threads=threads, duration_s=dur
    )


def _metered(
    pid: int, run: Callable[[int, float], LoadResult], c: int, seconds: float
) -> tuple[LoadResult, float | None]:
    before = tree_cpu_seconds(pid)
    res = run(c, seconds)
    spent = tree_cpu_seconds(pid) - before
    return res, (spent * 1000 / res.requests if res.requests else None)


def sealbox_ops(srv: ServerProcess, token: str) -> dict[str, Callable[[int, float], LoadResult]]:
    auth = {"Authorization": f"Bearer {token}"}
    return {
        "read": lambda c, d: _wrk(f"{srv.url}/api/v1/secrets/s{{rand}}", auth, c, d, SEEDED),
        "list": lambda c, d: _wrk(f"{srv.url}/api/v1/secrets?limit=100", auth, c, d),
        "me": lambda c, d: _wrk(f"{srv.url}/api/v1/me", auth, c, d),
    }


def bao_op(bao: BaoServer) -> Callable[[int, float], LoadResult]:
    return lambda c, d: _wrk(f"{bao.addr}/v1/{bao.mount}/data/k{{rand}}", bao.headers, c, d, SEEDED)


def _row(
    target: str, op: str, workers: int | None, c: int, rnd: int, res: LoadResult, cpu: float | None
) -> dict[str, Any]:
    bad = f" non-2xx={res.non_2xx} errors={res.errors}" if res.non_2xx or res.errors else ""
    log(
        f"round {rnd} {target} w={workers} {op} c={c}: {res.requests_per_s:,.0f} req/s "
        f"p50 {res.p50_ms:.2f} p99 {res.p99_ms:.2f} ms"
        + ("" if cpu is None else f" cpu {cpu:.3f} ms/req")
        + bad
    )
    return {
        "target": target,
        "op": op,
        "workers": workers,
        "concurrency": c,
        "round": rnd,
        "cpu_ms_per_req": cpu,
        "loadavg_1m": os.getloadavg()[0],
        **res.as_dict(),
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    levels = [int(c) for c in args.levels.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    ops = [o for o in args.ops.split(",") if o]
    bao_ctx = bao_dev() if find_bao() is not None and not args.no_openbao else None
    with sealbox_instance("reads") as inst:
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
        bao = bao_ctx.__enter__() if bao_ctx else None
        try:
            if bao is not None:
                seed_kv(bao, SEEDED)
                bao_op(bao)(16, args.warmup)
            for w in workers:
                with inst.server(workers=w) as srv:
                    time.sleep(1.0)  # the start-up conversion sweep
                    fns = sealbox_ops(srv, inst.admin_token)
                    fns["read"](16, args.warmup)
                    for rnd in range(args.rounds):
                        for c in levels:
                            for op in ops:
                                res, cpu = _metered(srv.pid, fns[op], c, args.seconds)
                                rows.append(_row("sealbox", op, w, c, rnd, res, cpu))
                            if bao is not None:
                                res, cpu = _metered(bao.pid, bao_op(bao), c, args.seconds)
                                rows.append(_row("openbao", "read", w, c, rnd, res, cpu))
                    if args.profile and w == workers[0] and find_py_spy() is not None:
                        out = BENCH_DIR / "results"
                        out.mkdir(parents=True, exist_ok=True)
                        pid = (srv.worker_pids() or [srv.pid])[0]
                        procs = record(pid, 10, out, f"reads-w{w}")
                        fns["read"](16, 11)
                        prof = wait_records(procs, out, f"reads-w{w}", timeout_s=70)
                        log(f"profile: {json.dumps(prof)[:2000]}")
        finally:
            if bao_ctx is not None:
                bao_ctx.__exit__(None, None, None)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Medians over rounds; the OpenBao ratio is taken round by round (same round, same load)."""
    out = [
        "| op | workers | conc. | sealbox req/s (min-max) | p50 / p99 ms | CPU ms/req | OpenBao dev req/s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keys = sorted({(r["op"], r["workers"], r["concurrency"]) for r in rows if r["target"] == "sealbox"})
    for op, w, c in keys:
        mine = [
            r
            for r in rows
            if r["target"] == "sealbox" and (r["op"], r["workers"], r["concurrency"]) == (op, w, c)
        ]
        bao = {
            r["round"]: r
            for r in rows
            if r["target"] == "openbao" and r["workers"] == w and r["concurrency"] == c
        }
        rps = [r["requests_per_s"] for r in mine]
        ratios = [r["requests_per_s"] / bao[r["round"]]["requests_per_s"] for r in mine if r["round"] in bao]
        cpu = [r["cpu_ms_per_req"] for r in mine if r["cpu_ms_per_req"] is not None]
        bao_rps = [bao[k]["requests_per_s"] for k in bao]
        out.append(
            f"| {op} | {w} | {c} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | "
            f"{statistics.median(r['p50_ms'] for r in mine):.2f} / {statistics.median(r['p99_ms'] for r in mine):.2f} | "
            f"{statistics.median(cpu):.3f} | "
            + (
                f"{statistics.median(bao_rps):,.0f} | {statistics.median(ratios):.2f} |"
                if ratios and op == "read"
                else "- | - |"
            )
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--levels", default="1,16")
    ap.add_argument("--ops", default="read,list,me")
    ap.add_argument("--no-openbao", action="store_true")
    ap.add_argument("--profile", action="store_true", help="py-spy the first worker under c=16 reads")
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s (a smoke test)")
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 2, 1
    for k in [k for k in os.environ if k.startswith("SEALBOX_")]:
        del os.environ[k]
    os.umask(0o077)
    if find_wrk() is None:
        print("wrk not installed: run bench/install.sh", file=sys.stderr)
        return 2
    rows = run(args)
    text = table(rows)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "cpus": os.cpu_count()}, indent=1))
    log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
