"""What the MLRun tests share: the skip reason, the MLRun venv's interpreter, and a pod's Secret volume."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

from sealbox.launcher.spool import SecretFolder

SKIP_REASON = "MLRun's client is not installed in this venv: run scripts/test-mlrun (it makes .venv-mlrun)"
# The interpreter of the venv that runs these tests: it has mlrun and this checkout of sealbox.
PYTHON = sys.executable


def mlrun_env(workdir: Path) -> dict[str, str]:
    """MLRun without an API server (MLRUN_DBPATH unset) and with its home in `workdir`."""
    return {"HOME": str(workdir), "MLRUN_DBPATH": "", "MLRUN_ARTIFACT_PATH": str(workdir / "artifacts")}


def kubelet_secret_volume(path: Path, volume: dict[str, Any], secret: dict[str, Any]) -> Path:
    """Lay a Secret out as the kubelet does for a `secret` volume (the `..data` symlinks, `items`,
    `defaultMode`): what the job's container would see at the volume's mount path."""
    spec = volume["secret"]
    assert spec["secretName"] == secret["metadata"]["name"]
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    files = {item["path"]: data[item["key"]] for item in spec["items"]}
    SecretFolder.create(path).write(files, {"files": []})
    for name in files:
        os.chmod(os.path.realpath(path / name), spec["defaultMode"])
    return path
