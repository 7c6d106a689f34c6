"""Denials are counted on the audit record at a bounded rate (issue 12, finding 11; TEST-PLAN T14).

Before: each denied request appended one audit record, so a client could grow the audit table at its
request rate. Now the first denial of a kind (user, token, status, secret, action) in a minute is a
record of its own, and the repeats are counted in the database and summed up in one record
(`count=N ...`) once the minute is over: written by the server's sweeper, at a stop, or at the next
start after a kill. Every denial is on the record (T14's "100% of denials logged"), in a bounded
number of records, and the chain stays verifiable.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sealbox.crypto.keyring import Keyring
from sealbox.domain.principals import Principal
from sealbox.services import users
from sealbox.services.audit import flush_denials, record_denial
from sealbox.store.audit_chain import install_audit_chain, verify_chain
from sealbox.store.database import Database
from tests.support.processes import Stack, running_stack, sealbox_cmd

API = "/api/v1"
COUNT = "count="


@pytest.fixture(params=["stack", "pg_stack"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    found: Stack = request.getfixturevalue(request.param)
    return found


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_user(stack: Stack) -> tuple[str, str]:
    name = unique("denied")
    with stack.client() as admin:
        created = admin.post(f"{API}/users", json={"name": name})
    assert created.status_code == 201, created.text
    return name, created.json()["token"]


def denials_of(records: list[dict[str, Any]], actor: str) -> list[dict[str, Any]]:
    return [r for r in records if r["actor"] == actor and r["outcome"] == "denied"]


def counted(record: dict[str, Any]) -> int:
    """How many denials a record stands for: its count, or 1 for a first denial of its own."""
    detail = record["detail"] or ""
    return int(detail.split()[0].removeprefix(COUNT)) if detail.startswith(COUNT) else 1


def audit(stack: Stack, token: str | None = None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor = None
    with stack.client(token) as client:
        while True:
            page = client.get(f"{API}/audit", params={"limit": 1000} | ({"cursor": cursor} if cursor else {}))
            assert page.status_code == 200, page.text
            records.extend(page.json()["items"])
            cursor = page.json()["next_cursor"]
            if not cursor:
                return records


def wait_for_total(stack: Stack, actor: str, total: int, deadline_s: float = 200) -> list[dict[str, Any]]:
    """The actor's denied records once they count `total` (the last minute's sum comes after it ends)."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = denials_of(audit(stack), actor)
        if sum(counted(r) for r in found) >= total or time.monotonic() > deadline:
            return found
        time.sleep(3)


def test_a_thousand_denials_are_all_counted_in_a_bounded_number_of_records(any_stack: Stack) -> None:
    stack = any_stack
    owner, owner_token = new_user(stack)
    prober, token = new_user(stack)
    shared = unique("shared")
    with stack.client(owner_token) as client:
        client.post(f"{API}/secrets", json={"name": shared, "value": "v"}).raise_for_status()
        client.post(
            f"{API}/secrets/{shared}/grants", json={"user": prober, "level": "use"}
        ).raise_for_status()
    started = time.time()
    statuses: dict[int, int] = {}
    with stack.client(token) as client:
        for i in range(1000):
            if i % 5:  # 800 names that do not exist (or are not theirs): 404
                status = client.get(f"{API}/secrets/{owner}-{i}", params={"owner": owner}).status_code
            else:  # 200 replacements of a secret they may only use: 403
                status = client.put(
                    f"{API}/secrets/{shared}/value", params={"owner": owner}, json={"value": "x"}
                ).status_code
            statuses[status] = statuses.get(status, 0) + 1
    assert statuses == {404: 800, 403: 200}
    minutes = int(time.time() // 60) - int(started // 60) + 1

    records = wait_for_total(stack, prober, 1000)
    assert sum(counted(r) for r in records) == 1000, [(r["action"], r["detail"]) for r in records]
    # Two kinds (404 on secret.read, 403 on secret.replace): a first record and a count per minute each.
    assert len(records) <= 2 * 2 * minutes, len(records)
    assert sum(counted(r) for r in records if r["action"] == "secret.replace") == 200
    firsts = [r for r in records if not r["detail"].startswith(COUNT)]
    assert {r["detail"] for r in firsts} <= {
        "GET /api/v1/secrets/{name} 404",
        "PUT /api/v1/secrets/{name}/value 403",
    }
    assert all(r["secret"] == f"{owner}/{shared}" for r in firsts if r["action"] == "secret.replace")
    # The owner of the secret sees the refusals on it, the counts included; nothing else of the prober's.
    seen_by_owner = denials_of(audit(stack, owner_token), prober)
    assert sum(counted(r) for r in seen_by_owner) == 200
    assert {r["action"] for r in seen_by_owner} == {"secret.replace"}

    verified = subprocess.run(sealbox_cmd("audit", "verify"), env=stack.env(), capture_output=True)
    assert verified.returncode == 0, verified.stderr


def test_the_first_denial_names_the_secret_as_requested(stack: Stack) -> None:
    prober, token = new_user(stack)
    with stack.client(token) as client:
        assert client.get(f"{API}/secrets/zed-secret", params={"owner": "zed"}).status_code == 404
    first = wait_for_total(stack, prober, 1, deadline_s=30)
    assert [(r["action"], r["secret"], r["detail"]) for r in first] == [
        ("secret.read", "zed/zed-secret", "GET /api/v1/secrets/{name} 404")
    ]


@pytest.fixture
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("denials")) as stack:
        yield stack


