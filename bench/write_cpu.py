"""Server CPU per durable write: creates and replaces one after another, the server's CPU seconds over
the requests. Repeatable on a shared machine where req/s is not: another process's load changes how
long a request waits, hardly how much CPU it takes.

One worker, one keep-alive client connection (http.client, in this process: its CPU is not counted),
SQLite (``synchronous=FULL``) and/or PostgreSQL. ``--baseline-src DIR`` measures another tree's
``src/`` on the same database in the same run, alternated with this one (the order swapped each round).
``--profile`` py-spies the worker (``--gil``: where its CPU goes) during one more round of creates.

    .venv/bin/python -m bench.write_cpu [--requests 400] [--rounds 2] [--src DIR] [--baseline-src DIR] [--profile]

(or ``scripts/bench write_cpu``). Prints a markdown table and writes ``bench/results/write_cpu.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pyspy import find_py_spy, record, wait_records
from bench.stack import BENCH_DIR, ServerProcess, postgres_database, sealbox_instance, tree_cpu_seconds

RESULTS = BENCH_DIR / "results" / "write_cpu.json"
PG_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
VALUE = "v" * 48


class Client:
    """One keep-alive connection; each call answers its status (the body is read and dropped)."""

    def __init__(self, srv: ServerProcess, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict[str, Any]) -> int:
        self.conn.request(method, path, body=json.dumps(body), headers=self.headers)
        answer = self.conn.getresponse()
        answer.read()
        return answer.status

    def close(self) -> None:
        self.conn.close()


def _creates(client: Client, tag: str, n: int) -> int:
    return sum(
        client.call("POST", "/api/v1/secrets", {"name": f"{tag}-{i}", "value": f"{VALUE}-{i}"}) == 201
        for i in range(n)
    )


def _replaces(client: Client, tag: str, n: int) -> int:
    return sum(
        client.call("PUT", f"/api/v1/secrets/{tag}-{i % 50}/value", {"value": f"{VALUE}-r{i}"}) == 200
        for i in range(n)
    )


def _measure(srv: ServerProcess, op: Any, client: Client, tag: str, n: int) -> dict[str, Any]:
    before = tree_cpu_seconds(srv.pid)
    t0 = time.monotonic()
    ok = op(client, tag, n)
    wall = time.monotonic() - t0
    spent = tree_cpu_seconds(srv.pid) - before
    return {
        "requests": n,
        "ok": ok,
        "cpu_ms_per_req": spent * 1000 / n,
        "wall_ms_per_req": wall * 1000 / n,
        "loadavg_1m": os.getloadavg()[0],
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    trees = [("this tree", args.src)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
    stamp = int(time.time()) % 100000
    for backend in args.backends.split(","):
        pg = postgres_database(PG_SERVER_URL) if backend == "postgresql" else None
        url = pg.__enter__() if pg is not None else None
        try:
            with sealbox_instance(f"write-cpu-{backend}", database_url=url) as inst:
                for rnd in range(args.rounds):
                    for tree, src in trees if rnd % 2 == 0 else trees[::-1]:
                        env = {"PYTHONPATH": str(Path(src).resolve())} if src else None
                        with inst.server(workers=1, extra_env=env) as srv:
                            client = Client(srv, inst.admin_token)
                            tag = f"w{stamp}{rnd}{tree[0]}"
                            _creates(client, tag + "warm", 50)  # warm-up (imports, caches), not counted
                            for op_name, op in (("create", _creates), ("replace", _replaces)):
                                m = _measure(srv, op, client, tag, args.requests)
                                rows.append(
                                    {"backend": backend, "tree": tree, "round": rnd, "op": op_name, **m}
                                )
                                print(_line(rows[-1]), file=sys.stderr, flush=True)
                            if args.profile and rnd == 0 and tree == "this tree":
                                _profile(srv, client, backend, tag, args.requests)
                            client.close()
        finally:
            if pg is not None:
                pg.__exit__(None, None, None)
    return rows


def _profile(srv: ServerProcess, client: Client, backend: str, tag: str, n: int) -> None:
    if find_py_spy() is None:
        print("no py-spy: profile skipped", file=sys.stderr)
        return
    out = BENCH_DIR / "results"
    for op_name, op in (("create", _creates), ("replace", _replaces)):
        name = f"write-cpu-{backend}-{op_name}"
        procs = record(srv.worker_pids()[0], 12, out, name)
        time.sleep(0.5)
        end = time.monotonic() + 10
        i = 0
        while time.monotonic() < end:
            op(client, f"{tag}p{i}" if op_name == "create" else tag, 50)
            i += 1
        result = wait_records(procs, out, name, 60)
        print(json.dumps(result.get("gil", {}), indent=1)[:6000], file=sys.stderr)


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['backend']} {r['tree']} {r['op']} round {r['round']}: cpu {r['cpu_ms_per_req']:.2f} ms/req, "
        f"wall {r['wall_ms_per_req']:.2f} ms/req, ok {r['ok']}/{r['requests']}, load {r['loadavg_1m']:.1f}"
    )


def table(rows: list[dict[str, Any]]) -> str:
    keys = sorted({(r["backend"], r["op"], r["tree"]) for r in rows})
    out = [
        "| backend | op | tree | CPU ms/req median (min-max) | wall ms/req median | load |",
        "|---|---|---|---:|---:|---:|",
    ]
    for backend, op, tree in keys:
        sel = [r for r in rows if (r["backend"], r["op"], r["tree"]) == (backend, op, tree)]
        cpu = [r["cpu_ms_per_req"] for r in sel]
        load = [r["loadavg_1m"] for r in sel]
        out.append(
            f"| {backend} | {op} | {tree} | {statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) "
            f"| {statistics.median(r['wall_ms_per_req'] for r in sel):.2f} "
            f"| {min(load):.1f}-{max(load):.1f} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--baseline-src", help="another tree's src/ directory, measured alternately")
    ap.add_argument("--src", help="this tree's src/ as a snapshot (default: the installed sealbox)")
    ap.add_argument("--profile", action="store_true", help="py-spy the worker under creates and replaces")
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument("--quick", action="store_true", help="a smoke run: SQLite, 1 round of 30 requests")
    args = ap.parse_args(argv)
    if args.quick:
        args.requests, args.rounds, args.backends = 30, 1, "sqlite"
    for k in [k for k in os.environ if k.startswith("SEALBOX_")]:
        del os.environ[k]
    os.umask(0o077)
    rows = run(args)
    print(table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
