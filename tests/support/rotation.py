"""What key-rotation tests run beside a rotation: clients that write, read, launch and add users, and
the admin commands and database counts they check with."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests.support.canaries import make_canary
from tests.support.processes import Stack, base_env, sealbox_cmd
from tests.support.writes import Ledger, values_through_launch

WRITERS = 3


@dataclass
class Traffic:
    """Client threads writing (and listing), launching and adding users, with every operation that failed."""

    stack: Stack
    writers: int = WRITERS
    launchers: int = 1
    ledger: Ledger = field(default_factory=Ledger)
    failures: list[str] = field(default_factory=list)
    ops: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._writer, args=(w,)) for w in range(self.writers)]
        self.threads += [threading.Thread(target=self._launcher) for _ in range(self.launchers)]
        self.threads.append(threading.Thread(target=self._user_maker))
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _check(self, r: httpx.Response, what: str, ok: tuple[int, ...] = (200, 201)) -> bool:
        self.ops += 1
        if r.status_code not in ok:
            self.failures.append(f"{what}: {r.status_code} {r.text[:200]}")
            return False
        return True

    def _writer(self, worker: int) -> None:
        with self.stack.client() as c:
            n = 0
            while not self.stop.is_set():
                name = f"r{worker}-{n % 4}"
                value = make_canary(f"rot{worker}")
                if name in self.ledger.acked:
                    r = c.put(f"/api/v1/secrets/{name}/value", json={"value": value})
                else:
                    r = c.post("/api/v1/secrets", json={"name": name, "value": value})
                if self._check(r, f"write {name}"):
                    self.ledger.ack(name, value)
                self._check(c.get("/api/v1/secrets"), "list")
                n += 1

    def _launcher(self) -> None:
        while not self.stop.is_set():
            names = sorted(list(self.ledger.acked))[:6]  # list(): one atomic copy
            if not names:
                time.sleep(0.05)
                continue
            try:
                values_through_launch(self.stack, names)
                self.ops += 1
            except Exception as exc:  # every failure is counted, whatever it is
                self.failures.append(f"launch: {type(exc).__name__}")

    def _user_maker(self) -> None:
        with self.stack.client() as c:
            n = 0
            while not self.stop.is_set():
                self._check(c.post("/api/v1/users", json={"name": f"during{n}"}), "add user")
                n += 1
                time.sleep(0.1)


def add_users(stack: Stack, count: int) -> None:
    with stack.client() as c:
        for i in range(count):
            r = c.post("/api/v1/users", json={"name": f"person{i}"})
            assert r.status_code == 201, r.text


def rows_by_master_key(stack: Stack) -> dict[str, int]:
    url = stack.database_url or f"sqlite:///{stack.data_dir / 'sealbox.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT master_key_id, COUNT(*) FROM users GROUP BY master_key_id"))
            return {str(k): int(n) for k, n in rows}
    finally:
        engine.dispose()


def admin(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sealbox_cmd("admin", *args), env=stack.env(), capture_output=True, text=True, timeout=300
    )


def restore(backup: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """`sealbox admin restore BACKUP` into TARGET/data and TARGET/keeper, run as a fresh machine would."""
    return subprocess.run(
        sealbox_cmd(
            "admin",
            "restore",
            str(backup),
            "--data-dir",
            str(target / "data"),
            "--keeper-dir",
            str(target / "keeper"),
        ),
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def audit_verify(stack: Stack) -> str:
    done = subprocess.run(
        sealbox_cmd("audit", "verify"), env=stack.env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def count(stack: Stack, sql: str) -> int:
    url = stack.database_url or f"sqlite:///{stack.data_dir / 'sealbox.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def rotate_killed_midway(stack: Stack, *args: str, moved: int) -> None:
    """`sealbox admin rotate ARGS`, SIGKILLed once its progress lines show at least `moved` rows moved
    since its first line, and some still left."""
    with subprocess.Popen(
        sealbox_cmd("admin", "rotate", *args),
        env=stack.env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        first = None
        for line in proc.stderr:
            if line.endswith("rows left\n"):
                left = int(line.split()[0])
                first = left if first is None else first
                if 0 < left <= first - moved:
                    proc.send_signal(signal.SIGKILL)
                    break
        proc.wait(60)
    assert proc.returncode == -signal.SIGKILL, "the rotation should have been killed mid-way"


def keeper_health(stack: Stack) -> dict[str, str]:
    """The keeper's /healthz: its status and current key ids ("key_id", "wrap_key_id")."""
    transport = httpx.HTTPTransport(uds=stack.keeper.url.removeprefix("unix://"))
    with httpx.Client(transport=transport, base_url="http://keeper", timeout=5) as c:
        return dict(c.get("/healthz").json())
