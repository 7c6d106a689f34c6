"""Run one atheris target: `python -m tests.fuzz.run TARGET [libFuzzer flags, e.g. -atheris_runs=20000]`.

The seeds go into a fresh temporary corpus folder (libFuzzer adds what it finds there), so nothing is
written into the work tree; crash inputs go to $SEALBOX_FUZZ_ARTIFACTS (default: the temporary folder).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.fuzz.run TARGET [libFuzzer flags]")
    name, flags = sys.argv[1], sys.argv[2:]
    with atheris.instrument_imports(include=["sealbox"]):
        from tests.fuzz import targets
    if name not in targets.TARGETS:
        sys.exit(f"unknown target {name}; one of {', '.join(targets.TARGETS)}")
    work = Path(tempfile.mkdtemp(prefix=f"sealbox-fuzz-{name}-"))
    corpus = work / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(targets.SEEDS.get(name, [])):
        (corpus / f"seed-{i}").write_bytes(seed)
    artifacts = os.environ.get("SEALBOX_FUZZ_ARTIFACTS", str(work))
    atheris.Setup(
        [sys.argv[0], f"-artifact_prefix={artifacts.rstrip('/')}/", *flags, str(corpus)],
        targets.TARGETS[name],
    )
    atheris.Fuzz()


if __name__ == "__main__":
    main()
