"""The key rotations' progress in /metrics (issue 14, "Watching it"): a master-key rotation killed
mid-way shows rows left (the count of user keys still on the old master key), finishing it shows 0
and its completion time; a keeper-key rotation likewise (outer layers under none of the keeper's
current key ids); an audit-key rotation shows its completion; the labels are kinds only."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sealbox.crypto.keyring import load_keyring
from tests.support.opening import wait_until_converted
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack
from tests.support.rotation import (
    add_users,
    admin,
    count,
    keeper_health,
    rotate_killed_midway,
    rows_by_master_key,
)

LEFT = "sealbox_key_rotation_rows_left"
DONE = "sealbox_key_rotation_last_completed_timestamp_seconds"
KINDS = {"master-key", "user-keys", "keeper-key", "audit-key"}
SEEDED = 40  # outer layers for the keeper-key re-wrap: enough batches of 4 to kill the command between two


def _figures(stack: Stack) -> dict[tuple[str, str], float]:
    resp = httpx.get(
        f"{stack.url}/metrics", headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    found = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            if s.name in (LEFT, DONE):
                assert set(s.labels) == {"kind"} and s.labels["kind"] in KINDS, s.labels
                found[s.name, s.labels["kind"]] = s.value
    return found


def _until(stack: Stack, check: object, timeout: float = 15.0) -> dict[tuple[str, str], float]:
    """Scrape until `check(figures)` holds (the figures are cached a few seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        figures = _figures(stack)
        if check(figures) or time.monotonic() > deadline:  # type: ignore[operator]
            return figures
        time.sleep(0.5)


def _on_old_master_key(stack: Stack, current: str) -> int:
    """User keys on another master key than `current` (no user-key rotation here: no previous keys)."""
    assert count(stack, "SELECT COUNT(*) FROM previous_user_keys") == 0
    return sum(n for kid, n in rows_by_master_key(stack).items() if kid != current)


def test_rows_left_during_a_killed_master_key_rotation_and_zero_after(tmp_path: Path) -> None:
    with running_stack(tmp_path, server_env={"SEALBOX_WORKERS": "2"}) as stack:
        _killed_then_finished(stack)
        _keeper_key_killed_then_finished(stack)  # once: its count is one plain query on either database


@pytest.mark.postgres
def test_rows_left_on_postgres(tmp_path: Path) -> None:
    with fresh_database() as url, running_stack(tmp_path, database_url=url) as stack:
        _killed_then_finished(stack)


def _killed_then_finished(stack: Stack) -> None:
    add_users(stack, 60)
    before = _figures(stack)
    assert before[LEFT, "master-key"] == 0 and before[LEFT, "user-keys"] == 0
    assert before[LEFT, "keeper-key"] == 0
    assert (DONE, "master-key") not in before, "no rotation completed yet"

    rotate_killed_midway(stack, "master-key", "--batch", "4", moved=8)
    current = load_keyring(stack.data_dir / "master.key").current_id.hex()
    left = _on_old_master_key(stack, current)
    assert left > 0, "the kill should leave rows on the old key"
    midway = _until(stack, lambda f: f[LEFT, "master-key"] == left)
    assert midway[LEFT, "master-key"] == left
    assert (DONE, "master-key") not in midway, "a killed rotation did not complete"

    started = time.time()
    resumed = admin(stack, "rotate", "master-key", "--batch", "4")
    assert resumed.returncode == 0, resumed.stderr
    after = _until(stack, lambda f: f[LEFT, "master-key"] == 0 and (DONE, "master-key") in f)
    assert after[LEFT, "master-key"] == 0
    assert started - 1 <= after[DONE, "master-key"] <= time.time() + 1

    assert admin(stack, "rotate", "audit-key").returncode == 0
    audit = _until(stack, lambda f: (DONE, "audit-key") in f)
    assert started - 1 <= audit[DONE, "audit-key"] <= time.time() + 1
    assert (LEFT, "audit-key") not in audit, "an audit-key rotation moves no rows"


def _off_keeper_key(stack: Stack) -> int:
    """Outer layers under none of the keeper's current key ids, as the keeper names them."""
    health = keeper_health(stack)
    current = f"'hpke:{health['key_id']}', 'wrap:{health['wrap_key_id']}'"
    return count(stack, f"SELECT COUNT(*) FROM secret_versions WHERE keeper_key_id NOT IN ({current})")  # noqa: S608


def _keeper_key_killed_then_finished(stack: Stack) -> None:
    with stack.client() as c:
        for i in range(SEEDED):
            r = c.post("/api/v1/secrets", json={"name": f"seed{i}", "value": f"v{i}"})
            assert r.status_code == 201, r.text
    # Converted rows stay where they are until the re-wrap moves them (the converter moves only seals).
    wait_until_converted(stack.database_url or f"sqlite:///{stack.data_dir / 'sealbox.db'}")
    assert _until(stack, lambda f: (LEFT, "keeper-key") in f)[LEFT, "keeper-key"] == 0

    rotate_killed_midway(stack, "keeper-key", "--batch", "4", moved=8)
    left = _off_keeper_key(stack)
    assert 0 < left < SEEDED, "the kill should leave rows on the old keeper key"
    midway = _until(stack, lambda f: f[LEFT, "keeper-key"] == left)
    assert midway[LEFT, "keeper-key"] == left
    assert (DONE, "keeper-key") not in midway, "a killed rotation did not complete"

    started = time.time()
    resumed = admin(stack, "rotate", "keeper-key", "--batch", "4")
    assert resumed.returncode == 0, resumed.stderr
    after = _until(stack, lambda f: f[LEFT, "keeper-key"] == 0 and (DONE, "keeper-key") in f)
    assert after[LEFT, "keeper-key"] == 0
    assert started - 1 <= after[DONE, "keeper-key"] <= time.time() + 1

    stack.keeper.stop()
    try:
        down = _until(stack, lambda f: (LEFT, "keeper-key") not in f)
        assert (LEFT, "keeper-key") not in down, "no keeper-key figure without the keeper's key ids"
        assert down[LEFT, "master-key"] == 0, "the other figures stay"
    finally:
        stack.keeper.start()
