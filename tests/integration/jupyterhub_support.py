"""A real JupyterHub on loopback, configured by deploy/jupyterhub/jupyterhub_config.py (the README's example),
against a real sealbox stack. Shared by tests/integration/test_jupyterhub.py and bench/jupyterhub_spawn.py.

The hub runs as this machine's user (root here): SimpleLocalProcessSpawner with `--allow-root`. Its proxy is
configurable-http-proxy (npm, installed by scripts/test).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import Stack, free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
BIN = Path(sys.executable).parent
PASSWORD = "hub-test-password"  # the DummyAuthenticator's shared password (a test hub only)


@dataclass
class Hub:
    url: str
    dir: Path
    log: Path
    memory_base: Path
    api_token: str = field(repr=False)
    proc: subprocess.Popen[bytes] | None = None
    config: Path | None = None
    hub_api_url: str = ""  # what this hub's servers have as JUPYTERHUB_API_URL

    @property
    def root(self) -> Path:
        """The hub's folder of secret folders (`local.hub_root`: a random name the hub made and checked);
        a path that does not exist before the hub made one."""
        from sealbox.integrations.jupyterhub.local import find_hub_root

        return find_hub_root(self.memory_base) or self.memory_base / "no-hub-root-yet"

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/hub/api", timeout=60, headers={"Authorization": f"token {self.api_token}"}
        )

    def start(self) -> None:
        assert self.config is not None
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(self.config)],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyterhub exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("jupyterhub did not start in 90 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def spawn(self, user: str, options: dict[str, Any] | None, *, wait: bool = True) -> httpx.Response:
        """POST the server with these user_options (the REST API); wait until it is ready."""
        with self.api() as api:
            response = api.post(f"/users/{user}/server", json={"user_options": options or {}})
            if response.status_code < 300 and wait:
                self.wait_ready(user)
        return response

    def wait_ready(self, user: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.api() as api:
            while time.monotonic() < deadline:
                server = api.get(f"/users/{user}").json().get("servers", {}).get("")
                if server and server.get("ready"):
                    return dict(server)
                time.sleep(0.05)
        raise RuntimeError(f"{user}'s server not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop_server(self, user: str, timeout: float = 60) -> None:
        with self.api() as api:
            response = api.delete(f"/users/{user}/server")
            assert response.status_code in (202, 204), response.text
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not api.get(f"/users/{user}").json().get("servers"):
                    return
                time.sleep(0.05)
        raise RuntimeError(f"{user}'s server did not stop in {timeout} s")

    def add_user(self, name: str) -> None:
        with self.api() as api:
            response = api.post(f"/users/{name}")
            assert response.status_code in (201, 409), response.text


def write_config(hub: Hub, *, stack: Stack, token_file: Path, sealbox: bool = True, extra: str = "") -> Path:
    """The README's jupyterhub_config.py, executed as is, then pointed at this test's ports and folders;
    `extra` (config lines) goes last."""
    port, hub_port, proxy_port = free_port(), free_port(), free_port()
    hub.url = f"http://127.0.0.1:{port}"
    hub.hub_api_url = f"http://127.0.0.1:{hub_port}/hub/api"
    runtime = hub.dir / "runtime"
    runtime.mkdir(exist_ok=True)
    home = hub.dir / "home"
    home.mkdir(exist_ok=True)
    spawner = (
        "sealbox.integrations.jupyterhub.local_spawner.SealboxSimpleLocalProcessSpawner"
        if sealbox
        else "jupyterhub.spawner.SimpleLocalProcessSpawner"
    )
    text = f"""
