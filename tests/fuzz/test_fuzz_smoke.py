"""TEST-PLAN T13, CI smoke: each atheris target for a bounded number of runs, as its own process.

The nightly figure (>= 1M runs per target) comes from scripts/fuzz. A target that raises anything but its
declared error, or breaks a property, makes atheris exit non-zero and leave the input in tmp_path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sealbox.errors import BadRequest

pytest.importorskip("atheris")

from tests.fuzz.targets import TARGETS

# The spec target parses TOML and YAML and writes a file per run: ~50x slower than the rest.
RUNS = {name: 3_000 if name == "spec" else 10_000 for name in TARGETS}
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_runs_clean(target: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", target, f"-atheris_runs={RUNS[target]}", "-seed=1"],
        cwd=ROOT,
        env={**os.environ, "SEALBOX_FUZZ_ARTIFACTS": str(tmp_path)},
        capture_output=True,
        timeout=600,
    )
    tail = proc.stderr.decode(errors="replace")[-3000:]
    assert proc.returncode == 0, tail
    assert f"Done {RUNS[target]}" in tail, tail
    assert list(tmp_path.iterdir()) == [], "crash inputs were written"


def test_a_broken_property_fails_the_run(tmp_path: Path) -> None:
    """The harness itself: a target whose property fails on the first input makes the run fail."""
    code = (
        "import atheris, sys\n"
        "def t(data): assert False, 'property broken'\n"
        "atheris.Setup([sys.argv[0], '-atheris_runs=10'], t)\n"
        "atheris.Fuzz()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=120)
    assert proc.returncode != 0 and b"property broken" in proc.stdout + proc.stderr


# Regressions the spec target found: a job spec that is not UTF-8, and `secrets` that is not a list,
# crashed `sealbox run --secrets-from` with a traceback instead of a one-line error.
@pytest.mark.parametrize(
    ("suffix", "content"),
    [(".toml", b'secrets = ["\xfa"]\n'), (".toml", b"secrets = 5\n"), (".yaml", b"secrets: {a: 1}\n")],
)
def test_bad_spec_files_are_bad_requests(tmp_path: Path, suffix: str, content: bytes) -> None:
    from sealbox.launcher.spec import load_spec

    path = tmp_path / f"spec{suffix}"
    path.write_bytes(content)
    with pytest.raises(BadRequest) as err:
        load_spec(path)
    assert err.value.code == "invalid_spec"


def test_a_mount_path_the_file_system_refuses_is_a_bad_request(tmp_path: Path) -> None:
    """Found by the mount_path target: a component longer than NAME_MAX made `sealbox run --mount-path`
    end in an OSError traceback."""
    from sealbox.launcher.spool import check_mount_path

    with pytest.raises(BadRequest) as err:
        check_mount_path(tmp_path / ("x" * 300))
    assert err.value.code == "invalid_mount_path"
