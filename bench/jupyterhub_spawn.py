"""Time a JupyterHub spawn (REST POST -> server ready) with 1, 10 and 100 sealbox secrets, beside the same
spawn without sealbox (plain SimpleLocalProcessSpawner), in the same run, on the same real hub setup as
tests/integration/test_jupyterhub.py (real sealbox server and keeper, real proxy, real single-user servers).

    python -m bench.jupyterhub_spawn [--spawns N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.integration.jupyterhub_support import hub_service_token, running_hub
from tests.support.processes import running_stack


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spawns", type=int, default=20, help="spawns per row")
    parser.add_argument("--quick", action="store_true", help="3 spawns per row")
    args = parser.parse_args()
    spawns = 3 if args.quick else args.spawns
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-jh-") as tmp:
        root = Path(tmp)
        (root / "sealbox").mkdir()
        with running_stack(root / "sealbox") as stack:
            token = stack.add_user("alice")
            with stack.client(token) as alice:
                for i in range(100):
                    made = alice.post(
                        "/api/v1/secrets", json={"name": f"s{i:03d}", "value": f"bench-value-{i}"}
                    )
                    assert made.status_code == 201, made.text
            token_file = hub_service_token(stack, root, kinds=["generic"])
            for label, sealbox, count in (
                ("without sealbox", False, 0),
                ("sealbox, 1 secret", True, 1),
                ("sealbox, 10 secrets", True, 10),
                ("sealbox, 100 secrets", True, 100),
            ):
                with running_hub(
                    root / f"hub-{count}-{sealbox}", stack=stack, token_file=token_file, sealbox=sealbox
                ) as hub:
                    hub.add_user("alice")
                    options = {"sealbox": {"secrets": [f"s{i:03d}" for i in range(count)]}} if count else {}
                    hub.spawn("alice", options)  # warm-up (imports, first kernel specs)
                    hub.stop_server("alice")
                    times = []
                    for _ in range(spawns):
                        started = time.perf_counter()
                        response = hub.spawn("alice", options)
                        times.append((time.perf_counter() - started) * 1000)
                        assert response.status_code in (201, 202), response.text
                        hub.stop_server("alice")
                    rows[label] = times
                    print(f"{label}: p50 {statistics.median(times):.0f} ms", file=sys.stderr)
    base = statistics.median(rows["without sealbox"])
    print(f"| spawn (REST POST -> ready), {spawns} each | p50 | p99 | added p50 |")
    print("|---|---:|---:|---:|")
    for label, times in rows.items():
        p50 = statistics.median(times)
        added = "" if label == "without sealbox" else f"+{p50 - base:.0f} ms"
        print(f"| {label} | {p50:.0f} ms | {_pct(times, 0.99):.0f} ms | {added} |")
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "jupyterhub_spawn.json").write_text(json.dumps({"spawns": spawns, "ms": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
