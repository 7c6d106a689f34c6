"""`sealbox up` keeps its children running: a keeper or server that dies is started again, with backoff.

A child that dies is restarted after 1 s; each time it dies again within `STABLE_AFTER_S` of its start,
the wait doubles, up to `MAX_DELAY_S`; once it has run that long, the next death waits 1 s again.
`up` never gives up on a child: it stops only when asked (Ctrl-C, SIGTERM), and says each time what
died and when it will try again. While the keeper is down, launches get 503 `keeper_unavailable`
and reads and writes go on; while the server is down, nothing answers on its port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import typer

from sealbox.cli.processes import spawn
from sealbox.errors import ConfigError

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0
TICK_S = 0.2


def say(message: str) -> None:
    typer.echo(f"sealbox up: {message}", err=True)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed ({name})"
    return f"exited with status {returncode}"


def restart_delay(quick_failures: int) -> float:
    """The wait before the next start, after `quick_failures` deaths in a row soon after a start."""
    return min(MAX_DELAY_S, FIRST_DELAY_S * float(2 ** max(0, quick_failures - 1)))


@dataclass(kw_only=True)
class Child:
    """One process `up` runs: how to start it, how to tell it is ready, what to check once it is."""

    what: str
    args: Sequence[str]
    ready: Callable[[], bool]
    on_ready: Callable[[], None] = lambda: None  # may raise ConfigError: then `up` stops
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    restart_at: float | None = None
    is_ready: bool = False

    def start(self) -> None:
        self.proc = spawn(self.args)
        self.started_at = time.monotonic()
        self.is_ready = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, *, timeout: float, stopping: Callable[[], bool]) -> bool:
        """First start: True once ready, False if a stop was asked; ConfigError if it exits or hangs."""
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if stopping():
                return False
            if self.proc.poll() is not None:
                raise ConfigError(f"the {self.what} {describe_exit(self.proc.returncode)} while starting")
            if self.ready():
                self.is_ready = True
                self.on_ready()
                return True
            time.sleep(0.05)
        raise ConfigError(f"the {self.what} did not become ready in {timeout:.0f} s")

    def tick(self, now: float) -> None:
        """One look: announce a restarted child that is ready, schedule a dead one, start a due one."""
        if self.proc is None:
            return
        if self.restart_at is None and self.proc.poll() is not None:
            self._died(now)
        elif self.restart_at is not None and now >= self.restart_at:
            if _group_alive(self.proc.pid):  # what the dead child left (granian workers) must go first
                _kill_group(self.proc.pid)
                return
            self.restart_at = None
            self.start()
            say(f"started the {self.what} again (pid {self.proc.pid})")
        elif not self.is_ready and self.restart_at is None and self.ready():
            self.is_ready = True
            self.on_ready()
            say(f"the {self.what} is back")

    def _died(self, now: float) -> None:
        assert self.proc is not None
        ran = now - self.started_at
        self.quick_failures = self.quick_failures + 1 if ran < STABLE_AFTER_S else 1
        delay = restart_delay(self.quick_failures)
        _kill_group(self.proc.pid)
        self.restart_at = now + delay
        say(f"the {self.what} {describe_exit(self.proc.returncode)}; starting it again in {delay:.0f} s")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover -- the group is ours
        return True
    return True


def _kill_group(pgid: int) -> None:
    """Each child leads a process group of its own (spawn: start_new_session); end what is left of it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def supervise(children: Sequence[Child], *, stopping: Callable[[], bool]) -> None:
    """Watch the children until a stop is asked; ConfigError from a child's check ends it."""
    while not stopping():
        now = time.monotonic()
        for child in children:
            child.tick(now)
        time.sleep(TICK_S)
