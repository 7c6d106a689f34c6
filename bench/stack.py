"""Run a sealbox keeper and server for benchmarks: bootstrap, start, stop, measure RSS.

Everything runs on 127.0.0.1 in a private temp dir. Processes are started in their
own session so that a stop reaches the server's worker processes too, and only
processes this module started are ever signalled (by their own pid / pgid).

``sqlite_synchronous="NORMAL"`` starts a *measurement-only* server variant through
``bench/_sqlite_normal/sitecustomize.py``: sealbox has no such setting (it always
runs SQLite with ``synchronous=FULL``) and must not get one from here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "BENCH_DIR",
    "SealboxInstance",
    "ServerProcess",
    "free_port",
    "postgres_database",
    "process_tree",
    "sealbox_instance",
    "tree_cpu_seconds",
    "tree_rss_bytes",
]

BENCH_DIR = Path(__file__).resolve().parent
_NORMAL_SITE_DIR = BENCH_DIR / "_sqlite_normal"
_HOST = "127.0.0.1"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((_HOST, 0))
        return int(s.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any inherited ``SEALBOX_*`` or ``PYTHONPATH``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALBOX_") and k != "PYTHONPATH"}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def _wait(check: object, proc: subprocess.Popen[bytes], what: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError, httpx.HTTPError):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM the process group this module created for ``proc`` (its own session), then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # Workers left behind by a crashed parent still carry the group id.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # comm may contain spaces and parentheses: the ppid follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _vm_rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss_bytes(pid: int) -> tuple[int, dict[int, int]]:
    """Sum of VmRSS over ``pid``'s process tree, and the per-pid values."""
    per = {p: _vm_rss_bytes(p) for p in process_tree(pid)}
    return sum(per.values()), per


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the comm field: state is fields[0], so utime (field 14) is fields[11], stime fields[12].
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(*roots: int) -> float:
    """CPU time used so far by the live processes under each of ``roots`` (itself included)."""
    return sum(_cpu_seconds(p) for r in roots for p in process_tree(r))


@dataclass
class ServerProcess:
    """One running ``sealbox server`` (granian main process + workers)."""

    proc: subprocess.Popen[bytes]
    url: str
    port: int
    workers: int
    sqlite_synchronous: str
    start_s: float
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        return [p for p in process_tree(self.pid) if p != self.pid]

    def rss(self) -> tuple[int, dict[int, int]]:
        return tree_rss_bytes(self.pid)

    def stop(self) -> None:
        _stop_group(self.proc)


