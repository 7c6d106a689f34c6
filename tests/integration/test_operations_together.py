"""Key rotation, people leaving and backups on one store, each caught half-way through another.

A user-key rotation killed half-way leaves data keys under a previous user key; a transfer must open
those. A transferred version's contexts bind the id of the owner who wrote it; a rotation of the new
owner's key must keep that binding. A removed user has no key left; a master-key rotation and its
retirement must step over them. A backup taken in the middle of all this must pass its own row check,
and restore. Every value stays deliverable through a launch throughout.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CANARIES
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack
from tests.support.rotation import admin, audit_verify, count, restore, rotate_killed_midway
from tests.support.writes import values_through_launch

SECRETS = 8  # each with two versions: 16 data keys


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with contextlib.ExitStack() as stacks:
        url = stacks.enter_context(fresh_database()) if request.param == "postgres" else None
        yield stacks.enter_context(running_stack(tmp_path_factory.mktemp("ops"), database_url=url))


_ON_PREVIOUS_KEYS = (
    "SELECT COUNT(*) FROM secret_versions v JOIN secrets s ON s.id = v.secret_id "
    "JOIN previous_user_keys p ON p.user_id = s.owner_id AND p.key_id = v.user_key_id "
    "JOIN users u ON u.id = s.owner_id WHERE u.name = "
)


def _on_previous_keys(stack: Stack, user: str) -> int:
    """How many of `user`'s data keys a previous user key of theirs wraps."""
    return count(stack, _ON_PREVIOUS_KEYS + {"alice": "'alice'", "bob": "'bob'"}[user])


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    assert find_in_bytes((done.stdout + done.stderr).encode(), CANARIES) == []
    return done.stdout


def test_rotation_transfer_and_backup_each_half_way_through_another(stack: Stack, tmp_path: Path) -> None:
    alice, bob = stack.add_user("alice"), stack.add_user("bob")
    values: dict[str, str] = {}
    with stack.client(alice) as c:
        for i in range(SECRETS):
            name = f"a{i}"
            first = {"name": name, "value": make_canary("old")}
            assert c.post("/api/v1/secrets", json=first).status_code == 201
            values[name] = make_canary("ops")
            assert c.put(f"/api/v1/secrets/{name}/value", json={"value": values[name]}).status_code == 200

    # Alice's key rotation dies half-way: some of her data keys are under her previous key.
    rotate_killed_midway(stack, "user-keys", "--user", "alice", "--batch", "2", moved=1)
    assert _on_previous_keys(stack, "alice") > 0

    # She leaves; bob takes her secrets, including the data keys her previous key wraps.
    _ok(admin(stack, "user", "remove", "alice", "--transfer-to", "bob"))
    launched = values_through_launch(stack, sorted(values), token=bob)
    assert {name: v.decode() for name, v in launched.items()} == values

    # Bob's key rotation dies half-way over versions whose contexts bind alice's id; a backup now.
    rotate_killed_midway(stack, "user-keys", "--user", "bob", "--batch", "2", moved=1)
    assert _on_previous_keys(stack, "bob") > 0
    backup = tmp_path / "backup"
    keys_only = ("--keys-only",) if stack.database_url else ()  # PostgreSQL's rows: pg_dump's job
    _ok(admin(stack, "backup", str(backup), *keys_only))

    # The rotations finish and retire; the master key turns over too, stepping over removed alice.
    _ok(admin(stack, "rotate", "user-keys", "--user", "bob"))
    assert _on_previous_keys(stack, "bob") == 0
    _ok(admin(stack, "rotate", "user-keys", "--retire"))
    _ok(admin(stack, "rotate", "master-key"))
    _ok(admin(stack, "rotate", "master-key", "--retire"))
    launched = values_through_launch(stack, sorted(values), token=bob)
    assert {name: v.decode() for name, v in launched.items()} == values
    audit_verify(stack)

    # The half-way backup restores: its own keys open its rows (previous keys, transferred contexts).
    if stack.database_url is None:  # on PostgreSQL the rows go through pg_dump (test_backup_restore)
        _ok(restore(backup, tmp_path / "restored"))
    assert find_in_bytes(stack.logs(), CANARIES) == []
