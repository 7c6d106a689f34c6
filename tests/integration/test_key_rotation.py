"""Online master-key rotation (TEST-PLAN T23, the master-key level): clients keep writing, reading and
launching while `sealbox admin rotate master-key` runs, is killed with SIGKILL mid-way and run again;
every acknowledged value then launches, no row is left on the old key, `--retire` removes it, and
everything still launches after a server restart, with `sealbox audit verify` green throughout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sealbox.crypto.keyring import load_keyring
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack
from tests.support.rotation import (
    WRITERS,
    Traffic,
    add_users,
    admin,
    audit_verify,
    rotate_killed_midway,
    rows_by_master_key,
)
from tests.support.writes import values_through_launch

USERS = 120  # rows for the re-wrap: enough batches of 4 to kill the command between two


def _rotation_under_load(stack: Stack) -> None:
    add_users(stack, USERS)
    old_id = load_keyring(stack.data_dir / "master.key").current_id.hex()
    audit_verify(stack)
    traffic = Traffic(stack)
    traffic.start()
    try:
        time.sleep(1.0)
        rotate_killed_midway(stack, "master-key", "--batch", "4", moved=8)
        ring = load_keyring(stack.data_dir / "master.key")
        assert ring.current_id.hex() != old_id, "the new key is current as soon as the rotation starts"
        assert rows_by_master_key(stack).get(old_id, 0) > 0, "the kill should leave rows on the old key"
        refused = admin(stack, "rotate", "master-key", "--retire")
        assert refused.returncode != 0
        assert "still use an old master key" in refused.stderr and len(refused.stderr.splitlines()) == 1
        resumed = admin(stack, "rotate", "master-key", "--batch", "4")
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.startswith(f"resumed: master key {ring.current_id.hex()} current")
        time.sleep(1.0)
    finally:
        traffic.finish()
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.ops > 20 and len(traffic.ledger.acked) >= WRITERS
    assert set(rows_by_master_key(stack)) == {ring.current_id.hex()}, "0 rows left on the old key"
    assert traffic.ledger.lost(values_through_launch(stack, sorted(traffic.ledger.acked))) == []
    audit_verify(stack)

    retired = admin(stack, "rotate", "master-key", "--retire")
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.strip() == f"retired 1 master key(s): {old_id}"
    assert [kid.hex() for kid, _ in load_keyring(stack.data_dir / "master.key").keys] == [
        ring.current_id.hex()
    ]
    stack.stop_server()
    stack.start_server()
    assert traffic.ledger.lost(values_through_launch(stack, sorted(traffic.ledger.acked))) == []
    with stack.client(_first_user_token(stack)) as c:
        assert (
            c.post("/api/v1/secrets", json={"name": "after", "value": make_canary("after")}).status_code
            == 201
        )
    assert "audit chain ok" in audit_verify(stack)
    assert find_in_bytes(stack.logs(), traffic.ledger.acked.values()) == []


def _first_user_token(stack: Stack) -> str:
    with stack.client() as c:
        r = c.post("/api/v1/users", json={"name": "afterwards"})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def test_master_key_rotation_under_load_on_sqlite(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        _rotation_under_load(stack)


@pytest.mark.postgres
def test_master_key_rotation_under_load_on_postgres(tmp_path: Path) -> None:
    with fresh_database() as url, running_stack(tmp_path, database_url=url) as stack:
        _rotation_under_load(stack)


def test_a_second_runner_is_refused_while_another_holds_the_lease(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        add_users(stack, 5)
        before = load_keyring(stack.data_dir / "master.key").current_id
        engine = create_engine(f"sqlite:///{stack.data_dir / 'sealbox.db'}")
        try:
            with engine.begin() as conn:  # a runner on another host, its lease unexpired
                conn.execute(
                    text(
                        "INSERT INTO key_rotation_leases (name, holder, expires_at, started_at) "
                        "VALUES ('master-key', 'elsewhere:4242:abcd', :at, :at)"
                    ),
                    {"at": "2999-01-01 00:00:00.000000"},
                )
            refused = admin(stack, "rotate", "master-key")
            assert refused.returncode != 0
            assert refused.stderr.startswith("error: another rotation holds the lease (elsewhere:4242:abcd)")
            assert len(refused.stderr.splitlines()) == 1
            assert load_keyring(stack.data_dir / "master.key").current_id == before, "no new key"
            with engine.begin() as conn:  # expired: the next runner takes it over
                conn.execute(text("UPDATE key_rotation_leases SET expires_at = '2000-01-01 00:00:00.000000'"))
        finally:
            engine.dispose()
        done = admin(stack, "rotate", "master-key")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("made master key") and "re-wrapped 6 user key(s)" in done.stdout
        retired = admin(stack, "rotate", "master-key", "--retire")
        assert retired.returncode == 0 and retired.stdout.startswith("retired 1 master key(s)")
        again = admin(stack, "rotate", "master-key", "--retire")
        assert again.stdout.strip() == "nothing to retire: the master keyring holds only its current key"
        assert "audit chain ok" in audit_verify(stack)
