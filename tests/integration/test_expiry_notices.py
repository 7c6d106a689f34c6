"""Expiry that means something (issue 16), against real server and keeper processes.

A launch with `allow_expired` (`sealbox run --allow-expired`) brings an expired secret in, and its
audit record names it; without it the launch is refused naming the secret (tests/integration/
test_expiry.py covers the refusals). The server's sweep writes a `secret.expiring` record 30, 7 and 1
days before a secret expires, each once per secret and expiry: the stacks here (SQLite, PostgreSQL)
sweep every half second (a two-second recovery window), and time passes by moving the expiry closer in
the database beside the running server (which is what the clock would do), so no test waits for days.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.integration.test_expiry import Person, expire, person, unique
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, base_env, running_stack, sealbox_cmd

API = "/api/v1"


def _records(stack: Stack, secret_id: str, action: str) -> list[dict[str, str]]:
    with stack.client() as admin:
        items = admin.get(f"{API}/audit", params={"limit": 500}).json()["items"]
    return [r for r in reversed(items) if r["secret_id"] == secret_id and r["action"] == action]


def test_allow_expired_brings_an_expired_secret_in_on_the_record(
    stack: Stack, canary: Callable[[str], str], tmp_path: Path
) -> None:
    alice = person(stack, "alice")
    name, value = unique("old"), canary("old")
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    created = alice.call("POST", "/secrets", json={"name": name, "value": value, "expires_at": later})
    assert created.status_code == 201, created.text
    expire(stack, created.json()["id"])

    body = {"secrets": [{"name": name, "file": "f"}], "allow_expired": True}
    launch = alice.call("POST", "/sessions", json=body)
    assert launch.status_code == 201, launch.text
    sid = launch.json()["session"]["id"]
    assert [i.value.decode() for i in alice.redeem(sid, launch.json()["session_credential"]).items] == [value]
    made = _records(stack, created.json()["id"], "session.create")
    assert [r["detail"] for r in made] == [f"session={sid} allow-expired={name}"]

    config = tmp_path / "config.toml"
    env = base_env(SEALBOX_CONFIG=str(config))

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            sealbox_cmd(*args), input=stdin, text=True, capture_output=True, env=env, timeout=120, check=False
        )

    assert cli("login", stack.url, "--token", "-", stdin=alice.token + "\n").returncode == 0
    refused = cli("run", "--secret", name, "--", "true")
    assert refused.returncode == 1
    assert f'secret "{name}" expired at 2001-02-03 04:05 UTC' in refused.stderr
    check = f'test "$(cat "$SEALBOX_SECRETS_DIR/{name}")" = "$EXPECTED"'
    env["EXPECTED"] = value  # the test's own comparison: the value never passes through sealbox's argv
    allowed = cli("run", "--allow-expired", "--secret", name, "--", "sh", "-c", check)
    assert allowed.returncode == 0, allowed.stderr
    assert len(_records(stack, created.json()["id"], "session.create")) == 2
    assert value not in refused.stdout + refused.stderr + allowed.stdout + allowed.stderr


@pytest.fixture(params=["sqlite", "postgres"])
def sweeping(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """A stack whose sweep runs every half second (its recovery window is two seconds)."""
    window = {"SEALBOX_RECOVERY_WINDOW_SECONDS": "2"}
    with contextlib.ExitStack() as opened:
        url = opened.enter_context(fresh_database()) if request.param == "postgres" else None
        yield opened.enter_context(running_stack(tmp_path, database_url=url, server_env=window))


def _move_expiry(stack: Stack, secret_id: str, at: datetime) -> None:
    """What the clock does: the same expiry, closer (the notice already written stays noted)."""
    if stack.database_url:
        plain = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as pg:
            changed = pg.execute("UPDATE secrets SET expires_at = %s WHERE id = %s", (at, secret_id)).rowcount
    else:
        stored = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        with closing(sqlite3.connect(stack.data_dir / "sealbox.db", timeout=10)) as conn, conn:
            changed = conn.execute(
                "UPDATE secrets SET expires_at = ? WHERE id = ?", (stored, secret_id)
            ).rowcount
    assert changed == 1


def _wait_for_notices(stack: Stack, secret_id: str, count: int) -> list[str]:
    deadline = time.monotonic() + 60
    while len(found := [r["detail"] for r in _records(stack, secret_id, "secret.expiring")]) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.25)
    return found


def _secret(who: Person, days: float) -> str:
    at = (datetime.now(UTC) + timedelta(days=days)).isoformat()
    made = who.call("POST", "/secrets", json={"name": unique("soon"), "value": "v", "expires_at": at})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_the_sweep_writes_each_notice_once_per_expiry(sweeping: Stack) -> None:
    bob = person(sweeping, "bob")
    now = datetime.now(UTC)
    far = _secret(bob, 60)  # no notice yet
    sid = _secret(bob, 20)
    assert _wait_for_notices(sweeping, sid, 1)[0].startswith("days=30 ")

    _move_expiry(sweeping, sid, now + timedelta(days=5))
    assert _wait_for_notices(sweeping, sid, 2)[1].startswith("days=7 ")
    _move_expiry(sweeping, sid, now + timedelta(hours=12))
    third = _wait_for_notices(sweeping, sid, 3)[2]
    assert third == f"days=1 expires_at={(now + timedelta(hours=12)):%Y-%m-%dT%H:%M:%SZ}"

    # A secret first seen 2 days before its expiry gets the 7-day notice only. Once its notice is
    # written, a later sweep has passed the others: they got nothing more.
    late = _secret(bob, 2)
    assert [d.split()[0] for d in _wait_for_notices(sweeping, late, 1)] == ["days=7"]
    _wait_for_notices(sweeping, _secret(bob, 0.5), 1)
    assert len(_records(sweeping, sid, "secret.expiring")) == 3
    assert _records(sweeping, far, "secret.expiring") == []
    assert len(_records(sweeping, late, "secret.expiring")) == 1

    # Its owner sets a new expiry: the notices start over for it.
    name = bob.call("GET", "/secrets").json()["items"]
    mine = next(s["name"] for s in name if s["id"] == sid)
    moved = bob.call("PATCH", f"/secrets/{mine}", json={"expires_at": (now + timedelta(days=25)).isoformat()})
    assert moved.status_code == 200, moved.text
    assert _wait_for_notices(sweeping, sid, 4)[3].startswith("days=30 ")
