"""Running `sealbox up` in tests: a fresh "machine" (data dir, CLI config, port) and the process itself."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.processes import base_env, sealbox_cmd

STARTUP_TIMEOUT = 120.0


@dataclass
class Machine:
    """One fresh "machine": a data dir, a CLI config and a port, shared by the tests in this module."""

    root: Path
    data_dir: Path
    config: Path
    port: int
    secret_name: str
    secret_value: str = field(repr=False)
    admin_token: str = field(default="", repr=False)
    first_run_done: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return base_env(
            SEALBOX_CONFIG=str(self.config), SEALBOX_LOG_LEVEL="debug", SEALBOX_KEEPER_LOG_LEVEL="debug"
        )

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            sealbox_cmd(*args),
            input=stdin,
            text=True,
            capture_output=True,
            env=self.env(),
            timeout=120,
            check=False,
        )


class Up:
    """A running `sealbox up`, its stdout collected line by line (children share the pipe)."""

    def __init__(self, machine: Machine, log: Path, *extra: str, cwd: Path | None = None) -> None:
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                sealbox_cmd("up", "--data-dir", str(machine.data_dir), "--port", str(machine.port), *extra),
                stdout=subprocess.PIPE,
                stderr=err,
                env=machine.env(),
                cwd=cwd,
                start_new_session=True,  # its own process group, as in a terminal
            )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            self.lines.append(line)
            if "sealbox is up" in line:
                self.ready.set()

    @property
    def stdout(self) -> str:
        return "".join(self.lines)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.ready.wait(0.1):
            if self.proc.poll() is not None:
                pytest.fail(f"sealbox up exited with {self.proc.returncode}: {self.stdout}")
            if time.monotonic() > deadline:
                pytest.fail(f"sealbox up was not up in {STARTUP_TIMEOUT} s: {self.stdout}")

    def interrupt(self, *, whole_group: bool = False, timeout: float = 60) -> int:
        """SIGINT to `up` alone, or to its process group as a terminal's Ctrl-C does."""
        if whole_group:
            os.killpg(self.proc.pid, signal.SIGINT)
        else:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        """Make sure the process is gone and its pipe closed (also after a failed assertion)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, read from /proc (no psutil)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
        fields = stat_line.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        children = {child for child, parent in parents.items() if parent == current}
        frontier.extend(children - found)
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def pgrep(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def wait_gone(pids: set[int], pattern: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids) and not pgrep(pattern):
            return
        time.sleep(0.1)
    left = [p for p in pids if alive(p)] + pgrep(pattern)
    pytest.fail(f"processes left after sealbox up stopped: {left}")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wait_for_text(path: Path, text: str, *, count: int = 1, timeout: float = 120) -> str:
    """Wait until `text` occurs `count` times in the file at `path`; its content then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if content.count(text) >= count:
            return content
        time.sleep(0.1)
    pytest.fail(f"{text!r} did not appear {count} time(s) in {path} within {timeout} s")
