"""`sealbox run --refresh`: replaced values reach a running command within 5 s, atomically (issue 4; T18).

A reader child loops over the whole folder: it resolves `..data` once per pass and reads every file (and the
manifest) from that version folder, checking that all of them belong to one delivery. The test replaces the
values several times meanwhile. Without `--refresh`, values stay as they were at the start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_run import (
    HOLD,
    Person,
    assert_modes,
    finish,
    gone,
    held,
    keeper_restart,
    make_person,
    manifest,
    shm_entries_of,
    shm_paths_of,
    unique,
)
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack, sealbox_cmd

Canary = Callable[[str], str]
ROUNDS = 5
# The issue asks for 5 s; the launcher polls every 2 s. The slack is for a loaded CI machine.
LATENCY_LIMIT_S = 8.0
VALUES: list[str] = []

# argv: OUT A_FILE B_FILE DB_DIR. Values are "A-<n>-…", "B-<n>-…", and a database secret whose host, user and
# password carry the same n; secret version v holds n = v - 1. Logs what it saw (numbers only) to OUT.
READER = """
import json, os, sys, time
from pathlib import Path
out = Path(sys.argv[1])
stop = out.with_name(out.name + ".stop")
a_file, b_file, db_dir = sys.argv[2:5]
root = Path(os.environ["SEALBOX_SECRETS_DIR"])
log = out.open("a", buffering=1)

def num(text, prefix):
    head, n, _ = text.split("-", 2)
    if head != prefix:
        raise ValueError(head)
    return int(n)

reads = bad = 0
last = None
log.write(json.dumps({"started": time.time()}) + "\\n")
while not stop.exists():
    folder = root / os.readlink(root / "..data")  # resolved once: every read below is from one version
    try:
        listed = json.loads((folder / "@sealbox.json").read_text())["files"]
        versions = {e["file"]: e["version"] for e in listed}
        a = num((folder / a_file).read_text(), "A")
        b = num((folder / b_file).read_text(), "B")
        db = (folder / db_dir)
        ns = {int((db / "host").read_text().split(".")[0][1:]), int((db / "user").read_text()[1:]),
              num((db / "password").read_text(), "P")}
    except (OSError, ValueError, KeyError) as exc:
        bad += 1
        log.write(json.dumps({"partial": type(exc).__name__}) + "\\n")
        continue
    reads += 1
    if len(ns) != 1 or a != versions[a_file] - 1 or b != versions[b_file] - 1 or ns != {versions[db_dir] - 1}:
        bad += 1
        log.write(json.dumps({"mixed": [a, b, sorted(ns), versions]}) + "\\n")
    state = [a, b, min(ns)]
    if state != last:
        log.write(json.dumps({"seen": state, "at": time.time()}) + "\\n")
        last = state
    time.sleep(0.002)
