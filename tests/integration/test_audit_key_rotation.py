"""Online rotation of the audit chain's key (issue 14, "Key rotation"): clients keep writing while
`sealbox admin rotate audit-key` runs against a server with two workers; records before it carry the
old key id and every record after it the new one (each worker follows the key file, no restart);
`sealbox audit verify` is green before, after and after a restart; a record edited after the rotation
is still caught; `--retire` refuses, in one line, to drop a key records name; no key in any output."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sealbox.crypto.keyring import load_keyring
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, base_env, running_stack, sealbox_cmd
from tests.support.rotation import Traffic, admin, audit_verify, restore

WORKERS = {"SEALBOX_WORKERS": "2"}


def _records(stack: Stack) -> list[tuple[int, str, str | None, str | None]]:
    """(id, action, key_id, detail) of every audit record, in chain order."""
    url = stack.database_url or f"sqlite:///{stack.data_dir / 'sealbox.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, action, key_id, detail FROM audit_events ORDER BY id"))
            return [(int(i), str(a), k, d) for i, a, k, d in rows]
    finally:
        engine.dispose()


def _execute(stack: Stack, sql: str, **params: object) -> None:
    url = stack.database_url or f"sqlite:///{stack.data_dir / 'sealbox.db'}"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


def _rotation_record(stack: Stack, key_id: str) -> int:
    found = [
        i for i, action, _, detail in _records(stack) if action == "key.rotate" and key_id in (detail or "")
    ]
    assert len(found) == 1, "the rotation is on the record once"
    return found[0]


def _audit_key_rotation_under_load(stack: Stack) -> None:
    with stack.client() as c:
        for i in range(3):
            assert (
                c.post("/api/v1/secrets", json={"name": f"pre{i}", "value": make_canary("pre")}).status_code
                == 201
            )
    assert "audit chain ok" in audit_verify(stack)
    old_id = {k for _, _, k, _ in _records(stack)}
    assert len(old_id) == 1, "one key tagged everything so far"
    (old,) = old_id
    traffic = Traffic(stack, launchers=0)
    traffic.start()
    try:
        time.sleep(1.0)
        done = admin(stack, "rotate", "audit-key")
        assert done.returncode == 0, done.stderr
        new = load_keyring(stack.data_dir / "master.key").audit[0][0].hex()
        assert done.stdout.startswith(f"made audit key {new} current (was {old})")
        time.sleep(1.5)
    finally:
        traffic.finish()
    assert traffic.failures == [], traffic.failures[:5]
    cut = _rotation_record(stack, new)
    records = _records(stack)
    # A request that saw the new file may commit just ahead of the command's own record; from the
    # first record under the new key on, no record (from either worker) has the old one.
    first_new = next(i for i, _, k, _ in records if k == new)
    assert first_new <= cut
    assert {k for i, _, k, _ in records if i < first_new} == {old}
    after = [k for i, _, k, _ in records if i >= first_new]
    assert len(after) > 10 and set(after) == {new}, "every record after the rotation, from both workers"
    assert "audit chain ok" in audit_verify(stack)

    stack.stop_server()
    stack.start_server()
    with stack.client() as c:
        assert (
            c.post("/api/v1/secrets", json={"name": "post", "value": make_canary("post")}).status_code == 201
        )
    assert _records(stack)[-1][2] == new, "a restarted server keeps the new key"
    assert "audit chain ok" in audit_verify(stack)

    nothing = admin(stack, "rotate", "audit-key", "--retire")  # the old key was the master key's
    assert nothing.returncode == 0 and nothing.stdout.startswith("nothing to retire"), nothing.stderr
    again = admin(stack, "rotate", "audit-key")
    assert again.returncode == 0, again.stderr
    refused = admin(stack, "rotate", "audit-key", "--retire")
    assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert f"name old audit key(s) {new}" in refused.stderr and "nothing retired" in refused.stderr
    ring = load_keyring(stack.data_dir / "master.key")
    assert len(ring.audit) == 2 and ring.audit[1][0].hex() == new, "the named key is kept"
    assert "audit chain ok" in audit_verify(stack)

    secret_keys = [k for _, k in (*ring.audit, *ring.keys)]
    seen = stack.logs() + done.stdout.encode() + done.stderr.encode() + refused.stderr.encode()
    for key in secret_keys:
        assert base64.b64encode(key) not in seen and key.hex().encode() not in seen, "no key in any output"
    assert find_in_bytes(stack.logs(), traffic.ledger.acked.values()) == []

    tampered = [i for i, _, k, _ in _records(stack) if k == new][3]
    _execute(stack, "UPDATE audit_events SET detail = 'edited' WHERE id = :id", id=tampered)
    broken = subprocess.run(
        sealbox_cmd("audit", "verify"), env=stack.env(), capture_output=True, text=True, timeout=120
    )
    assert broken.returncode != 0
    assert f"broken at record {tampered}" in broken.stderr


def test_audit_key_rotation_under_load_on_sqlite(tmp_path: Path) -> None:
    with running_stack(tmp_path, server_env=WORKERS) as stack:
        _audit_key_rotation_under_load(stack)


@pytest.mark.postgres
def test_audit_key_rotation_under_load_on_postgres(tmp_path: Path) -> None:
    with fresh_database() as url, running_stack(tmp_path, database_url=url, server_env=WORKERS) as stack:
        _audit_key_rotation_under_load(stack)


def test_a_backup_after_audit_and_master_key_rotations_restores_and_verifies(tmp_path: Path) -> None:
    """The key file then holds `audit:` and `chain:` lines: the backup's check and restore read both."""
    with running_stack(tmp_path) as stack:
        with stack.client() as c:
            assert (
                c.post("/api/v1/secrets", json={"name": "kept", "value": make_canary("bk")}).status_code
                == 201
            )
        for step in (("audit-key",), ("master-key",), ("master-key", "--retire")):
            done = admin(stack, "rotate", *step)
            assert done.returncode == 0, done.stderr
        ring = load_keyring(stack.data_dir / "master.key")
        assert ring.audit and ring.chain_only, "both kinds of audit-chain lines"
        with stack.client() as c:
            assert (
                c.post("/api/v1/secrets", json={"name": "late", "value": make_canary("bk")}).status_code
                == 201
            )
        backup = tmp_path / "backup"
        made = admin(stack, "backup", str(backup))
        assert made.returncode == 0, made.stdout + made.stderr
    target = tmp_path / "restored"
    restored = restore(backup, target)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    verified = subprocess.run(
        sealbox_cmd("audit", "verify"),
        env=base_env(SEALBOX_DATA_DIR=str(target / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0 and "audit chain ok" in verified.stdout, verified.stdout + verified.stderr
