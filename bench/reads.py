"""The read-throughput benchmark: authenticated metadata reads, list pages and /me from sealbox on
SQLite and on PostgreSQL, each round beside OpenBao KV v2 reads (``bao server -dev``) with the root token
and with a policy token (what a real user holds), and beside the ceiling for this stack (bench/ceiling.py:
a bare ASGI app on granian that checks a bearer header), all with the same wrk client. Every target is
measured in every round, one after the other, so that each ratio compares measurements taken seconds
apart on a busy machine.

Run from the repo root: ``.venv/bin/python -m bench.reads [--rounds 3] [--seconds 5] [--workers 1,2]``
(or ``scripts/bench reads``). Prints a markdown table (medians over the rounds, min-max beside them,
ratios as the median of the rounds' ratios, the load average) and writes ``bench/results/reads.json``.
``--before-src OLD/src`` adds sealbox from an older tree (on PostgreSQL by default) as a baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bulk import bulk_insert
from bench.ceiling import ceiling_server
from bench.loadgen import LoadResult, concurrency_params, find_wrk, run_wrk
from bench.openbao import BaoServer, bao_dev, find_bao, policy_token, seed_kv
from bench.stack import (
    BENCH_DIR,
    SealboxInstance,
    ServerProcess,
    free_port,
    postgres_database,
    sealbox_instance,
    tree_cpu_seconds,
)

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


@dataclass(frozen=True)
class Target:
    """One thing measured in every round: sealbox on a database, OpenBao with a token, the ceiling."""

    name: str  # "sealbox sqlite", "openbao root", "ceiling", ...
    op: str
    pid: int
    run: Callable[[int, float], LoadResult]


def _row(
    target: Target, workers: int, c: int, rnd: int, res: LoadResult, cpu: float | None
) -> dict[str, Any]:
    bad = f" non-2xx={res.non_2xx} errors={res.errors}" if res.non_2xx or res.errors else ""
    log(
        f"round {rnd} {target.name} w={workers} {target.op} c={c}: {res.requests_per_s:,.0f} req/s "
        f"p50 {res.p50_ms:.2f} p99 {res.p99_ms:.2f} ms"
        + ("" if cpu is None else f" cpu {cpu:.3f} ms/req")
        + bad
    )
    return {
        "target": target.name,
        "op": target.op,
        "workers": workers,
        "concurrency": c,
        "round": rnd,
        "cpu_ms_per_req": cpu,
        "loadavg_1m": os.getloadavg()[0],
        **res.as_dict(),
    }


@contextlib.contextmanager
def _instances(databases: list[str], stack: contextlib.ExitStack) -> Iterator[dict[str, SealboxInstance]]:
    found: dict[str, SealboxInstance] = {}
    for db in databases:
        url = None
        if db == "postgresql":
            try:
                url = stack.enter_context(postgres_database())
            except Exception as exc:
                log(f"no PostgreSQL ({type(exc).__name__}): skipped")
                continue
        inst = stack.enter_context(sealbox_instance(f"reads-{db}", database_url=url))
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
        found[db] = inst
    yield found


def _targets(
    args: argparse.Namespace,
    w: int,
    insts: dict[str, SealboxInstance],
    baos: dict[str, BaoServer],
    stack: Any,
) -> list[Target]:
    """Start what runs with `w` workers (sealbox on each database, the ceiling) and list every target."""
    ops = [o for o in args.ops.split(",") if o]
    targets: list[Target] = []
    servers = []
    for db, inst in insts.items():
        variants = [("", None)]
        if args.before_src and db in args.before_on.split(","):
            variants.append((" (before)", {"PYTHONPATH": str(Path(args.before_src).resolve())}))
        for suffix, env in variants:
            srv = stack.enter_context(inst.server(workers=w, extra_env=env))
            servers.append(srv)
            fns = sealbox_ops(srv, inst.admin_token)
            targets += [Target(f"sealbox {db}{suffix}", op, srv.pid, fns[op]) for op in ops]
    for kind, bao in baos.items():
        targets.append(Target(f"openbao {kind}", "read", bao.pid, bao_op(bao)))
    if not args.no_ceiling:
        ceiling = stack.enter_context(ceiling_server(free_port(), w, secrets.token_urlsafe(32)))
        bare = {"Authorization": ceiling.headers["Authorization"]}
        targets.append(Target("ceiling", "read", ceiling.pid, lambda c, d: _wrk(ceiling.url, bare, c, d)))
    time.sleep(1.0)  # the start-up conversion sweep
    for t in targets:
        if t.op == "read":
            t.run(16, args.warmup)
    return targets


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    levels = [int(c) for c in args.levels.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    with contextlib.ExitStack() as stack, _instances(args.databases.split(","), stack) as insts:
        baos: dict[str, BaoServer] = {}
        if find_bao() is not None and not args.no_openbao:
            root = stack.enter_context(bao_dev())
            seed_kv(root, SEEDED)
            baos = {"root": root, "policy": policy_token(root)}
        for w in workers:
            with contextlib.ExitStack() as per_w:
                targets = _targets(args, w, insts, baos, per_w)
                for rnd in range(args.rounds):
                    for c in levels:
                        for t in targets:
                            res, cpu = _metered(t.pid, t.run, c, args.seconds)
                            rows.append(_row(t, w, c, rnd, res, cpu))
    return rows


def _ratio(mine: list[dict[str, Any]], others: dict[int, dict[str, Any]]) -> str:
    """The median of the rounds' ratios (each round's two measurements taken seconds apart)."""
    ratios = [
        r["requests_per_s"] / others[r["round"]]["requests_per_s"] for r in mine if r["round"] in others
    ]
    return f"{statistics.median(ratios):.2f}" if ratios else "-"


def table(rows: list[dict[str, Any]]) -> str:
    """Medians over rounds, ranges beside them; every ratio is taken round by round (same round, same load)."""
    out = [
        "| target | op | workers | conc. | req/s (min-max) | p50 / p99 ms | CPU ms/req | "
        "x sealbox SQLite | x OpenBao root | x OpenBao policy | share of ceiling | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keys = sorted({(r["workers"], r["concurrency"], r["target"], r["op"]) for r in rows})

    def by_round(target: str, op: str, w: int, c: int) -> dict[int, dict[str, Any]]:
        return {
            r["round"]: r
            for r in rows
            if (r["target"], r["op"], r["workers"], r["concurrency"]) == (target, op, w, c)
        }

    for w, c, target, op in keys:
        mine = list(by_round(target, op, w, c).values())
        rps = [r["requests_per_s"] for r in mine]
        cpu = [r["cpu_ms_per_req"] for r in mine if r["cpu_ms_per_req"] is not None]
        reads = op == "read"
        cells = [
            _ratio(mine, by_round("sealbox sqlite", op, w, c)) if target != "sealbox sqlite" else "-",
            _ratio(mine, by_round("openbao root", "read", w, c)) if reads else "-",
            _ratio(mine, by_round("openbao policy", "read", w, c)) if reads else "-",
            _ratio(mine, by_round("ceiling", "read", w, c)) if reads else "-",
        ]
        load = [r["loadavg_1m"] for r in mine]
        out.append(
            f"| {target} | {op} | {w} | {c} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | "
            f"{statistics.median(r['p50_ms'] for r in mine):.2f} / "
            f"{statistics.median(r['p99_ms'] for r in mine):.2f} | "
            f"{statistics.median(cpu):.3f} | " + " | ".join(cells) + f" | {min(load):.1f}-{max(load):.1f} |"
            if cpu
            else f"| {target} | {op} | {w} | {c} | {statistics.median(rps):,.0f} | | | "
            + " | ".join(cells)
            + " | |"
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
    ap.add_argument(
        "--databases", default="sqlite,postgresql", help="sealbox on each (PostgreSQL at 127.0.0.1)"
    )
    ap.add_argument("--before-src", help="also run sealbox from this src/ tree (a baseline of older code)")
    ap.add_argument("--before-on", default="postgresql", help="the databases the --before-src tree runs on")
    ap.add_argument("--no-openbao", action="store_true")
    ap.add_argument("--no-ceiling", action="store_true")
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
