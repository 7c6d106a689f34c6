"""A private PostgreSQL cluster of a test's own, to stop and start at will.

The shared PostgreSQL at 127.0.0.1:5432 serves every test and helper at once: a test that needs the
database to go down (`pg_ctl stop -m immediate`) runs its own cluster instead. `private_cluster()`
runs `initdb` into a fresh folder under /tmp, starts the server on a free loopback port with its unix
socket in that folder, and removes everything at the end. initdb refuses to run as root: as root,
every PostgreSQL command runs as the `postgres` system account (`runuser -u postgres --`), which owns
the folder. Skips (with the reason) only when the PostgreSQL server binaries are not installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.support.processes import free_port

ACCOUNT = "postgres"  # the system account the cluster runs as when the tests run as root


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or what PATH has."""
    found = (
        sorted(
            Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
            key=lambda p: int(p.parent.parent.name),
            reverse=True,
        )
        if Path("/usr/lib/postgresql").is_dir()
        else []
    )
    if found:
        return found[0].parent
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    return None


@dataclass
class PrivateCluster:
    """One PostgreSQL cluster in `root` (owned by the account it runs as), listening on 127.0.0.1:`port`."""

    root: Path
    port: int
    bin: Path
    account: str | None  # run its commands as this account (tests as root), else as ourselves

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, dbname: str = "sealbox") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", self.account, "--"] if self.account else []
        out = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )
        if out.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({out.returncode}): {out.stderr.strip()[-400:]}")

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
        )

    def start(self) -> None:
        """Start the server and wait until it takes connections (`pg_ctl start -w`)."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=100"
        self._run(
            str(self.bin / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "120",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
        )

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m MODE`: `immediate` ends every backend at once, like a crash (recovery at start)."""
        self._run(str(self.bin / "pg_ctl"), "stop", "-w", "-t", "120", "-D", str(self.data), "-m", mode)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, dbname: str = "sealbox", *, tablespace: Path | None = None) -> str:
        """Create a database (its tables in a new tablespace at `tablespace`, if given); its URL."""
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            if tablespace is None:
                conn.execute(f'CREATE DATABASE "{dbname}"')
            else:
                conn.execute(f"CREATE TABLESPACE \"ts_{dbname}\" LOCATION '{tablespace}'")
                conn.execute(f'CREATE DATABASE "{dbname}" TABLESPACE "ts_{dbname}"')
        return self.url(dbname)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=2
                ):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started cluster of our own with a database `sealbox`; stopped and removed afterwards."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    account = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(ACCOUNT)
        except KeyError:
            pytest.skip(f"running as root and there is no {ACCOUNT!r} account to run initdb as")
        account = ACCOUNT
    # Directly under /tmp: the account must reach it, and pytest's tmp_path sits under a root-only folder.
    root = Path(tempfile.mkdtemp(prefix="sealbox-pg-"))
    if account:
        entry = pwd.getpwnam(account)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = PrivateCluster(root=root, port=free_port(), bin=binaries, account=account)
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        try:
            if cluster.running():
                cluster.stop("immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)
