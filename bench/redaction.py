"""Output redaction cost: scrubbing 1 MB of cell output with every needle of a session's values.

Run: `.venv/bin/python -m bench.redaction [--quick] [--values N]` (or `scripts/bench redaction`). Prints a
markdown table, writes bench/results/redaction.json. In-process, `timeit`; repeats are interleaved across
rows (round-robin) so background load hits every row alike; the table gives the best repeat and the median.

The session holds N values (default 20: random tokens, a password, a PEM key) and so several hundred
needles (each value in hex, base64 at three alignments, URL-quoted, escaped, its windows and lines). The
output is 1 MB of log-like text and a base64 blob with 40 values inside it in various encodings. Rows:
- `copy`: a no-op baseline (the text encoded to UTF-8 and back, as a message's serialisation does at least);
- `str.replace, raw values`: the obvious loop over the values themselves (finds far less);
- `str.replace, every needle`: the same loop over every needle (finds the same as sealbox);
- `re alternation`: sealbox's fallback without ahocorasick-rs (one compiled pattern);
- `sealbox (ahocorasick-rs DFA)`: what the kernel runs on every output;
- `build`: making the Redactor for the session (once per change of the secrets folder).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import statistics
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from sealbox.ipython.redact import REDACTED, Redactor

RESULTS = Path(__file__).resolve().parent / "results"
MB = 1 << 20


def session_values(count: int) -> list[bytes]:
    armour = "PRIVATE " + "KEY"  # from parts: no private-key block stands in the repository for scanners
    body = "\n".join(base64.b64encode(secrets.token_bytes(48)).decode() for _ in range(25))
    pem = f"-----BEGIN {armour}-----\n{body}\n-----END {armour}-----\n"
    values = [pem.encode(), b"correct horse battery staple"]
    values += [f"sk-{secrets.token_urlsafe(32)}".encode() for _ in range(max(0, count - 2))]
    return values[:count]


def output_text(values: list[bytes], size: int = MB) -> str:
    """Log-like lines and a base64 blob, with values planted in several encodings, about `size` long."""
    lines: list[str] = []
    total, planted = 0, 0
    while total < size:
        i = len(lines)
        if i % 500 == 250:
            value = values[planted % len(values)].decode()
            shown = [value, value.encode().hex(), urllib.parse.quote(value, safe=""), json.dumps(value)]
            line = f"step {i}: token={shown[planted % 4]}"
            planted += 1
        elif i % 97 == 0:
            line = base64.b64encode(secrets.token_bytes(600)).decode()
        else:
            line = (
                f"2026-12-07 21:30:{i % 60:02d} INFO epoch {i} loss=0.{i * 7919 % 10000:04d} acc=0.93 lr=3e-4"
            )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:size]


def _rows(values: list[bytes], text: str) -> dict[str, Callable[[], object]]:
    fast = Redactor(values)
    slow = Redactor(values, automaton=False)
    raw = [v.decode() for v in values]
    needles = sorted(fast.needles, key=len, reverse=True)

    def replace_all(items: list[str]) -> Callable[[], object]:
        def run() -> str:
            out = text
            for item in items:
                out = out.replace(item, REDACTED)
            return out

        return run

    return {
        "copy": lambda: text.encode().decode(),
        "str.replace, raw values": replace_all(raw),
        "str.replace, every needle": replace_all(needles),
        "re alternation": lambda: slow.scrub(text),
        "sealbox (ahocorasick-rs DFA)": lambda: fast.scrub(text),
        "build": lambda: Redactor(values),
    }


def measure(count: int, repeats: int) -> dict[str, object]:
    values = session_values(count)
    text = output_text(values)
    rows = _rows(values, text)
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, run in rows.items():
            started = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - started) * 1000)
    redactor = Redactor(values)
    found = len(redactor.spans(text))
    return {
        "values": count,
        "needles": len(redactor.needles),
        "output_bytes": len(text.encode()),
        "found": found,
        "rows": {
            name: {"best_ms": min(ms), "median_ms": statistics.median(ms), "samples_ms": ms}
            for name, ms in samples.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke test of the harness)")
    parser.add_argument("--values", type=int, default=20, help="how many values the session holds")
    args = parser.parse_args()
    result = measure(args.values, repeats=3 if args.quick else 15)
    rows = result["rows"]
    assert isinstance(rows, dict)
    print(
        f"\n### Output redaction: {result['output_bytes']:,} bytes, {result['values']} values, "
        f"{result['needles']} needles, {result['found']} found\n"
    )
    print("| row | best ms | median ms |\n|---|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['best_ms']:.2f} | {row['median_ms']:.2f} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "redaction.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