def _rows(stack: Stack, actor: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{stack.data_dir / 'sealbox.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT detail FROM audit_events WHERE actor_name = ? AND outcome = 'denied'", (actor,)
        ).fetchall()
    return [{"detail": r[0]} for r in rows]


def test_the_counts_are_written_at_a_stop_and_survive_a_kill(own_stack: Stack) -> None:
    stack = own_stack
    stopped, token = new_user(stack)
    killed, killed_token = new_user(stack)
    if time.time() % 60 > 40:  # the denials below fall into one minute
        time.sleep(60 - time.time() % 60 + 0.3)
    for who in (token, killed_token):
        with stack.client(who) as client:
            for i in range(30):
                assert client.get(f"{API}/secrets/missing-{i}").status_code == 404
    # A server killed now leaves the counts in the database; no summary yet.
    stack.stop_server(signal.SIGKILL)
    assert sum(counted(r) for r in _rows(stack, killed)) < 30
    # The next server writes what the killed one left, once that minute is over; a stop writes the rest.
    stack.start_server()
    found = wait_for_total(stack, killed, 30, deadline_s=150)
    assert sum(counted(r) for r in found) == 30 and len(found) <= 4
    with stack.client(token) as client:
        for i in range(30):
            assert client.get(f"{API}/secrets/again-{i}").status_code == 404
    stack.stop_server()  # a graceful stop sums up the current minute too
    assert sum(counted(r) for r in _rows(stack, stopped)) == 60
    stack.start_server()  # for the fixture's own stop
    with httpx.Client(base_url=stack.url, timeout=30) as anonymous:
        assert anonymous.get("/healthz").status_code in (200, 503)


def test_two_replicas_count_each_denial_once_and_sum_it_up_once(database_url: str, tmp_path: Path) -> None:
    """Two servers on one database (two engines here, in threads), denying the same caller at once and
    then both summing up the minute at once: one first record, one sum, the counts add up, and the chain
    verifies. On SQLite and on PostgreSQL (where the claim is a DELETE ... RETURNING under row locks)."""
    master = Keyring.generate()
    replicas = [Database.open(database_url) for _ in range(2)]
    try:
        for i, db in enumerate(replicas):
            (tmp_path / str(i)).mkdir()
            install_audit_chain(db, master, data_dir=tmp_path / str(i))
        minute = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
        user = users.create_user(
            replicas[0], master, name="prober", is_admin=False, now=minute, requested_by=None
        )
        who = Principal(user=user, token_id=None, client_addr="127.0.0.1")
        start = threading.Barrier(2)

        def deny(db: Database) -> None:
            start.wait()
            for i in range(150):
                record_denial(
                    db,
                    who,
                    "secret.read",
                    now=minute + timedelta(milliseconds=100 * i + 1),
                    status=404,
                    secret_name=f"missing-{i}",
                    secret_id=None,
                    detail="GET /api/v1/secrets/{name} 404",
                )

        written: list[int] = []

        def flush(db: Database) -> None:
            start.wait()
            written.append(flush_denials(db, now=minute + timedelta(seconds=61)))

        for work in (deny, flush):
            threads = [threading.Thread(target=work, args=(db,)) for db in replicas]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        assert sorted(written) == [0, 1]
        with replicas[0].read() as conn:
            rows = conn.execute(
                text("SELECT detail FROM audit_events WHERE actor_name = 'prober' AND outcome = 'denied'")
            ).all()
        assert sum(counted({"detail": r[0]}) for r in rows) == 300 and len(rows) == 2, rows
        assert flush_denials(replicas[1], now=minute + timedelta(hours=1), everything=True) == 0
        assert verify_chain(replicas[0], master, data_dir=None).ok
    finally:
        for db in replicas:
            db.dispose()
