"""`sealbox up` on a fresh machine: keys, database, admin token, two children, a clean Ctrl-C, a reuse.

The tests in this module run in order on one data directory: the first run creates everything, the
second run must reuse it.
"""

from __future__ import annotations

import os
import signal
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import free_port
from tests.support.up import Machine, Up, descendants, mode, pgrep, wait_gone


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    root = tmp_path_factory.mktemp("up")
    m = Machine(
        root=root,
        data_dir=root / f"data-{uuid.uuid4().hex[:6]}",
        config=root / "home" / ".config" / "sealbox" / "config.toml",
        port=free_port(),
        secret_name=f"first-{uuid.uuid4().hex[:6]}",
        secret_value=make_canary("up-"),
    )
    yield m
    for pid in pgrep(str(m.data_dir)):  # a failed test must not leave servers behind
        os.kill(pid, signal.SIGKILL)


def test_first_up_creates_everything_and_stops_cleanly(machine: Machine) -> None:
    up = Up(machine, machine.root / "up-1.log")
    try:
        up.wait_ready()
        children = descendants(up.proc.pid)
        child_args = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in children}

        # The admin token: printed once, saved to the config (0600), and it works.
        config_text = machine.config.read_text()
        token = next(line.split('"')[1] for line in config_text.splitlines() if line.startswith("token"))
        machine.admin_token = token
        assert token.startswith("sbx_")
        assert up.stdout.count(token) == 1, up.stdout
        assert "first run" in up.stdout
        assert f'url = "{machine.url}"' in config_text
        assert mode(machine.config) == 0o600
        assert machine.url in up.stdout
        with httpx.Client(base_url=machine.url, headers={"Authorization": f"Bearer {token}"}) as api:
            assert api.get("/api/v1/me").json()["name"] == "admin"
            assert api.get("/healthz").json() == {
                "status": "ok",
                "database": "ok",
                "database_write": "ok",
                "keeper": "ok",
            }

        # Keys and the keeper: master key 0600 in the data dir; the keeper beside it, never inside it.
        d = machine.data_dir
        keeper_dir = d.with_name(d.name + "-keeper")
        assert mode(d) == 0o700
        assert mode(d / "master.key") == 0o600
        assert keeper_dir.is_dir() and mode(keeper_dir) == 0o700
        assert d not in keeper_dir.parents and keeper_dir != d
        sock = keeper_dir / "keeper.sock"
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert mode(sock) == 0o600
        private_files = {p.name for p in keeper_dir.iterdir() if p.is_file() and p.name.endswith(".key")}
        assert private_files, "the keeper keeps its private key in its own dir"
        in_data_dir = {p.name for p in d.rglob("*")}
        assert not private_files & in_data_dir
        for p in d.rglob("*"):
            if p.is_file() and p.suffix != ".pub":  # public keys may be world-readable
                assert mode(p) & 0o077 == 0, (p, oct(mode(p)))
        # Both children run: a keeper and a server, both started from this data dir.
        assert any(b" keeper " in a and bytes(keeper_dir) in a for a in child_args.values()), child_args
        assert any(b" server " in a and bytes(d) in a for a in child_args.values()), child_args

        # The CLI works at once with the saved config.
        added = machine.cli("secret", "add", machine.secret_name, stdin=machine.secret_value)
        assert added.returncode == 0, added.stderr
        listed = machine.cli("secret", "ls")
        assert machine.secret_name in listed.stdout
        assert machine.secret_value not in added.stdout + added.stderr + listed.stdout

        # Ctrl-C: both children stop, nothing is left, exit status 0.
        children = descendants(up.proc.pid) | children
        assert len(children) >= 2
        assert up.interrupt() == 0, up.stdout
        wait_gone(children, str(d))
        assert "stopping sealbox" in up.stdout
        machine.first_run_done = True
    finally:
        up.kill()
    logs = up.log.read_bytes() + up.stdout.replace(machine.admin_token, "", 1).encode()
    assert find_in_bytes(logs, [machine.secret_value, machine.admin_token]) == []


def test_second_up_reuses_everything(machine: Machine) -> None:
    if not machine.first_run_done:
        pytest.fail("the first run did not complete")
    config_before = machine.config.read_bytes()
    master_before = (machine.data_dir / "master.key").read_bytes()
    up = Up(machine, machine.root / "up-2.log")
    try:
        up.wait_ready()
        assert "first run" not in up.stdout
        assert "sbx_" not in up.stdout
        assert machine.config.read_bytes() == config_before
        assert (machine.data_dir / "master.key").read_bytes() == master_before
        listed = machine.cli("secret", "ls", "--json")
        assert listed.returncode == 0, listed.stderr
        assert machine.secret_name in listed.stdout
        assert machine.secret_value not in listed.stdout
        shown = machine.cli("secret", "show", machine.secret_name, "--json")
        assert shown.returncode == 0, shown.stderr
        assert '"current_version": 1' in shown.stdout
        children = descendants(up.proc.pid)
        assert len(children) >= 2
        assert up.interrupt(whole_group=True) == 0, up.stdout
        wait_gone(children, str(machine.data_dir))
    finally:
        up.kill()
    assert (
        find_in_bytes(up.log.read_bytes() + up.stdout.encode(), [machine.secret_value, machine.admin_token])
        == []
    )


def test_a_relative_keeper_dir_works(tmp_path: Path) -> None:
    """`sealbox up --keeper-dir keeper` from the folder that holds it: the keeper's socket address is made
    absolute, so the supervisor's readiness check and the server reach the socket the keeper listens on."""
    m = Machine(
        root=tmp_path,
        data_dir=tmp_path / "data",
        config=tmp_path / "home" / ".config" / "sealbox" / "config.toml",
        port=free_port(),
        secret_name="unused",
        secret_value=make_canary("up-rel-"),
    )
    up = Up(m, tmp_path / "up.log", "--keeper-dir", "keeper", cwd=tmp_path)
    try:
        up.wait_ready()
        assert (tmp_path / "keeper" / "keeper.sock").is_socket()
        health = httpx.get(f"{m.url}/healthz", timeout=30).json()
        assert health["keeper"] == "ok", health
        assert up.interrupt(whole_group=True) == 0, up.stdout
    finally:
        up.kill()
        for pid in pgrep(str(m.data_dir)):
            os.kill(pid, signal.SIGKILL)
