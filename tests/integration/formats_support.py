"""Helpers for the `sealbox run --as` tests: a run with its own environment and an empty home, the child's
report (hashes and facts, never a value), and small servers the clients talk to on loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.integration.test_run import Person
from tests.support.canaries import find_in_bytes
from tests.support.processes import sealbox_cmd


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]


def run_as(
    person: Person,
    tmp: Path,
    args: list[str],
    script: str,
    *script_args: str,
    env: dict[str, str] | None = None,
    values: tuple[str, ...] = (),
    timeout: float = 120,
) -> Ran:
    """`sealbox run ARGS -- python -c SCRIPT REPORT ARGS...` with HOME an empty folder of its own. The
    script writes its report (JSON) to REPORT. Checks that no value reached sealbox's output, the report,
    or the home folder, and that the run's folder is gone."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    before = sorted(p.name for p in home.iterdir())
    report = tmp / f"report-{time.monotonic_ns()}.json"
    command = [sys.executable, "-c", script, str(report), *script_args]
    proc = subprocess.run(
        sealbox_cmd("run", *args, "--", *command),
        env=person.env(HOME=str(home), **(env or {})),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    found = report.read_bytes() if report.exists() else b"{}"
    for data in (proc.stdout, proc.stderr, found):
        assert find_in_bytes(data, values) == [], "a value reached sealbox's output or the report"
    assert sorted(p.name for p in home.iterdir()) == before, "sealbox or the client wrote to the home folder"
    result = Ran(
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        json.loads(found),
    )
    folder = result.report.get("dir")
    if folder:
        assert not Path(folder).exists(), "the run's folder outlived it"
    return result


# The start of every child script: its report, and the facts every format shares.
PRELUDE = """
import hashlib, json, os, stat, sys
from pathlib import Path
REPORT = Path(sys.argv[1])
def sha(text):
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()
def mode(path):
    return oct(stat.S_IMODE(os.stat(path).st_mode))
out = {"dir": os.environ.get("SEALBOX_SECRETS_DIR")}
def done():
    REPORT.write_text(json.dumps(out))
"""


@contextmanager
def basic_auth_server(user: str, password: str) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that answers 200 to Basic `user:password` and 401 otherwise; yields its
    URL and the list of outcomes ("ok", "refused") it has served."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.headers.get("Authorization") == expected
            seen.append("ok" if ok else "refused")
            self.send_response(200 if ok else 401)
            if not ok:
                self.send_header("WWW-Authenticate", 'Basic realm="sealbox-test"')
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if ok else b"no")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd or "/nonexistent"), **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout


def bare_repository(root: Path) -> Path:
    """A bare repository with one commit whose README says `hello from sealbox`."""
    work, bare = root / "work", root / "repo.git"
    work.mkdir(parents=True)
    ident = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    git("init", "-q", "-b", "main", str(work), cwd=root)
    (work / "README").write_text("hello from sealbox\n")
    git("add", "README", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work, env=ident)
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return bare
