"""A real JupyterLab started inside `sealbox run` as a person: the session's folder and
id in its environment, the person's CLI config (their token) as the server extension's credential.

Used by tests/integration/test_jupyterlab_api.py and tests/browser/test_jupyterlab.py. The Jupyter
folders are the test's own, so nothing of this machine's Jupyter config counts; the labextension and the
server extension come from the installed sealbox (`pip install -e .`: the wheel's shared data).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sealbox.private_files import write_private_file
from tests.support.canaries import make_canary
from tests.support.processes import base_env, free_port, sealbox_cmd


@dataclass
class Lab:
    url: str
    token: str = field(repr=False)
    root: Path
    runtime: Path
    log: Path
    env: dict[str, str] = field(repr=False)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=60)


def person_config(folder: Path, *, url: str, token: str) -> Path:
    """The person's CLI config (as `sealbox login` writes it): the server extension's credential."""
    path = folder / "sealbox.toml"
    write_private_file(path, f"url = {json.dumps(url)}\ntoken = {json.dumps(token)}\n", overwrite=True)
    return path


def _wait_up(lab: Lab, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter exited: {lab.log.read_text()[-3000:]}")
        try:
            answer = httpx.get(f"{lab.url}/api/status", params={"token": lab.token}, timeout=2)
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"jupyter did not start in 90 s: {lab.log.read_text()[-3000:]}")


@contextmanager
def running_lab(folder: Path, *, sealbox_url: str, person_token: str, secrets: list[str]) -> Iterator[Lab]:
    """`sealbox run --secret S... -- python -m jupyterlab` as the person; stopped (session ended) after."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder / "notebooks"
    root.mkdir(exist_ok=True)
    config = person_config(folder, url=sealbox_url, token=person_token)
    token, port = make_canary("jupyter-token"), free_port()
    # No news prompt (a toast that would sit over the notebook; and no fetch from the network).
    settings = folder / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = base_env(
        JUPYTERLAB_SETTINGS_DIR=str(folder / "lab-settings"),
        SEALBOX_CONFIG=str(config),
        JUPYTER_TOKEN=token,
        JUPYTER_CONFIG_DIR=str(folder / "config"),
        JUPYTER_DATA_DIR=str(folder / "data"),
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
        IPYTHONDIR=str(folder / "ipython"),
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    brought = [arg for name in secrets for arg in ("--secret", name)]
    command = sealbox_cmd("run", *brought, "--", sys.executable, "-m", "jupyterlab", "--no-browser",
                          "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
                          f"--ServerApp.root_dir={root}",
                          "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                          "--LabApp.news_url=")  # fmt: skip
    lab = Lab(
        url=f"http://127.0.0.1:{port}", token=token, root=root, runtime=folder / "runtime",
        log=folder / "jupyter.log", env=env,
    )  # fmt: skip
    with lab.log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_up(lab, proc)
        yield lab
    finally:
        proc.send_signal(signal.SIGTERM)  # sealbox run passes it on, removes the folder, ends the session
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
