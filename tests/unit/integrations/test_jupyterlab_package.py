"""The JupyterLab panel as it ships (issue 18): the committed build matches its sources, the wheel's shared
data maps it and the server extension's config, and the installed environment has both enabled."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from sealbox.integrations import jupyterlab

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ROOT / "jupyterlab-extension"
BUILT = ROOT / "src" / "sealbox" / "integrations" / "jupyterlab" / "labextension"


def _sources_hash() -> str:
    """As scripts/build-labextension computes it: sha256sum of each source (paths in C order), hashed."""
    names = ("src", "style", "package.json", "package-lock.json", "tsconfig.json")
    files = [
        p for n in names for p in ([SOURCES / n] if (SOURCES / n).is_file() else (SOURCES / n).rglob("*"))
    ]
    relative = sorted((p.relative_to(SOURCES).as_posix() for p in files if p.is_file()), key=str.encode)
    lines = "".join(f"{hashlib.sha256((SOURCES / r).read_bytes()).hexdigest()}  {r}\n" for r in relative)
    return hashlib.sha256(lines.encode()).hexdigest()


def test_the_committed_build_is_the_build_of_the_sources() -> None:
    """scripts/test rebuilds when the sources changed; this catches a change committed without it."""
    stamp = (SOURCES / "build-stamp.sha256").read_text().strip()
    assert stamp == _sources_hash(), "jupyterlab-extension/ changed: run scripts/build-labextension"
    built = json.loads((BUILT / "package.json").read_text())
    source = json.loads((SOURCES / "package.json").read_text())
    assert built["name"] == source["name"] == jupyterlab.LABEXTENSION
    assert (BUILT / built["jupyterlab"]["_build"]["load"]).is_file()
    # Built against the JupyterLab the extra installs (core-meta pins it), not the older builder.
    assert source["devDependencies"]["@jupyter/builder"].startswith("^1.3")
    assert "@jupyterlab/builder" not in source["devDependencies"]
    core = json.loads((SOURCES / "package-lock.json").read_text())["packages"][
        "node_modules/@jupyterlab/core-meta"
    ]
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "jupyterlab"
    ]
    assert f"jupyterlab>={'.'.join(core['version'].split('.')[:2])}" in extra[0]


def test_the_wheel_carries_the_labextension_and_enables_the_server_extension() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["build-system"]["build-backend"] == "hatchling.build"
    assert any(r.startswith("hatch-jupyter-builder") for r in config["build-system"]["requires"])
    shared = config["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared["src/sealbox/integrations/jupyterlab/labextension"] == (
        f"share/jupyter/labextensions/{jupyterlab.LABEXTENSION}"
    )
    enabling = [k for k, v in shared.items() if v.startswith("etc/jupyter/jupyter_server_config.d/")]
    assert len(enabling) == 1
    enabled = json.loads((ROOT / enabling[0]).read_text())
    assert enabled == {"ServerApp": {"jpserver_extensions": {"sealbox.integrations.jupyterlab": True}}}


def test_this_environment_has_both_installed_and_enabled() -> None:
    """`pip install -e '.[dev]'` (scripts/test) installs the wheel's shared data into this environment."""
    prefix = Path(sys.prefix)
    assert (prefix / "share/jupyter/labextensions" / jupyterlab.LABEXTENSION / "package.json").is_file()
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(
        x for x in (listed.stdout + listed.stderr).splitlines() if "sealbox.integrations.jupyterlab" in x
    )
    assert "enabled" in line
    labs = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True, check=True
    )
    row = next(x for x in (labs.stdout + labs.stderr).splitlines() if jupyterlab.LABEXTENSION in x)
    assert "enabled" in row and "OK" in row  # compatible with the installed JupyterLab
