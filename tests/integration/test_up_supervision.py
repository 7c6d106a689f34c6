"""`sealbox up` as a supervisor, and its refusals at start (TEST-PLAN T31; issue 12, new-user finding 1).

One `up` runs for the whole module (`--workers 1`). Its keeper and its server are killed with SIGKILL:
reads and writes go on while the keeper is away, launches get 503 `keeper_unavailable` until it is
back, a child that keeps failing is started again after longer and longer waits, the server comes back
on the same port, and SIGTERM still stops everything. A second `up` on the same port or data dir, a
server on a taken port and a port held by another program are each refused with one line. The tests
run in order.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import base_env, free_port, sealbox_cmd
from tests.support.up import Machine, Up, alive, descendants, wait_for_text, wait_gone

API = "/api/v1"


@dataclass
class Running:
    machine: Machine
    up: Up
    token: str = field(repr=False)
    secret: str
    values: list[str] = field(default_factory=list, repr=False)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.machine.url, timeout=30, headers={"Authorization": f"Bearer {self.token}"}
        )

    def child(self, word: str) -> int:
        """The pid of `up`'s direct child running `sealbox <word>`."""
        for pid in descendants(self.up.proc.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            if parent == self.up.proc.pid and word.encode() in argv and alive(pid):
                return pid
        pytest.fail(f"sealbox up has no {word} child")

    def value(self) -> str:
        self.values.append(make_canary("sup-"))
        return self.values[-1]

    @property
    def stderr(self) -> str:
        return self.up.log.read_text(errors="replace")


def new_machine(root: Path, port: int | None = None) -> Machine:
    return Machine(
        root=root,
        data_dir=root / f"data-{uuid.uuid4().hex[:6]}",
        config=root / "home" / "config.toml",
        port=port or free_port(),
        secret_name="",
        secret_value="",
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    machine = new_machine(tmp_path_factory.mktemp("supervised"))
    up = Up(machine, machine.root / "up.log", "--workers", "1")
    try:
        up.wait_ready()
        token = next(
            line.split('"')[1] for line in machine.config.read_text().splitlines() if line.startswith("token")
        )
        r = Running(machine=machine, up=up, token=token, secret=f"sup-{uuid.uuid4().hex[:6]}")
        with r.api() as api:
            assert api.post(f"{API}/secrets", json={"name": r.secret, "value": r.value()}).status_code == 201
        yield r
        logs = up.log.read_bytes() + up.stdout.replace(token, "", 1).encode()
        assert find_in_bytes(logs, [*r.values, token]) == []
    finally:
        up.kill()
        for pid in descendants(up.proc.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def one_line_refusal(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        sealbox_cmd(*args), capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def launch(r: Running) -> httpx.Response:
    with r.api() as api:
        return api.post(f"{API}/sessions", json={"secrets": [{"name": r.secret, "file": "f"}]})


def launched_value(r: Running) -> bytes:
    started = launch(r)
    assert started.status_code == 201, started.text
    body = started.json()
    with HTTPClient(r.machine.url) as http:
        delivery = redeem(http, session_id=body["session"]["id"], credential=body["session_credential"])
    return delivery.items[0].value


class Traffic:
    """Reads and writes of one secret in a loop, on a thread, each answer's status kept."""

    def __init__(self, r: Running) -> None:
        self.r = r
        self.statuses: list[tuple[str, int]] = []
        self.last = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.r.api() as api:
            while not self._stop.is_set():
                value = self.r.value()
                put = api.put(f"{API}/secrets/{self.r.secret}/value", json={"value": value})
                self.statuses.append(("write", put.status_code))
                if put.status_code == 200:
                    self.last = value
                self.statuses.append(("read", api.get(f"{API}/secrets/{self.r.secret}").status_code))
                time.sleep(0.05)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)


def delays_after(text: str, what: str, since: int) -> list[int]:
    found = re.findall(rf"the {what} exited with status \d+; starting it again in (\d+) s", text[since:])
    return [int(d) for d in found]


# --- --workers ---------------------------------------------------------------------------------------------


def test_up_passes_workers_to_the_server(running: Running) -> None:
    server = running.child("server")
    argv = Path(f"/proc/{server}/cmdline").read_bytes().split(b"\0")
    assert argv[argv.index(b"--workers") + 1] == b"1", argv
    workers = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    assert len(workers) == 1, workers


# --- refusals at start --------------------------------------------------------------------------------------


def test_a_second_up_on_the_same_port_is_refused(running: Running, tmp_path: Path) -> None:
    other = new_machine(tmp_path, port=running.machine.port)
    line = one_line_refusal(["up", "--data-dir", str(other.data_dir), "--port", str(other.port)], other.env())
    assert (
        f"port {other.port} on 127.0.0.1 is already in use by a sealbox up (pid {running.up.proc.pid})"
        in line
    )
    assert not other.data_dir.exists(), "a refused start creates nothing"
    # Every request still reaches the first one (two servers sharing the port answered half with 401).
    with running.api() as api:
        assert [api.get(f"{API}/me").status_code for _ in range(20)] == [200] * 20


def test_a_second_up_on_the_same_data_dir_is_refused(running: Running) -> None:
    line = one_line_refusal(
        ["up", "--data-dir", str(running.machine.data_dir), "--port", str(free_port())], running.machine.env()
    )
    assert line == (
        f"error: the data directory {running.machine.data_dir} is in use by another sealbox up "
        f"(pid {running.up.proc.pid})"
    )
    assert "the keeper" not in running.stderr.split("sealbox is up")[-1]  # the first one lost nothing


def test_a_server_on_a_taken_port_says_so_in_one_line(running: Running, tmp_path: Path) -> None:
    keeper_url = f"unix://{running.machine.data_dir}-keeper/keeper.sock"
    args = ["server", "--data-dir", str(tmp_path / "d"), "--port", str(running.machine.port)]
    line = one_line_refusal([*args, "--keeper-url", keeper_url], base_env())
    assert f"port {running.machine.port} on 127.0.0.1 is already in use by a sealbox up" in line


def test_a_port_held_by_another_program_is_named_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        program = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
        machine = new_machine(tmp_path, port=port)
        for args in (
            ["up", "--data-dir", str(machine.data_dir), "--port", str(port)],
            ["server", "--data-dir", str(machine.data_dir), "--port", str(port)],
        ):
            line = one_line_refusal(args, machine.env())
            assert f"port {port} on 127.0.0.1 is already in use by {program} (pid {os.getpid()})" in line
        keeper = ["keeper", "--dir", str(tmp_path / "k"), "--listen", f"tcp://127.0.0.1:{port}"]
        line = one_line_refusal(keeper, machine.env())
        assert line == f"error: the keeper cannot listen on 127.0.0.1:{port}: it is already in use"


# --- the keeper dies --------------------------------------------------------------------------------------


def test_a_killed_keeper_is_restarted_and_reads_and_writes_never_stop(running: Running) -> None:
    keeper = running.child("keeper")
    backs = running.stderr.count("the keeper is back")
    with Traffic(running) as traffic:
        time.sleep(1)
        os.kill(keeper, signal.SIGKILL)
        wait_for_text(running.up.log, "the keeper was killed (SIGKILL); starting it again in")
        wait_for_text(running.up.log, "the keeper is back", count=backs + 1)
        time.sleep(1)
    failed = [s for s in traffic.statuses if s[1] != 200]
    assert failed == [], failed
    assert len(traffic.statuses) >= 10
    assert running.child("keeper") != keeper
    assert running.up.proc.poll() is None
    assert launched_value(running) == traffic.last.encode()


def test_a_keeper_that_keeps_failing_is_retried_ever_later(running: Running) -> None:
    keeper = running.child("keeper")
    sock = Path(f"{running.machine.data_dir}-keeper/keeper.sock")
    since = len(running.stderr)
    backs = running.stderr.count("the keeper is back")
    os.kill(keeper, signal.SIGKILL)
    # A file where its socket goes: each new keeper refuses to start, until the file is gone.
    sock.unlink()
    sock.write_text("not a socket")
    try:
        deadline = time.monotonic() + 120
        while len(delays_after(running.stderr, "keeper", since)) < 3:
            assert time.monotonic() < deadline, running.stderr[since:]
            time.sleep(0.2)
        delays = delays_after(running.stderr, "keeper", since)
        assert delays == sorted(delays) and delays[-1] > delays[0], delays
        # Meanwhile: launches are refused with a clear code; reads and writes work.
        refused = launch(running)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "keeper_unavailable"
        with running.api() as api:
            value = running.value()
            assert api.put(f"{API}/secrets/{running.secret}/value", json={"value": value}).status_code == 200
            assert api.get(f"{API}/secrets/{running.secret}").status_code == 200
    finally:
        sock.unlink()
    wait_for_text(running.up.log, "the keeper is back", count=backs + 1, timeout=180)
    assert launched_value(running) == value.encode()


# --- the server dies ---------------------------------------------------------------------------------------


def test_a_killed_server_comes_back_on_the_same_port(running: Running) -> None:
    server = running.child("server")
    backs = running.stderr.count("the server is back")
    os.kill(server, signal.SIGKILL)
    wait_for_text(running.up.log, "the server was killed (SIGKILL); starting it again in")
    wait_for_text(running.up.log, "the server is back", count=backs + 1)
    assert running.child("server") != server
    with running.api() as api:
        assert api.get(f"{API}/secrets/{running.secret}").status_code == 200
    assert launched_value(running) == running.values[-1].encode()


# --- and stops when asked ----------------------------------------------------------------------------------


def test_sigterm_stops_everything(running: Running) -> None:
    children = descendants(running.up.proc.pid)
    assert len(children) >= 3  # keeper, server, its worker
    running.up.proc.send_signal(signal.SIGTERM)
    assert running.up.proc.wait(60) == 0, running.up.stdout
    wait_gone(children, str(running.machine.data_dir))
    assert "stopping sealbox" in running.up.stdout
