"""Real sealbox keeper and server processes on loopback, with their logs kept for leak scans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sealbox.cli.processes import install_keeper_public_key, install_server_verify_key
from sealbox.cli.up import bootstrap
from sealbox.config import ServerSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sealbox_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sealbox", *args]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALBOX_")}
    env.update(extra)
    return env


@dataclass
class Keeper:
    dir: Path
    url: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    settings: dict[str, str] = field(default_factory=dict)  # more SEALBOX_KEEPER_* for the keeper

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                sealbox_cmd("keeper", "--dir", str(self.dir), "--listen", self.url),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=base_env(**{"SEALBOX_KEEPER_LOG_LEVEL": "debug", **self.settings}),
            )
        if self.url.startswith("unix://"):
            sock = Path(self.url.removeprefix("unix://"))
            wait_for(lambda: sock.exists(), self.proc, "keeper")
        wait_for(lambda: _keeper_ok(self.url), self.proc, "keeper")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _keeper_ok(url: str) -> bool:
    try:
        if url.startswith("unix://"):
            transport, base = httpx.HTTPTransport(uds=url.removeprefix("unix://")), "http://keeper"
        else:  # tcp://host:port
            transport, base = httpx.HTTPTransport(), "http://" + url.removeprefix("tcp://")
        with httpx.Client(transport=transport, base_url=base, timeout=1) as c:
            return c.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(check: object, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready in {timeout} s")


@dataclass
class Stack:
    """A keeper and a server, as `sealbox up` would run them, plus the admin's token."""

    data_dir: Path
    keeper: Keeper
    url: str
    port: int
    log: Path
    database_url: str | None
    admin_token: str = field(repr=False, default="")
    server: subprocess.Popen[bytes] | None = None
    settings: dict[str, str] = field(default_factory=dict)  # more SEALBOX_* for the server

    def env(self, **extra: str) -> dict[str, str]:
        values = {"SEALBOX_DATA_DIR": str(self.data_dir), "SEALBOX_LOG_LEVEL": "debug", **self.settings}
        if self.database_url:
            values["SEALBOX_DATABASE_URL"] = self.database_url
        values.update(extra)
        return base_env(**values)

    def start_server(self) -> None:
        with self.log.open("ab") as log:
            self.server = subprocess.Popen(
                sealbox_cmd(
                    "server", "--host", "127.0.0.1", "--port", str(self.port), "--keeper-url", self.keeper.url
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
            )
        wait_for(
            lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503),
            self.server,
            "server",
            timeout=60,
        )

    def stop_server(self, sig: int = signal.SIGTERM) -> None:
        if self.server and self.server.poll() is None:
            self.server.send_signal(sig)
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {token or self.admin_token}"}
        )

    def add_user(self, name: str, *, admin: bool = False) -> str:
        """A new user's token, through the admin CLI on the data directory."""
        args = ["admin", "user", "add", name] + (["--admin"] if admin else [])
        out = subprocess.run(sealbox_cmd(*args), env=self.env(), capture_output=True, check=True)
        return out.stdout.decode().strip()

    def logs(self) -> bytes:
        return self.log.read_bytes() + self.keeper.log.read_bytes()


@contextmanager
def running_stack(
    root: Path,
    *,
    database_url: str | None = None,
    server_env: dict[str, str] | None = None,
    keeper_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Bootstrap a data dir (keys, schema, admin) and run a keeper and a server on it."""
    data_dir = root / "data"
    keeper = Keeper(
        dir=root / "data-keeper",
        url=f"unix://{root / 'data-keeper' / 'keeper.sock'}",
        log=root / "keeper.log",
        settings=dict(keeper_env or {}),
    )
    port = free_port()
    stack = Stack(
        data_dir=data_dir,
        keeper=keeper,
        url=f"http://127.0.0.1:{port}",
        port=port,
        log=root / "server.log",
        database_url=database_url,
        settings=dict(server_env or {}),
    )
    keeper.start()
    try:
        settings = ServerSettings(data_dir=data_dir, database_url=database_url)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        install_keeper_public_key(
            keeper_url=keeper.url, keeper_dir=keeper.dir, target=settings.resolved_keeper_public_key_path
        )
        token = bootstrap(settings)
        install_server_verify_key(
            source=settings.resolved_signing_key_path.with_suffix(".pub"), keeper_dir=keeper.dir
        )
        stack.admin_token = token or ""
        stack.start_server()
        yield stack
    finally:
        stack.stop_server()
        keeper.stop()
