"""TEST-PLAN T10 (and T9's process side): no plaintext value in the server's or the keeper's memory.

As root, against a real keeper and a real server (separate processes, started as `sealbox up` starts
them; the server's granian workers included): store canary secrets of every kind, wait until the
keeper has converted every outer layer, restart the server, then run 100 launches the way
`sealbox run` does (create a session, redeem it with the SDK straight from the keeper's socket, end
the session). Then read every readable region of each process's memory through /proc/<pid>/maps and
/proc/<pid>/mem and look for every canary in every encoding the at-rest scan uses: none in the
server, none in the keeper (the keeper is read before the restart as well: it never sees a value).

The server does receive a value while it stores it (the write request carries it), so before the
restart its workers may still hold freed copies; that is why the plan reads it after a restart.
Neither process may carry a value or a token in its environ or argv at any time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import encodings, find_in_bytes
from tests.support.opening import PAYLOAD_KINDS, canary_payload, sqlite_url, wait_until_converted
from tests.support.processes import Stack, running_stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.geteuid() != 0,
        reason="T10 reads other processes' memory through /proc/<pid>/mem: needs root on Linux",
    ),
]

API = "/api/v1"
SECRETS = 21  # three of every payload kind
LAUNCHES = 100
PER_LAUNCH = 5
CHUNK = 32 << 20
_MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")


# --- reading a process's memory ---------------------------------------------------------------------------


class Needles:
    """Every encoding of every value, found by a short anchor first (a few scans per chunk, not hundreds)."""

    ANCHOR = 8

    def __init__(self, values: Iterable[str]) -> None:
        self.forms: dict[bytes, str] = {}  # encoded form -> the value it encodes
        for value in values:
            for form in encodings(value):
                self.forms[form] = value
        self.by_anchor: dict[bytes, list[bytes]] = {}
        for form in self.forms:
            self.by_anchor.setdefault(form[: self.ANCHOR], []).append(form)
        self.longest = max(len(f) for f in self.forms)

    def find(self, data: bytes) -> set[str]:
        found: set[str] = set()
        for anchor, forms in self.by_anchor.items():
            at = data.find(anchor)
            while at >= 0:
                found.update(self.forms[f] for f in forms if data.startswith(f, at))
                at = data.find(anchor, at + 1)
        return found


@dataclass
class MemoryScan:
    pid: int
    regions: int = 0
    bytes_read: int = 0
    unreadable: list[str] = field(default_factory=list)
    found: set[str] = field(default_factory=set)


def readable_regions(pid: int) -> list[tuple[int, int, str]]:
    regions = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        m = _MAPS_LINE.match(line)
        assert m, line
        start, end, perms, name = int(m[1], 16), int(m[2], 16), m[3], m[4]
        if perms[0] == "r" and name not in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
            regions.append((start, end, name))
    return regions


def scan_memory(pid: int, needles: Needles) -> MemoryScan:
    """Read every readable mapping of `pid` (chunked, overlapping by the longest needle) and search it."""
    scan = MemoryScan(pid)
    overlap = needles.longest - 1
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end, name in readable_regions(pid):
            scan.regions += 1
            at = start
            tail = b""
            while at < end:
                try:
                    mem.seek(at)
                    chunk = mem.read(min(CHUNK, end - at))
                except OSError as e:
                    scan.unreadable.append(f"{start:x}-{end:x} {name}: {e.strerror}")
                    break
                if not chunk:
                    break
                scan.bytes_read += len(chunk)
                scan.found |= needles.find(tail + chunk)
                tail = chunk[-overlap:]
                at += len(chunk)
    return scan


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (granian's workers below the server)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return sorted(out)


def proc_text(pid: int, what: str) -> bytes:
    return Path(f"/proc/{pid}/{what}").read_bytes()


# --- the stack ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    stack: Stack
    values: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # the admin's, and every session credential

    def server_pids(self) -> list[int]:
        assert self.stack.server is not None and self.stack.server.poll() is None
        return descendants(self.stack.server.pid)

    def keeper_pids(self) -> list[int]:
        assert self.stack.keeper.proc is not None and self.stack.keeper.proc.poll() is None
        return descendants(self.stack.keeper.proc.pid)

    def launch(self, api: httpx.Client, http: HTTPClient, names: list[str]) -> int:
        """One launch as `sealbox run` makes it; the number of values that came back right."""
        created = api.post(f"{API}/sessions", json={"secrets": [{"name": n, "file": n} for n in names]})
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        session_id = body["session"]["id"]
        self.tokens.append(body["session_credential"])
        try:
            delivery = redeem(
                http,
                session_id=session_id,
                credential=body["session_credential"],
                keeper_url=self.stack.keeper.url,
            )
            return sum(1 for d in delivery.items if find_in_bytes(d.value, self.values))
        finally:
            assert api.delete(f"{API}/sessions/{session_id}").status_code in (200, 204)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    with running_stack(tmp_path) as stack:
        r = Run(stack=stack, tokens=[stack.admin_token])
        yield r
        hits = find_in_bytes(stack.logs(), r.values + r.tokens)
        assert hits == [], f"value or token in the server's or keeper's log: {hits}"


def assert_no_value_in_memory(pids: list[int], values: list[str], what: str) -> list[MemoryScan]:
    needles = Needles(values)
    scans = [scan_memory(pid, needles) for pid in pids]
    for s in scans:
        # The read really happened: a Python process maps tens of MB, nearly all of it readable.
        assert s.bytes_read > 8 << 20, f"{what} {s.pid}: only {s.bytes_read} bytes read ({s.unreadable[:5]})"
    found = {s.pid: sorted(v[:12] + "…" for v in s.found) for s in scans if s.found}
    assert found == {}, f"plaintext values in the {what}'s memory (pid: values): {found}"
    return scans


def assert_nothing_in_environ_or_argv(pids: list[int], secrets: list[str], what: str) -> None:
    for pid in pids:
        for part in ("environ", "cmdline"):
            hits = find_in_bytes(proc_text(pid, part), secrets)
            assert hits == [], f"value or token in /proc/{pid}/{part} of the {what}: {hits}"


# --- the scanner finds what is there ----------------------------------------------------------------------


@contextmanager
def holder(value: str) -> Iterator[int]:
    """A process that keeps `value` (and its base64) in memory, given on stdin (so not in argv or environ)."""
    code = (
        "import base64,sys; v=sys.stdin.readline().strip(); keep=[v, base64.b64encode(v.encode())];"
        " print('ready', flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={"PATH": "/usr/bin"}
    ) as proc:
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(value.encode() + b"\n")
            proc.stdin.flush()
            assert proc.stdout.readline() == b"ready\n"
            yield proc.pid
        finally:
            proc.kill()


def test_the_memory_scan_finds_a_value_a_process_holds(canary: Callable[[str], str]) -> None:
    held, absent = canary("t10held"), canary("t10absent")
    with holder(held) as pid:
        scan = scan_memory(pid, Needles([held, absent]))
        assert proc_text(pid, "cmdline").find(held.encode()) < 0
    assert scan.found == {held}
    assert scan.bytes_read > 8 << 20
    # The anchored search is the at-rest scan's search: the same hits on data that holds each encoding.
    blob = b"..".join(encodings(held)[2:])
    assert Needles([held, absent]).find(blob) == {held} and find_in_bytes(blob, [held]) != []


# --- T10 ---------------------------------------------------------------------------------------------------


def test_no_plaintext_in_the_server_after_a_restart_nor_in_the_keeper_at_any_time(
    run: Run, canary: Callable[[str], str]
) -> None:
    stack = run.stack
    assert len(run.keeper_pids()) == 1 and run.keeper_pids()[0] != stack.server.pid  # type: ignore[union-attr]
    with stack.client() as api:
        for i in range(SECRETS):
            kind = PAYLOAD_KINDS[i % len(PAYLOAD_KINDS)]
            run.values.append(canary("t10"))
            name = f"t10-{kind}-{i:02d}"
            answer = api.post(f"{API}/secrets", json={"name": name, **canary_payload(kind, run.values[-1])})
            assert answer.status_code == 201, answer.text
            run.names.append(name)
    wait_until_converted(sqlite_url(stack.data_dir / "sealbox.db"))

    # The keeper dumps no core (T9): a crash leaves no copy of its keys on disk.
    limits = proc_text(run.keeper_pids()[0], "limits").decode().splitlines()
    core = next(line for line in limits if line.startswith("Max core file size")).split()
    assert core[4:6] == ["0", "0"], core  # soft and hard limits

    # The keeper never sees a value: not after the writes and their conversion either.
    assert_no_value_in_memory(run.keeper_pids(), run.values, "keeper")
    assert_nothing_in_environ_or_argv(run.server_pids() + run.keeper_pids(), run.values + run.tokens, "stack")

    stack.stop_server()
    stack.start_server()
    server_pids = run.server_pids()
    assert len(server_pids) >= 2, server_pids  # granian's main process and its worker(s)

    delivered = 0
    with stack.client() as api, HTTPClient(stack.url) as http:
        for i in range(LAUNCHES):
            names = [run.names[(i * PER_LAUNCH + k) % SECRETS] for k in range(PER_LAUNCH)]
            delivered += run.launch(api, http, names)
    assert delivered == LAUNCHES * PER_LAUNCH  # every launch really brought its values to this side
    assert run.server_pids() == server_pids  # the same processes served them all

    # Read while the processes still run: the server's workers and main process, and the keeper.
    assert_nothing_in_environ_or_argv(server_pids + run.keeper_pids(), run.values + run.tokens, "stack")
    assert_no_value_in_memory(run.keeper_pids(), run.values, "keeper")
    assert_no_value_in_memory(server_pids, run.values, "server")