log.write(json.dumps({"done": reads, "bad": bad}) + "\\n")
"""


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("refresh"), "refresher")


@pytest.fixture
def token(canary: Canary) -> str:
    """One canary carried in every value of a test (registered with the stack's log scan)."""
    value = canary("refresh")
    VALUES.append(value)
    return value


def events(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.endswith("}")]


def wait_for_event(
    out: Path, check: Callable[[dict[str, Any]], bool], proc: subprocess.Popen[bytes], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in events(out):
            if check(event):
                return event
        if proc.poll() is not None:
            raise AssertionError(f"sealbox run exited with {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError(f"not seen in {timeout} s; events: {events(out)[-5:]}")


def seen_at_least(n: int, position: int | None = None) -> Callable[[dict[str, Any]], bool]:
    """A reader event showing round `n` (or later) for every value, or for the one at `position`."""

    def check(event: dict[str, Any]) -> bool:
        seen = event.get("seen")
        if seen is None:
            return False
        return all(x >= n for x in seen) if position is None else bool(seen[position] >= n)

    return check


def db_fields(n: int, token: str) -> dict[str, str]:
    return {"host": f"h{n}.example.org", "user": f"u{n}", "password": f"P-{n}-{token}"}


def test_refresh_swaps_whole_folders_within_seconds(person: Person, token: str, tmp_path: Path) -> None:
    a, b, db = unique("ra"), unique("rb"), unique("rdb")
    person.add(a, value=f"A-0-{token}")
    person.add(b, value=f"B-0-{token}")
    person.add(db, kind="database", fields=db_fields(0, token))
    out = tmp_path / f"reader-{uuid.uuid4().hex[:6]}.log"
    args = ["--refresh", "--secret", f"{a}:a", "--secret", f"{b}:b", "--secret", f"{db}:db"]
    proc = person.start(
        *args, "--", sys.executable, "-c", READER, str(out), "a", "b", "db", out=tmp_path / "run.out"
    )
    latencies: list[float] = []
    folder: Path | None = None
    try:
        wait_for_event(out, seen_at_least(0), proc, timeout=60)
        for n in range(1, ROUNDS + 1):
            put: dict[str, float] = {}
            person.replace(a, value=f"A-{n}-{token}")
            put["a"] = time.time()
            person.replace(b, value=f"B-{n}-{token}")
            put["b"] = time.time()
            person.replace(db, fields=db_fields(n, token))
            put["db"] = time.time()
            wait_for_event(out, seen_at_least(n), proc, timeout=20)
            for i, key in enumerate(("a", "b", "db")):
                first = wait_for_event(out, seen_at_least(n, position=i), proc, timeout=1)
                latencies.append(first["at"] - put[key])
        folders = [p for p in shm_paths_of(proc.pid) if p.name.startswith("run-")]
        assert len(folders) == 1
        folder = folders[0]
        assert_modes(folder)
        # Old versions are pruned: the current one, and the previous one for a reader mid-swap.
        assert len([e for e in os.listdir(folder) if e.startswith("..") and e not in {"..data"}]) <= 2
        assert {f["file"]: f["version"] for f in manifest(folder)["files"]} == {
            "a": ROUNDS + 1,
            "b": ROUNDS + 1,
            "db": ROUNDS + 1,
        }
        session_id = manifest(folder)["session"]
    finally:
        out.with_name(out.name + ".stop").write_text("")
        code = finish(proc)
    assert code == 0, (tmp_path / "run.out").read_text()
    log = events(out)
    done = log[-1]
    assert done.get("bad") == 0, [e for e in log if "partial" in e or "mixed" in e][:5]
    assert done["done"] >= 100, done  # the reader kept reading throughout
    assert max(latencies) <= LATENCY_LIMIT_S, latencies
    assert folder is not None and not folder.exists()
    delivered = person.session(session_id)["secrets"]
    assert {(s["version"], s["current_version"]) for s in delivered} == {(ROUNDS + 1, ROUNDS + 1)}
    assert find_in_bytes((tmp_path / "run.out").read_bytes(), VALUES) == []


def test_without_refresh_values_stay_as_at_start(person: Person, token: str, tmp_path: Path) -> None:
    name = unique("still")
    person.add(name, value=f"S-1-{token}")
    with held(person, "--secret", name) as still, held(person, "--refresh", "--secret", name) as live:
        person.replace(name, value=f"S-2-{token}")
        deadline = time.monotonic() + 20
        while (live.folder / name).read_text() != f"S-2-{token}":
            assert time.monotonic() < deadline, "the --refresh run never saw the new value"
            time.sleep(0.05)
        # The refreshing run has seen the change; give the other one more than a polling interval too.
        time.sleep(2.5)
        assert (still.folder / name).read_text() == f"S-1-{token}"
        assert [f["version"] for f in manifest(still.folder)["files"]] == [1]
        assert len([e for e in os.listdir(still.folder) if e.startswith("..") and e != "..data"]) == 1
    assert still.code == 0 and live.code == 0


def test_refresh_survives_a_keeper_outage_and_catches_up(
    stack: Stack, person: Person, token: str, tmp_path: Path
) -> None:
    name = unique("outage")
    person.add(name, value=f"K-1-{token}")
    with held(person, "--refresh", "--secret", name, script=HOLD) as run:
        with keeper_restart():
            stack.keeper.stop()
            try:
                person.replace(name, value=f"K-2-{token}")
                time.sleep(4.5)  # two polling intervals with the keeper down
                assert (run.folder / name).read_text() == f"K-1-{token}"
                assert "refresh failed" in run.output()
            finally:
                stack.keeper.start()
        restarted = time.monotonic()
        while (run.folder / name).read_text() != f"K-2-{token}":
            assert time.monotonic() - restarted < 15, "the new value never arrived after the keeper came back"
            time.sleep(0.05)
        assert_modes(run.folder)
    assert run.code == 0, run.output()
    # Said once while it lasted (two polls or more), and once when it was over.
    assert run.output().splitlines() == [
        "sealbox: refresh failed: the keeper is unavailable (keeper_unavailable); keeping the current values",
        "sealbox: refresh works again",
    ], run.output()
    assert find_in_bytes(run.out.read_bytes(), VALUES) == []


# --- the server says the session is over; the server cannot be reached (issue 12, new user 2 and 3) -------


def end_with_the_cli(person: Person, session_id: str) -> None:
    ended = subprocess.run(
        sealbox_cmd("session", "end", session_id),
        env=person.env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert ended.returncode == 0, ended.stderr


def wait_until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("args", "env", "within"),
    [
        (["--refresh"], {}, 20.0),  # noticed at the next poll (2 s)
        ([], {"SEALBOX_HEARTBEAT_SECONDS": "10"}, 40.0),  # noticed at the next heartbeat (10 s)
    ],
    ids=["refresh", "heartbeat"],
)
def test_session_end_removes_the_files_of_a_running_command_and_says_so(
    person: Person, token: str, args: list[str], env: dict[str, str], within: float
) -> None:
    name = unique("ended")
    person.add(name, value=f"E-1-{token}")
    with held(person, *args, "--secret", name, "--env", f"ENDED_VAR={name}", env=env) as run:
        folder = run.folder
        assert (folder / name).read_text() == f"E-1-{token}"
        end_with_the_cli(person, run.session_id)
        wait_until(lambda: not folder.exists(), "the folder was removed", within)
        assert not gone(run.child_pid, timeout=0.5), "ending the session killed the command"
        wait_until(lambda: "keeps running" in run.output(), "sealbox said so", 10)
    assert run.code == 0, run.output()
    lines = run.output().splitlines()
    assert lines == [
        f"sealbox: session {run.session_id} was ended (sealbox session end, or the web page): its files are "
        "removed; the command keeps running (the variables it was given stay in its environment)"
    ], lines
    assert person.session(run.session_id)["status"] == "ended"
    assert shm_entries_of(run.proc.pid) == []


def test_an_unreachable_server_is_reported_once_and_its_return_once(
    stack: Stack, person: Person, token: str
) -> None:
    """It used to print `refresh failed (ClientError)` every 2 s."""
    name = unique("outage")
    person.add(name, value=f"O-1-{token}")
    # A wide heartbeat window (3 x 60 s), so that a slow restart of the server does not end the session.
    with held(person, "--refresh", "--secret", name, env={"SEALBOX_HEARTBEAT_SECONDS": "60"}) as run:
        stack.stop_server()
        try:
            wait_until(lambda: "cannot reach" in run.output(), "the server is reported unreachable", 30)
            time.sleep(5 * 2.0)  # five more polls with the server down: nothing more is said
            assert (run.folder / name).read_text() == f"O-1-{token}"
        finally:
            stack.start_server()
        wait_until(lambda: "answers again" in run.output(), "the server's return is reported", 30)
        person.replace(name, value=f"O-2-{token}")
        wait_until(lambda: (run.folder / name).read_text() == f"O-2-{token}", "refresh resumed", 30)
    assert run.code == 0, run.output()
    lines = run.output().splitlines()
    assert lines == [
        f"sealbox: cannot reach the sealbox server at {stack.url}; keeping the current values; trying again",
        f"sealbox: the sealbox server at {stack.url} answers again",
    ], lines
    assert find_in_bytes(run.out.read_bytes(), VALUES) == []
