"""Time a JupyterHub spawn (REST POST -> server ready) with 1, 10 and 100 sealbox secrets, beside the same
spawn without sealbox (plain SimpleLocalProcessSpawner), in the same run, on the same real hub setup as
tests/integration/test_jupyterhub.py (real sealbox server and keeper, real proxy, real single-user servers).

    python -m bench.jupyterhub_spawn [--spawns N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from tests.integration.jupyterhub_support import hub_service_token, running_hub
from tests.support.processes import running_stack


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


ROWS: list[tuple[str, int | None]] = [
    ("without sealbox", None),
    ("sealbox spawner, no secret chosen", 0),
    ("sealbox, 1 secret", 1),
    ("sealbox, 10 secrets", 10),
    ("sealbox, 100 secrets", 100),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spawns", type=int, default=20, help="spawns per row")
    parser.add_argument("--quick", action="store_true", help="3 spawns per row")
    args = parser.parse_args()
    spawns = 3 if args.quick else args.spawns
    rows: dict[str, list[float]] = {label: [] for label, _ in ROWS}
    with tempfile.TemporaryDirectory(prefix="bench-jh-") as tmp, ExitStack() as running:
        root = Path(tmp)
        (root / "sealbox").mkdir()
        stack = running.enter_context(running_stack(root / "sealbox"))
        token = stack.add_user("bench")
        with stack.client(token) as bench:
            for i in range(100):
                made = bench.post("/api/v1/secrets", json={"name": f"s{i:03d}", "value": f"bench-value-{i}"})
                assert made.status_code == 201, made.text
        token_file = hub_service_token(stack, root, kinds=["generic"])
        # Two hubs at once, the plain spawner and sealbox's; the rows take turns, spawn by spawn, so that
        # whatever else the machine does falls on every row alike.
        plain = running.enter_context(
            running_hub(root / "plain", stack=stack, token_file=token_file, sealbox=False)
        )
        ours = running.enter_context(running_hub(root / "sealbox-hub", stack=stack, token_file=token_file))
        for hub in (plain, ours):
            hub.add_user("bench")
            hub.spawn("bench", {})  # warm-up: imports, kernel specs, the proxy's first route
            hub.stop_server("bench")
        for round_ in range(spawns):
            for label, count in ROWS:
                hub = plain if count is None else ours
                options = {"sealbox": {"secrets": [f"s{i:03d}" for i in range(count)]}} if count else {}
                started = time.perf_counter()
                response = hub.spawn("bench", options)
                rows[label].append((time.perf_counter() - started) * 1000)
                assert response.status_code in (201, 202), response.text
                hub.stop_server("bench")
            print(f"round {round_ + 1}/{spawns}", file=sys.stderr)
        # sealbox's own part of each spawn (create the session, redeem, write the folder), as the hub logs it.
        ready = [
            float(m)
            for m in re.findall(
                rb"sealbox: \d+ secret\(s\) ready for bench in ([0-9.]+) ms", ours.log.read_bytes()
            )
        ]
    own: dict[int, list[float]] = {}
    counts = [count for _, count in ROWS if count]
    warm = ready[len(ready) - spawns * len(counts) :]
    for index, ms in enumerate(warm):
        own.setdefault(counts[index % len(counts)], []).append(ms)
    base = statistics.median(rows["without sealbox"])
    print(
        f"| spawn (REST POST -> ready), {spawns} each | p50 | p99 | vs without, p50 | sealbox's part p50 / p99 |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, count in ROWS:
        times = rows[label]
        p50 = statistics.median(times)
        added = "" if count is None else f"{p50 - base:+.0f} ms"
        part = f"{statistics.median(own[count]):.0f} / {_pct(own[count], 0.99):.0f} ms" if count else ""
        print(f"| {label} | {p50:.0f} ms | {_pct(times, 0.99):.0f} ms | {added} | {part} |")
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "jupyterhub_spawn.json").write_text(
        json.dumps({"spawns": spawns, "ms": rows, "sealbox_part_ms": own}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
