"""The secret folder is removed however a run ends, a crash of sealbox included (issue 4; T18).

kill -9 of the command: sealbox exits 137 and cleans up. kill -9 of sealbox itself: the command dies with it
(PR_SET_PDEATHSIG), and the next `sealbox run` of the same user removes the folder and lease left behind.
At the end no value is anywhere on disk under the private memory root or the data directory, nor in the
server's and keeper's logs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.test_run import (
    Person,
    finish,
    gone,
    held,
    keeper_restart,
    make_person,
    one_error_line,
    shm_entries_of,
    shm_paths_of,
    shm_roots,
    unique,
)
from tests.support.canaries import find_in_bytes, make_canary, scan_tree
from tests.support.processes import Stack

Canary = Callable[[str], str]
VALUES: list[str] = []
PIDS: list[int] = []  # every sealbox run of this module


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("cleanup"), "cleaner")


@pytest.fixture
def secret(person: Person, canary: Canary) -> str:
    name = unique("clean")
    value = canary("cleanup")
    VALUES.append(value)
    person.add(name, value=value)
    return name


def next_run(person: Person, secret: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "sealbox", "run", "--secret", secret, "--", "true"],
        env=person.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        _, err = proc.communicate(timeout=60)
    PIDS.append(proc.pid)
    assert proc.returncode == 0, err


def test_kill_9_of_the_command_exits_137_and_removes_the_folder(person: Person, secret: str) -> None:
    with held(person, "--secret", secret) as run:
        PIDS.append(run.proc.pid)
        folder = run.folder
        assert (folder / secret).is_file()
        os.kill(run.child_pid, signal.SIGKILL)
        assert finish(run.proc) == 137, run.output()
    assert run.code == 137
    assert not folder.exists()
    assert shm_entries_of(run.proc.pid) == []
    assert person.session(run.session_id)["status"] == "ended"


def test_kill_9_of_sealbox_takes_the_command_along_and_the_next_run_cleans_up(
    person: Person, secret: str
) -> None:
    with held(person, "--secret", secret) as run:
        PIDS.append(run.proc.pid)
        folder = run.folder
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.wait(10)
        left = shm_entries_of(run.proc.pid)
        assert folder.exists() and folder.name in left
        assert any(n.startswith("lease-") for n in left)
        assert gone(run.child_pid), "the command outlived sealbox"
    assert run.code == -signal.SIGKILL
    next_run(person, secret)
    assert not folder.exists()
    assert shm_entries_of(run.proc.pid) == []


def test_the_run_after_a_crash_ends_the_crashed_session(person: Person, secret: str) -> None:
    with held(person, "--secret", secret) as run:
        PIDS.append(run.proc.pid)
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.wait(10)
        assert gone(run.child_pid)
    next_run(person, secret)
    assert person.session(run.session_id)["status"] == "ended"


def test_a_crash_in_a_folder_i_gave_leaves_it_empty_after_the_next_run(
    person: Person, secret: str, tmp_path: Path
) -> None:
    mount = tmp_path / "mine"
    mount.mkdir(mode=0o700)
    with held(person, "--secret", secret, "--mount-path", str(mount)) as run:
        PIDS.append(run.proc.pid)
        assert (mount / secret).is_file()
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.wait(10)
        assert gone(run.child_pid)
    assert (mount / "..data").is_symlink()
    next_run(person, secret)
    assert mount.is_dir() and os.listdir(mount) == []
    assert shm_entries_of(run.proc.pid) == []


def test_a_failed_launch_writes_nothing_and_runs_nothing(
    stack: Stack, person: Person, secret: str, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    with keeper_restart():
        stack.keeper.stop()
        try:
            with subprocess.Popen(
                [sys.executable, "-m", "sealbox", "run", "--secret", secret, "--", "touch", str(ran)],
                env=person.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ) as proc:
                out, err = proc.communicate(timeout=60)
        finally:
            stack.keeper.start()
    PIDS.append(proc.pid)
    line = one_error_line(subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode()))
    assert "keeper_unavailable" in line
    assert not ran.exists()
    assert shm_entries_of(proc.pid) == []


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        time.sleep(0.2)


@contextmanager
def server_down(stack: Stack) -> Iterator[None]:
    stack.stop_server()
    try:
        yield
    finally:
        stack.start_server()


def test_a_run_that_ends_while_the_server_is_down_says_so_once_and_the_next_run_ends_its_session(
    stack: Stack, person: Person, secret: str
) -> None:
    """Issue 12, new user 2: the session used to stay `active` for its whole lifetime."""
    with held(person, "--secret", secret) as run:
        PIDS.append(run.proc.pid)
        folder = run.folder
        with server_down(stack):
            run.release(0)
            assert finish(run.proc) == 0, run.output()
            assert not folder.exists()
    lines = run.output().splitlines()
    assert len(lines) == 1, lines
    assert f"could not end session {run.session_id}" in lines[0] and "cannot be reached" in lines[0]
    assert "the next sealbox run ends it" in lines[0]
    assert person.session(run.session_id)["status"] == "active"  # its heartbeat window is not over yet
    # Only the session is left to end: the lease of the finished run, without its folder.
    leases = [p for p in shm_paths_of(run.proc.pid) if p.name.startswith("lease-")]
    assert len(leases) == 1 and json.loads(leases[0].read_text())["path"] is None
    next_run(person, secret)
    assert person.session(run.session_id)["status"] == "ended"
    assert shm_entries_of(run.proc.pid) == []


def test_a_run_killed_while_the_server_is_down_is_over_on_the_server_after_its_heartbeat_window(
    stack: Stack, person: Person, secret: str
) -> None:
    """SIGKILL of `sealbox run` while the server is down: no one is left to end the session, and no
    run follows; the server counts it as over once three heartbeats (10 s each here) are missed."""
    with held(person, "--secret", secret, env={"SEALBOX_HEARTBEAT_SECONDS": "10"}) as run:
        PIDS.append(run.proc.pid)
        sid = run.session_id
        with server_down(stack):
            os.kill(run.proc.pid, signal.SIGKILL)
            run.proc.wait(10)
            assert gone(run.child_pid)
    seen = person.session(sid)
    assert seen["heartbeat_seconds"] == 10 and seen["status"] in {"active", "expired"}

    def live_ids() -> list[str]:
        with person.api() as api:
            return [s["id"] for s in api.get("/api/v1/sessions").json()]

    wait_until(lambda: person.session(sid)["status"] == "expired", "the session expired", timeout=120)
    assert sid not in live_ids()
    with person.api() as api:
        assert api.post(f"/api/v1/sessions/{sid}/credentials").status_code == 404
    # Nobody ended it: it is over by the heartbeat rule alone; the next run still ends it properly.
    next_run(person, secret)
    assert person.session(sid)["status"] == "ended"


def test_what_older_versions_left_on_the_disk_is_removed(person: Person, secret: str, tmp_path: Path) -> None:
    """Older versions fell back to `~/.cache/sealbox` (issue 12, security finding 1): the folder of a run
    that crashed there, values and all, is removed by the next run, which itself never writes there."""
    value = make_canary("old-fallback")
    VALUES.append(value)
    old = tmp_path / "home" / ".cache" / "sealbox"
    old.mkdir(parents=True, mode=0o700)
    folder = old / "run-1-abcdef01"
    folder.mkdir(mode=0o700)
    (folder / "db").write_text(value)
    lease = old / "lease-1-abcdef01.json"
    dead = {"pid": 2**22 + 7, "start": "1", "path": str(folder), "keep_folder": False, "session": "0" * 32}
    lease.write_text(json.dumps(dead))
    with subprocess.Popen(
        [sys.executable, "-m", "sealbox", "run", "--secret", secret, "--", "true"],
        env=person.env(HOME=str(tmp_path / "home")),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        _, err = proc.communicate(timeout=60)
    PIDS.append(proc.pid)
    assert proc.returncode == 0, err
    assert not folder.exists() and not lease.exists()
    assert list(old.iterdir()) == []
    assert scan_tree(tmp_path / "home", VALUES) == {}


def test_no_value_left_on_disk_or_in_the_logs(stack: Stack, person: Person) -> None:
    """Runs last in this module: the memory root, the data directory and the logs hold no value."""
    assert VALUES and PIDS
    for root in shm_roots():
        assert scan_tree(root, VALUES) == {}
    assert scan_tree(stack.data_dir, VALUES) == {}
    assert scan_tree(person.workdir, VALUES) == {}
    assert find_in_bytes(stack.logs(), VALUES) == []
    assert [pid for pid in PIDS if shm_entries_of(pid)] == []
