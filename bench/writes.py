"""The durable-write benchmark: creates and replaces on SQLite (``synchronous=FULL``) and PostgreSQL,
each round beside OpenBao KV v2 writes on single-node raft (its durable store) measured in the same
round with the same wrk client. Rounds alternate the targets so that background load hits all alike.

``--baseline-src DIR`` adds a row set for another source tree (a checkout's ``src``, put first on the
servers' ``PYTHONPATH``) on the same database, alternated with this tree's: before/after in one run.

Run from the repo root: ``.venv/bin/python -m bench.writes [--rounds 3] [--seconds 5]``
(or ``scripts/bench writes``). Prints a markdown table (medians over the rounds, min-max beside them)
and writes ``bench/results/writes.json``. ``--profile`` py-spies one worker under c=16 creates.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bulk import bulk_insert, count_secrets
from bench.loadgen import LoadResult, concurrency_params, find_wrk, run_wrk
from bench.openbao import BaoServer, bao_raft, find_bao, seed_kv
from bench.pyspy import find_py_spy, record, wait_records
from bench.stack import (
    BENCH_DIR,
    SealboxInstance,
    ServerProcess,
    postgres_database,
    sealbox_instance,
    tree_cpu_seconds,
)

RESULTS = BENCH_DIR / "results" / "writes.json"
PG_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SEEDED = 1000
VALUE = "v" * 48  # as bench/store.py: a 48-byte value plus "-<n>"
_T0 = time.monotonic()
Op = Callable[[str, int, float], LoadResult]  # (run tag, concurrency, seconds)


def log(msg: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _wrk(url: str, method: str, headers: dict[str, str], body: str, c: int, dur: float) -> LoadResult:
    conns, threads = concurrency_params(c)
    return run_wrk(
        url,
        method=method,
        headers={**headers, "Content-Type": "application/json"},
        body_template=body,
        rand_max=SEEDED,
        connections=conns,
        threads=threads,
        duration_s=dur,
    )


def sealbox_ops(srv: ServerProcess, token: str) -> dict[str, Op]:
    auth = {"Authorization": f"Bearer {token}"}
    value = '"value":"' + VALUE + '-{n}"'
    return {
        "create": lambda tag, c, d: _wrk(
            f"{srv.url}/api/v1/secrets", "POST", auth, '{"name":"' + tag + '-{n}",' + value + "}", c, d
        ),
        "replace": lambda _tag, c, d: _wrk(
            f"{srv.url}/api/v1/secrets/s{{rand}}/value", "PUT", auth, "{" + value + "}", c, d
        ),
    }


def bao_ops(bao: BaoServer) -> dict[str, Op]:
    body = '{"data":{"value":"' + VALUE + '-{n}"}}'
    url = f"{bao.addr}/v1/{bao.mount}/data"
    return {
        "create": lambda tag, c, d: _wrk(f"{url}/{tag}-{{n}}", "POST", bao.headers, body, c, d),
        "replace": lambda _tag, c, d: _wrk(f"{url}/k{{rand}}", "POST", bao.headers, body, c, d),
    }


def _measure(pids: tuple[int, ...], op: Op, tag: str, c: int, seconds: float) -> dict[str, Any]:
    before = tree_cpu_seconds(*pids)
    res = op(tag, c, seconds)
    time.sleep(0.2)  # a request still in flight at wrk's deadline completes
    spent = tree_cpu_seconds(*pids) - before
    return {
        **res.as_dict(),
        "cpu_ms_per_req": spent * 1000 / res.requests if res.requests else None,
        "loadavg_1m": os.getloadavg()[0],
    }


@contextmanager
def _instance(backend: str, stack: ExitStack) -> Iterator[SealboxInstance]:
    url = stack.enter_context(postgres_database(PG_SERVER_URL)) if backend == "postgresql" else None
    with sealbox_instance(f"writes-{backend}", database_url=url) as inst:
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
        yield inst


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    levels = [int(c) for c in args.levels.split(",")]
    ops = args.ops.split(",")
    trees = [("this tree", None)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
    tag = f"{int(time.time()) % 100000}"
    with ExitStack() as stack:
        instances = {b: stack.enter_context(_instance(b, stack)) for b in args.backends.split(",")}
        bao = stack.enter_context(bao_raft()) if find_bao() and not args.no_openbao else None
        if bao is not None:
            seed_kv(bao, SEEDED)
        for rnd in range(args.rounds):
            for backend, inst in instances.items():
                order = trees if rnd % 2 == 0 else trees[::-1]
                for tree, src in order:
                    env = {"PYTHONPATH": str(Path(src).resolve())} if src else None
                    with inst.server(workers=args.workers, extra_env=env) as srv:
                        sb = sealbox_ops(srv, inst.admin_token)
                        sb["create"](f"warm{rnd}{tree[0]}", 16, 1.0)  # warm-up, not recorded
                        for op in ops:
                            for c in levels:
                                run_tag = f"c{tag}{rnd}{backend[0]}{tree[0]}{c}"
                                m = _measure((srv.pid,), sb[op], run_tag, c, args.seconds)
                                if op == "create":
                                    stored = count_secrets(
                                        inst.resolved_database_url, name_prefix=run_tag + "-"
                                    )
                                    m["stored"] = stored
                                rows.append(
                                    {
                                        "round": rnd,
                                        "target": f"sealbox {backend}",
                                        "tree": tree,
                                        "op": op,
                                        "concurrency": c,
                                        **m,
                                    }
                                )
                                log(_line(rows[-1]))
                        if args.profile and rnd == 0 and tree == "this tree":
                            _profile(srv, sb["create"], backend)
            if bao is not None:
                bo = bao_ops(bao)
                for op in ops:
                    for c in levels:
                        m = _measure((bao.pid,), bo[op], f"b{tag}{rnd}x{c}", c, args.seconds)
                        rows.append(
                            {
                                "round": rnd,
                                "target": "openbao raft",
                                "tree": "",
                                "op": op,
                                "concurrency": c,
                                **m,
                            }
                        )
                        log(_line(rows[-1]))
    return rows


def _profile(srv: ServerProcess, create: Op, backend: str) -> None:
    if find_py_spy() is None:
        log("no py-spy: profile skipped")
        return
    out = BENCH_DIR / "results"
    name = f"writes-{backend}"
    procs = record(srv.worker_pids()[0], 8, out, name)
    create(f"prof{int(time.time()) % 10000}", 16, 10.0)
    result = wait_records(procs, out, name, 60)
    log(f"profile: {json.dumps(result.get('gil', {}).get('self_by_library', {}), indent=1)}")


def _line(r: dict[str, Any]) -> str:
    cpu = r["cpu_ms_per_req"]
    return (
        f"{r['target']} {r['tree']} {r['op']} c={r['concurrency']}: {r['requests_per_s']:,.0f} req/s "
        f"p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms, cpu {cpu or 0:.2f} ms/req, "
        f"non-2xx {r['non_2xx']}, load {r['loadavg_1m']:.1f}"
    )


def table(rows: list[dict[str, Any]]) -> str:
    keys = sorted(
        {(r["target"], r["tree"], r["op"], r["concurrency"]) for r in rows},
        key=lambda k: (k[2], k[3], k[0].startswith("openbao"), k[0], k[1]),
    )
    out = [
        "| target | op | conc. | req/s median (min-max) | p50 ms | p99 ms median (min-max) | CPU ms/req |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for target, tree, op, c in keys:
        sel = [
            r for r in rows if (r["target"], r["tree"], r["op"], r["concurrency"]) == (target, tree, op, c)
        ]
        rate = [r["requests_per_s"] for r in sel]
        p99 = [r["p99_ms"] for r in sel]
        cpu = [r["cpu_ms_per_req"] for r in sel if r["cpu_ms_per_req"] is not None]
        name = f"{target} ({tree})" if tree else target
        out.append(
            f"| {name} | {op} | {c} | {statistics.median(rate):,.0f} ({min(rate):,.0f}-{max(rate):,.0f}) "
            f"| {statistics.median(r['p50_ms'] for r in sel):.1f} "
            f"| {statistics.median(p99):.1f} ({min(p99):.1f}-{max(p99):.1f}) "
            f"| {statistics.median(cpu) if cpu else 0:.2f} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--levels", default="1,16")
    ap.add_argument("--ops", default="create,replace")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--baseline-src", help="another tree's src/ directory, measured alternately")
    ap.add_argument("--no-openbao", action="store_true")
    ap.add_argument("--profile", action="store_true", help="py-spy one worker under c=16 creates")
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    for k in [k for k in os.environ if k.startswith("SEALBOX_")]:
        del os.environ[k]
    os.umask(0o077)
    if find_wrk() is None:
        print("wrk not installed: run bench/install.sh", file=sys.stderr)
        return 2
    load0 = os.getloadavg()
    rows = run(args)
    print(table(rows))
    print(f"\nload average at start {load0[0]:.2f}, at end {os.getloadavg()[0]:.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"args": vars(args) | {"json": str(args.json)}, "rows": rows}, indent=2, default=str)
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
