"""Start-up benchmark: what a notebook's first `get_secret` and every `sealbox run` pay before any work.

Run: `.venv/bin/python -m bench.startup [--quick] [--against OTHER/src]` (or `scripts/bench startup`).
Prints markdown tables, writes bench/results/startup.json. sealbox's bytecode is written first, as an
installed sealbox has it (`compile_sources`). Every row is measured beside `python -c pass` of the same virtual
environment, in pairs (A, B, A, B, ...): the ratio is taken pair by pair, so a machine whose speed drifts
during the run still gives a meaningful ratio. Rows:
- `import sealbox` and `from sealbox import get_secret`: whole processes, and the import alone
  (the process minus its paired `python -c pass`), and `-X importtime`'s own cumulative figure;
- a whole `sealbox run --secret NAME -- true` process with 1 and 20 secrets, against a running keeper and
  server (2 workers, SQLite) on 127.0.0.1: create, redeem, write the files in memory, run `true`, end;
  with `--against`, the same rows of another source tree (the commit before), taken in turn with these.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.stack import sealbox_instance

RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = sys.executable
SEALBOX = str(Path(sys.executable).parent / "sealbox")  # the console script a job runs
BASELINE = [PYTHON, "-c", "pass"]
_IMPORTTIME = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)$")


def compile_sources() -> None:
    """Write sealbox's bytecode first, as an installed sealbox has it (pip compiles a wheel's modules when it
    installs them). In an editable checkout run with PYTHONDONTWRITEBYTECODE=1 (as on this machine) every
    measured process would otherwise compile sealbox's own modules from source: 20-30% of the CPU time of a
    `sealbox run`, which no installed job pays."""
    import compileall

    import sealbox

    compileall.compile_dir(str(Path(sealbox.__file__).parent), quiet=1)


def _wall_ms(args: Sequence[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def paired(args: Sequence[str], env: dict[str, str], reps: int) -> dict[str, Any]:
    """`args` and `python -c pass` in turn, `reps` pairs after one warm-up pair."""
    return paired_rounds([(args, env)], reps)[0]


def paired_rounds(
    commands: Sequence[tuple[Sequence[str], dict[str, str]]], reps: int
) -> list[dict[str, Any]]:
    """Each command paired with its own `python -c pass` (in its environment), the pairs of all commands taken
    in turn round by round, so that every row sees the same drift of the machine; one warm-up round."""
    for args, env in commands:
        _wall_ms(args, env), _wall_ms(BASELINE, env)
    runs: list[tuple[list[float], list[float]]] = [([], []) for _ in commands]
    for _ in range(reps):
        for (args, env), (a, b) in zip(commands, runs, strict=True):
            a.append(_wall_ms(args, env))
            b.append(_wall_ms(BASELINE, env))
    return [
        {
            "reps": reps,
            "p50_ms": statistics.median(a),
            "min_ms": min(a),
            "max_ms": max(a),
            "baseline_p50_ms": statistics.median(b),
            "extra_p50_ms": statistics.median(x - y for x, y in zip(a, b, strict=True)),
            "ratio_p50": statistics.median(x / y for x, y in zip(a, b, strict=True)),
        }
        for a, b in runs
    ]


def importtime_ms(statement: str, env: dict[str, str], reps: int) -> float:
    """`python -X importtime`: the cumulative times of the top-level sealbox imports, median over `reps`."""
    values = []
    for _ in range(reps):
        err = subprocess.run(
            [PYTHON, "-X", "importtime", "-c", statement], env=env, check=True, capture_output=True, text=True
        ).stderr
        total = sum(
            int(m.group(1))
            for line in err.splitlines()
            if (m := _IMPORTTIME.match(line.rstrip())) and m.group(2).split(".")[0] == "sealbox"
        )
        values.append(total / 1000)
    return statistics.median(values)


def import_rows(reps: int) -> list[dict[str, Any]]:
    env = dict(os.environ)
    rows = []
    for statement in ("import sealbox", "from sealbox import get_secret"):
        row = paired([PYTHON, "-c", statement], env, reps)
        row["what"] = statement
        row["importtime_ms"] = importtime_ms(statement, env, reps)
        rows.append(row)
    return rows


def run_rows(reps: int, against: Path | None = None) -> list[dict[str, Any]]:
    """The `sealbox run` rows; with `against` (another checkout's `src`), each beside the same command run
    with that tree first on PYTHONPATH, round by round (a before/after in one run)."""
    rows = []
    with sealbox_instance("startup") as inst, inst.server(workers=2) as server:
        names = [f"s{i:02d}" for i in range(20)]
        with inst.client(server.url) as c:
            for name in names:
                c.post(
                    "/api/v1/secrets", json={"name": name, "value": secrets.token_hex(32)}
                ).raise_for_status()
        time.sleep(1.0)  # let the keeper convert the new outer layers, as it does in steady state
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.toml"
            config.write_text(f'url = "{server.url}"\ntoken = "{inst.admin_token}"\n')
            config.chmod(0o600)
            env = {**os.environ, "SEALBOX_CONFIG": str(config)}
            for n in (1, 20):
                args = [SEALBOX, "run"]
                for name in names[:n]:
                    args += ["--secret", name]
                args += ["--", "true"]
                what = f"sealbox run ({n} secret{'s' if n > 1 else ''}) -- true"
                commands = [(args, env)]
                if against is not None:
                    commands.append((args, {**env, "PYTHONPATH": str(against)}))
                for row, tree in zip(paired_rounds(commands, reps), ("", f" [{against}]"), strict=False):
                    rows.append({**row, "what": what + tree, "secrets": n})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, for a smoke run")
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout's src/ (say, `git archive` of the commit before): its `sealbox run` rows too, "
        "taken in turn with this tree's (its bytecode is left as it is)",
    )
    args = parser.parse_args()
    reps = 5 if args.quick else 30
    compile_sources()
    load = os.getloadavg()[0]
    results: dict[str, Any] = {
        "quick": args.quick,
        "imports": import_rows(reps),
        "run": run_rows(reps, args.against.resolve() if args.against else None),
    }
    results["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _print(r: dict[str, Any]) -> None:
    print("\n| in a new process | p50 ms | `python -c pass` p50 | import alone p50 | -X importtime | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in r["imports"]:
        print(
            f"| `{row['what']}` | {row['p50_ms']:.1f} | {row['baseline_p50_ms']:.1f} | "
            f"{row['extra_p50_ms']:.1f} | {row['importtime_ms']:.1f} | {row['ratio_p50']:.2f}x |"
        )
    print(
        "\n| whole process | p50 ms | min-max | `python -c pass` p50 | ratio p50 |\n|---|---:|---:|---:|---:|"
    )
    for row in r["run"]:
        print(
            f"| `{row['what']}` | {row['p50_ms']:.1f} | {row['min_ms']:.0f}-{row['max_ms']:.0f} | "
            f"{row['baseline_p50_ms']:.1f} | {row['ratio_p50']:.1f}x |"
        )
    print(f"\nload average (1 min) at the start and the end: {r['load_average'][0]} / {r['load_average'][1]}")


if __name__ == "__main__":
    main()
