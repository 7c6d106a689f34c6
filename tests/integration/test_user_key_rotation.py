"""Online user-key rotation (TEST-PLAN T23, the user-key level): clients keep writing, reading and
launching while `sealbox admin rotate user-keys` runs, is killed with SIGKILL mid-way and run again;
every acknowledged value then launches, no data key is left on an old user key, `--retire` removes
the old keys, and everything still launches after a server restart, `sealbox audit verify` green."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.canaries import find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack
from tests.support.rotation import WRITERS, Traffic, admin, audit_verify, count, rotate_killed_midway
from tests.support.writes import values_through_launch

STORED = 60  # versions for the re-wrap: enough batches of 2 to kill the command between two
ON_PREVIOUS = (
    "SELECT COUNT(*) FROM secret_versions v JOIN secrets s ON s.id = v.secret_id "
    "JOIN previous_user_keys p ON p.user_id = s.owner_id AND p.key_id = v.user_key_id"
)


def _old_key_ids(stack: Stack) -> set[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.database_url or f"sqlite:///{stack.data_dir / 'sealbox.db'}")
    try:
        with engine.connect() as conn:
            return {str(k) for (k,) in conn.execute(text("SELECT DISTINCT user_key_id FROM secret_versions"))}
    finally:
        engine.dispose()


def _store(stack: Stack) -> dict[str, str]:
    values = {f"u{i}": make_canary("uk") for i in range(STORED // 2)}
    with stack.client() as c:
        for name, value in values.items():
            assert c.post("/api/v1/secrets", json={"name": name, "value": value}).status_code == 201
            values[name] = make_canary("uk2")  # a second version of each
            assert c.put(f"/api/v1/secrets/{name}/value", json={"value": values[name]}).status_code == 200
    return values


def _rotation_under_load(stack: Stack) -> None:
    stored = _store(stack)
    old_ids = _old_key_ids(stack)
    traffic = Traffic(stack)
    traffic.start()
    try:
        time.sleep(1.0)
        rotate_killed_midway(stack, "user-keys", "--batch", "2", moved=7)
        assert count(stack, ON_PREVIOUS) > 0, "the kill should leave data keys on the old user key"
        refused = admin(stack, "rotate", "user-keys", "--retire")
        assert refused.returncode != 0
        assert "still use a previous user key" in refused.stderr and len(refused.stderr.splitlines()) == 1
        resumed = admin(stack, "rotate", "user-keys", "--batch", "2")
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.startswith("gave ") and resumed.stdout.rstrip().endswith("0 rows left")
        time.sleep(1.0)
    finally:
        traffic.finish()
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.ops > 20 and len(traffic.ledger.acked) >= WRITERS
    assert count(stack, ON_PREVIOUS) == 0
    assert not old_ids & _old_key_ids(stack), "0 data keys left on an old user key"
    launched = values_through_launch(stack, sorted(stored))
    assert {n: v.decode() for n, v in launched.items()} == stored
    assert traffic.ledger.lost(values_through_launch(stack, sorted(traffic.ledger.acked))) == []
    audit_verify(stack)

    retired = admin(stack, "rotate", "user-keys", "--retire")
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.startswith("retired ")
    assert count(stack, "SELECT COUNT(*) FROM previous_user_keys") == 0
    stack.stop_server()
    stack.start_server()
    launched = values_through_launch(stack, sorted(stored))
    assert {n: v.decode() for n, v in launched.items()} == stored
    assert traffic.ledger.lost(values_through_launch(stack, sorted(traffic.ledger.acked))) == []
    assert "audit chain ok" in audit_verify(stack)
    assert find_in_bytes(stack.logs(), [*stored.values(), *traffic.ledger.acked.values()]) == []


def test_user_key_rotation_under_load_on_sqlite(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        _rotation_under_load(stack)


@pytest.mark.postgres
def test_user_key_rotation_under_load_on_postgres(tmp_path: Path) -> None:
    with fresh_database() as url, running_stack(tmp_path, database_url=url) as stack:
        _rotation_under_load(stack)


def test_one_users_key_rotates_alone(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        stored = _store(stack)
        with stack.client() as c:
            r = c.post("/api/v1/users", json={"name": "bob"})
            assert r.status_code == 201
        bob = r.json()["token"]
        with stack.client(bob) as c:
            r = c.post("/api/v1/secrets", json={"name": "b1", "value": make_canary("b")})
            assert r.status_code == 201
        admin_ids = _old_key_ids(stack)
        done = admin(stack, "rotate", "user-keys", "--user", "bob")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "gave 1 user(s) a new key and re-wrapped 1 data key(s); 0 rows left"
        assert len(admin_ids - _old_key_ids(stack)) == 1, "only bob's key id is gone from the versions"
        missing = admin(stack, "rotate", "user-keys", "--user", "nobody")
        assert missing.returncode != 0 and missing.stderr.strip() == "error: no user named 'nobody'"
        retired = admin(stack, "rotate", "user-keys", "--user", "bob", "--retire")
        assert retired.stdout.strip() == "retired 1 previous user key(s) of bob"
        launched = values_through_launch(stack, sorted(stored))
        assert {n: v.decode() for n, v in launched.items()} == stored