@dataclass
class SealboxInstance:
    """A bootstrapped data dir with its keeper running; servers come and go on it."""

    root: Path
    data_dir: Path
    keeper_dir: Path
    keeper_url: str
    database_url: str | None
    admin_token: str = field(repr=False)
    keeper_proc: subprocess.Popen[bytes] | None = None

    @property
    def keeper_pid(self) -> int:
        return self.keeper_proc.pid if self.keeper_proc else 0

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+pysqlite:///{self.data_dir / 'sealbox.db'}"

    @property
    def master_key_path(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def keeper_public_key_path(self) -> Path:
        return self.data_dir / "keeper.pub"

    def server_env(self, **extra: str) -> dict[str, str]:
        values = {"SEALBOX_DATA_DIR": str(self.data_dir), "SEALBOX_LOG_LEVEL": "warning"}
        if self.database_url:
            values["SEALBOX_DATABASE_URL"] = self.database_url
        values.update(extra)
        return _clean_env(**values)

    @contextlib.contextmanager
    def server(
        self,
        *,
        workers: int = 1,
        sqlite_synchronous: str = "FULL",
        startup_timeout_s: float = 120.0,
        extra_env: dict[str, str] | None = None,
    ) -> Iterator[ServerProcess]:
        """Start ``sealbox server`` (``--workers``); yield once ``/healthz`` answers 200; stop it.

        ``extra_env`` is for experiments (e.g. a ``PYTHONPATH`` with a measurement-only patch).
        """
        port = free_port()
        extra: dict[str, str] = dict(extra_env or {})
        marker: Path | None = None
        if sqlite_synchronous != "FULL":
            if sqlite_synchronous != "NORMAL" or self.database_url:
                raise ValueError("only the SQLite synchronous=NORMAL measurement variant exists")
            marker = self.root / f"sync-marker-{secrets.token_hex(4)}"
            extra |= {
                "PYTHONPATH": str(_NORMAL_SITE_DIR),
                "SEALBOX_BENCH_SQLITE_SYNCHRONOUS": "NORMAL",
                "SEALBOX_BENCH_SYNC_MARKER": str(marker),
            }
        log = self.root / f"server-{port}.log"
        url = f"http://{_HOST}:{port}"
        argv = [
            sys.executable,
            "-m",
            "sealbox",
            "server",
            "--host",
            _HOST,
            "--port",
            str(port),
            "--keeper-url",
            self.keeper_url,
            "--workers",
            str(workers),
        ]
        t0 = time.monotonic()
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                argv,
                env=self.server_env(**extra),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = ServerProcess(
            proc=proc,
            url=url,
            port=port,
            workers=workers,
            sqlite_synchronous=sqlite_synchronous,
            start_s=0.0,
            log=log,
        )
        try:
            with httpx.Client(timeout=2.0, trust_env=False) as c:
                _wait(
                    lambda: c.get(f"{url}/healthz").status_code == 200, proc, "server", log, startup_timeout_s
                )
            server.start_s = time.monotonic() - t0
            if marker is not None:
                _check_marker(marker, self, server)
            yield server
        finally:
            server.stop()

    def client(self, url: str, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=url,
            timeout=30.0,
            trust_env=False,
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
        )


def _check_marker(marker: Path, inst: SealboxInstance, server: ServerProcess) -> None:
    """Prove that the NORMAL variant is active in the server's own connections."""
    with inst.client(server.url) as c:
        c.get("/api/v1/secrets", params={"limit": 1}).raise_for_status()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            values = {line.split()[1] for line in marker.read_text().splitlines() if line.strip()}
            if values != {"1"}:  # PRAGMA synchronous: 1 = NORMAL, 2 = FULL
                raise RuntimeError(f"synchronous=NORMAL variant not active (PRAGMA synchronous={values})")
            return
        time.sleep(0.1)
    raise RuntimeError("synchronous=NORMAL variant did not report from the server's connections")


def _keeper_ok(url: str) -> bool:
    transport = httpx.HTTPTransport(uds=url.removeprefix("unix://"))
    with httpx.Client(transport=transport, base_url="http://keeper", timeout=1.0) as c:
        return c.get("/healthz").status_code == 200


def _bootstrap(data_dir: Path, database_url: str | None, keeper_url: str, keeper_dir: Path) -> str:
    """As ``sealbox up`` does on first run (see tests/support/processes.py): keys, schema, admin token."""
    from sealbox.cli import processes
    from sealbox.cli.up import bootstrap
    from sealbox.config import ServerSettings

    settings = ServerSettings(data_dir=data_dir, database_url=database_url, keeper_url=keeper_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    processes.install_keeper_public_key(
        keeper_url=keeper_url, keeper_dir=keeper_dir, target=settings.resolved_keeper_public_key_path
    )
    token = bootstrap(settings)
    if token is None:
        raise RuntimeError(f"{data_dir} was already bootstrapped")
    # Newer trees also hand the server's ticket-verification key to the keeper, as `sealbox up` does.
    install_verify: Any = getattr(processes, "install_server_verify_key", None)
    signing_path: Path | None = getattr(settings, "resolved_signing_key_path", None)
    if install_verify is not None and signing_path is not None:
        install_verify(source=signing_path.with_suffix(".pub"), keeper_dir=keeper_dir)
    return token


@contextlib.contextmanager
def sealbox_instance(name: str, *, database_url: str | None = None) -> Iterator[SealboxInstance]:
    """A fresh data dir (on disk, so fsync costs what it costs) with keys, schema, admin and a keeper."""
    root = Path(tempfile.mkdtemp(prefix=f"sealbox-bench-{name}-"))
    data_dir = root / "data"
    keeper_dir = root / "data-keeper"
    keeper_url = f"unix://{keeper_dir / 'keeper.sock'}"
    keeper_log = root / "keeper.log"
    keeper: subprocess.Popen[bytes] | None = None
    try:
        with keeper_log.open("wb") as fh:
            keeper = subprocess.Popen(
                [sys.executable, "-m", "sealbox", "keeper", "--dir", str(keeper_dir), "--listen", keeper_url],
                env=_clean_env(SEALBOX_KEEPER_LOG_LEVEL="warning"),
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(lambda: _keeper_ok(keeper_url), keeper, "keeper", keeper_log, 60.0)
        token = _bootstrap(data_dir, database_url, keeper_url, keeper_dir)
        yield SealboxInstance(
            root=root,
            data_dir=data_dir,
            keeper_dir=keeper_dir,
            keeper_url=keeper_url,
            database_url=database_url,
            admin_token=token,
            keeper_proc=keeper,
        )
    finally:
        if keeper is not None:
            _stop_group(keeper)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(
    server_url: str = "postgresql://postgres@127.0.0.1:5432/postgres",
) -> Iterator[str]:
    """Create a fresh database for one benchmark run; drop it afterwards. Yields its URL."""
    import psycopg

    name = f"sealbox_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # name is ours: [a-z0-9_] only
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