import json
exec(compile(open({str(EXAMPLE_CONFIG)!r}).read(), {str(EXAMPLE_CONFIG)!r}, "exec"))
# The test's own ports, folders and users (nothing below concerns sealbox but the three lines marked).
c.JupyterHub.bind_url = {hub.url!r}
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.ConfigurableHTTPProxy.pid_file = {str(hub.dir / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{hub.dir / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(hub.dir / "jupyterhub_cookie_secret")!r}
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {PASSWORD!r}
c.Authenticator.allow_all = True
c.JupyterHub.services = [{{"name": "tester", "api_token": {hub.api_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "admin", "services": ["tester"]}}]
c.JupyterHub.spawner_class = {spawner!r}
c.Spawner.cmd = [{str(BIN / "jupyterhub-singleuser")!r}]
c.Spawner.args = ["--allow-root", "--ServerApp.log_level=INFO"]
c.Spawner.environment = {{"JUPYTER_RUNTIME_DIR": {str(runtime)!r}}}
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 90
c.SimpleLocalProcessSpawner.home_dir_template = {str(home / "{username}")!r}
c.JupyterHub.cleanup_servers = True
c.SealboxSpawner.sealbox_url = {stack.url!r}  # sealbox: this test's server
c.SealboxSpawner.sealbox_token_file = {str(token_file)!r}  # sealbox: this test's service token
c.SealboxSpawner.sealbox_memory_base = {str(hub.memory_base)!r}  # sealbox: a folder of this test's
{extra}
"""
    config = hub.dir / "jupyterhub_config.py"
    config.write_text(text)
    hub.config = config
    return config


@contextmanager
def running_hub(
    directory: Path,
    *,
    stack: Stack,
    token_file: Path,
    sealbox: bool = True,
    extra: str = "",
    memory_mode: int = 0o700,
) -> Iterator[Hub]:
    """`memory_mode`: the test's stand-in for /dev/shm; 0o711 when servers run as other users."""
    directory.mkdir(parents=True, exist_ok=True)
    memory_base = Path("/dev/shm") / f"sealbox-hubtest-{secrets.token_hex(6)}"
    memory_base.mkdir(mode=0o700)
    memory_base.chmod(memory_mode)
    hub = Hub(
        url="",
        dir=directory,
        log=directory / "jupyterhub.log",
        memory_base=memory_base,
        api_token=secrets.token_hex(32),
    )
    write_config(hub, stack=stack, token_file=token_file, sealbox=sealbox, extra=extra)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()
        shutil.rmtree(memory_base, ignore_errors=True)


def hub_service_token(stack: Stack, directory: Path, *, kinds: list[str]) -> Path:
    """A sealbox service account for the hub (by the admin), its token in a 0600 file."""
    with stack.client() as admin:
        created = admin.post(
            "/api/v1/service-accounts", json={"name": f"hub-{secrets.token_hex(3)}", "kinds": kinds}
        )
        assert created.status_code == 201, created.text
    path = directory / "sealbox-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(created.json()["token"])
    return path


def server_processes(user: str, hub: Hub) -> list[int]:
    """Pids whose environment says they are `user`'s single-user server of `hub` (found through /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ours = f"JUPYTERHUB_API_URL={hub.hub_api_url}".encode() in env
        if ours and f"JUPYTERHUB_USER={user}".encode() in env and b"jupyterhub-singleuser" in cmdline:
            found.append(int(entry.name))
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def kernel_output(hub: Hub, user: str, code: str, runtime: Path) -> str:
    """Start a kernel in `user`'s server (jupyter_server REST, through the proxy), run `code` through
    jupyter_client on the kernel's connection file, and return what it printed."""
    from jupyter_client import BlockingKernelClient

    with httpx.Client(
        base_url=f"{hub.url}/user/{user}/api", timeout=60, headers={"Authorization": f"token {hub.api_token}"}
    ) as server:
        started = server.post("/kernels", json={"name": "python3"})
        assert started.status_code == 201, started.text
        kernel_id = started.json()["id"]
        try:
            connection = runtime / f"kernel-{kernel_id}.json"
            deadline = time.monotonic() + 30
            while not connection.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            client = BlockingKernelClient()
            client.load_connection_info(json.loads(connection.read_text()))
            client.start_channels()
            try:
                client.wait_for_ready(timeout=60)
                out: list[str] = []
                reply = client.execute_interactive(
                    code,
                    timeout=60,
                    output_hook=lambda msg: (
                        out.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None
                    ),
                )
                assert reply["content"]["status"] == "ok", reply["content"]
            finally:
                client.stop_channels()
            return "".join(out)
        finally:
            server.delete(f"/kernels/{kernel_id}")
