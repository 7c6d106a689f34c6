"""The server's worker processes live and die with it (2 workers, the default on these machines).

A killed `sealbox server` (SIGKILL of granian's main process: an OOM kill, a crashed supervisor) must
not leave workers behind that go on answering on its port with whatever settings they started with;
a stopped one must stop even right after it started.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.support.processes import Stack, running_stack


def _workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; it waits only for its reaper


def _gone(pids: list[int], within: float = 60.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def _serving(stack: Stack) -> bool:
    try:
        httpx.get(f"{stack.url}/healthz", timeout=2)
    except httpx.TransportError:
        return False
    return True


def test_killed_server_leaves_no_worker_serving(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        assert stack.server is not None
        workers = _workers(stack.server.pid)
        assert len(workers) >= 2, workers
        stack.server.send_signal(signal.SIGKILL)
        stack.server.wait()
        assert _gone(workers), [p for p in workers if _alive(p)]
        assert not _serving(stack)
        stack.start_server()  # the port is free again for a new server
        assert _serving(stack)


def test_stop_right_after_start_ends_every_worker(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        for _ in range(3):
            stack.stop_server()
            stack.start_server()
            assert stack.server is not None
            workers = _workers(stack.server.pid)
            stack.server.send_signal(signal.SIGTERM)
            stack.server.wait(60)  # granian gives a worker 10 s to stop, then kills it
            assert _gone(workers), [p for p in workers if _alive(p)]
