"""CI smoke of the benchmarks (`scripts/bench`): each one's `--quick` run finishes and writes its JSON.

The full runs are long and their figures need a quiet machine (docs/performance.md), so CI never runs
them; this keeps their harnesses working as the code under them changes (bench/launch.py once crashed
on a renamed keeper class with nobody noticing). Only the benchmarks that need neither wrk nor the
OpenBao binary run here: `reads`, `writes` and `store` drive their load through wrk against OpenBao
as well, and `scripts/bench --quick` (which installs both) is their smoke.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"

QUICK = {
    "startup": ["--quick"],
    "launch": ["--quick"],
    "operations": ["--quick", "--skip-failover"],
    "scale": ["--quick"],
    "write_cpu": ["--quick"],
}


@pytest.fixture
def kept_results(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The benchmark's JSON as a full run left it, put back after the quick run overwrote it."""
    path = RESULTS / f"{request.node.callspec.params['name']}.json"
    before = path.read_bytes() if path.exists() else None
    try:
        yield path
    finally:
        if before is not None:
            path.write_bytes(before)
        else:
            path.unlink(missing_ok=True)


@pytest.mark.parametrize("name", sorted(QUICK))
def test_the_benchmark_runs_quick(name: str, kept_results: Path) -> None:
    kept_results.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *QUICK[name]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "|" in done.stdout, done.stdout[-2000:]  # its markdown table
    assert json.loads(kept_results.read_text())
