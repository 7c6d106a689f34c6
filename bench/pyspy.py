"""Sample a running sealbox worker with py-spy and say where its time goes.

Two samplers run at once on the same pid (both ``--nonblocking``, so the worker is never paused):

- ``--gil``: only the thread holding the GIL. In a worker whose Python code runs one thread at a
  time, this is where the *CPU* goes, and its total bounds the worker's throughput.
- all threads: wall-clock time of every thread that is not idle (threads parked on the threadpool
  queue or in the event loop's ``select`` are dropped), so time in sqlite3/psycopg C code that
  released the GIL shows up too.

Both are saved as collapsed stacks (``bench/results/profile-*.txt``), which speedscope
(https://www.speedscope.app) or ``flamegraph.pl`` render as flame graphs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["find_py_spy", "record", "summarise"]

# Leaf frames that mean "this thread is waiting, not working".
_IDLE_LEAVES = (
    "Condition.wait (threading.py",
    "Queue.get (queue.py",
    "EpollSelector.select (selectors.py",
    "Event.wait (threading.py",
    "Thread.join (threading.py",
    "_wait_for_tstate_lock (threading.py",
)

# Self time: the leaf frame's top-level module, grouped.
_LIBRARIES = {
    "sqlalchemy": "SQLAlchemy (Python)",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "fastapi": "FastAPI",
    "starlette": "Starlette",
    "anyio": "threadpool hops (anyio, threading, queue)",
    "threading": "threadpool hops (anyio, threading, queue)",
    "queue": "threadpool hops (anyio, threading, queue)",
    "concurrent": "threadpool hops (anyio, threading, queue)",
    "asyncio": "asyncio event loop",
    "selectors": "asyncio event loop",
    "granian": "granian (Python side)",
    "sealbox": "sealbox code",
    "psycopg": "psycopg (Python)",
    "psycopg_pool": "psycopg (Python)",
}
_DRIVER_LEAVES = ("do_execute (", "do_commit (", "do_rollback (", "fetchone (", "fetchall (", "fetchmany (")

# Inclusive time: every sample whose stack contains the marker counts.
MARKERS = {
    "hot path (server/hot.py, plain ASGI; everything below it)": "_Read.__call__ (sealbox/server/hot.py",
    "auth: Authenticator.authenticate (failure count + token lookup + hash)": "Authenticator.authenticate (",
    "SecretService.get_with_sessions (secret, versions, live sessions)": "get_with_sessions (sealbox/",
    "hand-written SQL in the driver (RawReader: execute + fetch, C)": "RawReader._execute (sealbox/store/raw.py",
    "BEGIN per transaction (_sqlite_on_begin)": "_sqlite_on_begin (",
    "COMMIT per transaction (do_commit)": "do_commit (",
    "pool checkout / return": "_ConnectionFairy._checkout (",
    "SQLAlchemy statement compile / cache key": "_generate_cache_key (",
    "body as a Struct for msgspec (secret_public)": "secret_public (sealbox/server/schemas/secrets.py",
    "send to granian (response start + body)": "_send (starlette/middleware/errors.py",
    "FastAPI serialize_response (pydantic validate + dump)": "serialize_response (fastapi/",
    "FastAPI solve_dependencies": "solve_dependencies (fastapi/",
    "threadpool hand-off (run_sync_in_worker_thread)": "run_sync_in_worker_thread (anyio/",
    "GuardMiddleware and everything below it": "GuardMiddleware.__call__ (sealbox/",
}


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def _module(frame: str) -> str:
    """``Func (pkg/mod.py:12)`` -> ``pkg``; ``(threading.py:1)`` -> ``threading``."""
    inside = frame.rsplit("(", 1)[-1]
    path = inside.rsplit(":", 1)[0]
    return path.split("/", 1)[0].removesuffix(".py")


def summarise(raw: str, *, drop_idle: bool) -> dict[str, Any]:
    """Self time by library and inclusive time of ``MARKERS`` from py-spy's ``--format raw``."""
    total = 0
    idle = 0
    libs: Counter[str] = Counter()
    marks: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        leaf = frames[-1]
        if drop_idle and leaf.startswith(_IDLE_LEAVES):
            idle += n
            continue
        total += n
        mod = _module(leaf)
        if mod == "sqlalchemy" and any(d in leaf for d in _DRIVER_LEAVES):
            group = "DB driver C calls (sqlite3/psycopg, via SQLAlchemy)"
        else:
            group = _LIBRARIES.get(mod, f"other Python ({mod})")
        libs[group] += n
        for label, needle in MARKERS.items():
            if any(needle in f for f in frames):
                marks[label] += n
    if total == 0:
        return {"samples": 0, "idle_samples": idle, "self_by_library": {}, "inclusive": {}}
    return {
        "samples": total,
        "idle_samples": idle,
        "self_by_library": {k: v / total for k, v in libs.most_common()},
        "inclusive": {k: marks[k] / total for k in MARKERS},
    }


def record(
    pid: int, seconds: int, out_dir: Path, name: str, *, rate: int = 200
) -> list[subprocess.Popen[bytes]]:
    """Start the GIL and all-threads samplers on ``pid``; ``wait_records`` collects them."""
    spy = find_py_spy()
    if spy is None:
        raise FileNotFoundError("py-spy not installed: .venv/bin/pip install py-spy")
    procs = []
    for kind, extra in (("gil", ["--gil"]), ("threads", [])):
        procs.append(
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(seconds),
                    "--rate",
                    str(rate),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(out_dir / f"profile-{name}-{kind}.txt"),
                    *extra,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
    return procs


def wait_records(
    procs: list[subprocess.Popen[bytes]], out_dir: Path, name: str, timeout_s: float
) -> dict[str, Any]:
    """Wait for the samplers and summarise both profiles."""
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=timeout_s)
        if p.returncode != 0:
            errors.append(err.decode(errors="replace").strip()[-300:])
    result: dict[str, Any] = {"errors": errors}
    for kind in ("gil", "threads"):
        path = out_dir / f"profile-{name}-{kind}.txt"
        if path.exists():
            result[kind] = summarise(path.read_text(), drop_idle=kind == "threads")
            result[kind]["file"] = str(path)
    return result
