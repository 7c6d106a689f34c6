"""Two server replicas on one PostgreSQL and two keepers sharing one keeper key, each pair behind a
loopback balancer (tests/support/balancer.py), set up as docs/operations.md "Replicas" tells operators to.

- Keepers: the first one creates the keeper key directory; the second one's directory is a copy of it
  (keeper.key, wrap.key, keeper.pub and the server's verification key server.pub). Both listen on TCP;
  the servers and the session side reach them through one balancer (the keepers' Service).
- Servers: the first data directory is bootstrapped (master key, signing key, keeper.pub, schema, first
  admin); the second replica's data directory is a copy of the first. Both use SEALBOX_DATABASE_URL and
  the keepers' balancer as their keeper URL; clients reach them through the other balancer.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sealbox.cli.processes import install_keeper_public_key, install_server_verify_key
from sealbox.cli.up import bootstrap
from sealbox.config import ServerSettings
from tests.support.balancer import Balancer
from tests.support.processes import Keeper, Stack, base_env, free_port, sealbox_cmd, wait_for


@dataclass
class Server:
    data_dir: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, *, database_url: str, keeper_url: str) -> None:
        env = base_env(
            SEALBOX_DATA_DIR=str(self.data_dir), SEALBOX_DATABASE_URL=database_url, SEALBOX_LOG_LEVEL="debug"
        )
        args = ("server", "--host", "127.0.0.1", "--port", str(self.port), "--keeper-url", keeper_url)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(sealbox_cmd(*args), stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{self.port}/healthz"
        wait_for(lambda: httpx.get(url, timeout=1).status_code == 200, self.proc, "server", timeout=60)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Replicas:
    """`front`: a Stack whose URL is the servers' balancer and whose keeper URL is the keepers'."""

    front: Stack
    servers: list[Server]
    keepers: list[Keeper]
    server_balancer: Balancer
    keeper_balancer: Balancer

    def logs(self) -> bytes:
        logs = [s.log for s in self.servers] + [k.log for k in self.keepers]
        return b"".join(log.read_bytes() for log in logs if log.exists())


def copy_key_dir(source: Path, target: Path) -> None:
    """What an operator copies (or mounts from one Secret): the key files, not sockets or lock files."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.sock", "*.lock", ".*.lock"))
    target.chmod(0o700)


@contextmanager
def running_replicas(root: Path, *, database_url: str) -> Iterator[Replicas]:
    keeper_ports, server_ports = [free_port(), free_port()], [free_port(), free_port()]
    keepers = [
        Keeper(dir=root / f"keeper-{i}", url=f"tcp://127.0.0.1:{port}", log=root / f"keeper-{i}.log")
        for i, port in enumerate(keeper_ports)
    ]
    servers = [
        Server(data_dir=root / f"data-{i}", port=port, log=root / f"server-{i}.log")
        for i, port in enumerate(server_ports)
    ]
    keeper_lb, server_lb = Balancer(keeper_ports), Balancer(server_ports)
    keeper_lb.start()
    server_lb.start()
    keeper_url = f"tcp://127.0.0.1:{keeper_lb.port}"
    try:
        keepers[0].start()  # creates the keeper key directory
        first = ServerSettings(data_dir=servers[0].data_dir, database_url=database_url)
        first.data_dir.mkdir(parents=True, mode=0o700)
        install_keeper_public_key(
            keeper_url=keeper_url, keeper_dir=keepers[0].dir, target=first.resolved_keeper_public_key_path
        )
        token = bootstrap(first) or ""
        install_server_verify_key(
            source=first.resolved_signing_key_path.with_suffix(".pub"), keeper_dir=keepers[0].dir
        )
        copy_key_dir(keepers[0].dir, keepers[1].dir)
        copy_key_dir(servers[0].data_dir, servers[1].data_dir)
        keepers[1].start()
        for server in servers:
            server.start(database_url=database_url, keeper_url=keeper_url)
        front = Stack(
            data_dir=servers[0].data_dir,
            keeper=Keeper(dir=keepers[0].dir, url=keeper_url, log=keepers[0].log),
            url=f"http://127.0.0.1:{server_lb.port}",
            port=server_lb.port,
            log=servers[0].log,
            database_url=database_url,
            admin_token=token,
        )
        yield Replicas(front, servers, keepers, server_lb, keeper_lb)
    finally:
        for server in servers:
            server.stop()
        for keeper in keepers:
            keeper.stop()
        server_lb.stop()
        keeper_lb.stop()
