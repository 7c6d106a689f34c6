"""TEST-PLAN T23 at full size (the master-key and user-key levels): 16 clients for 120 s while the
master key, then the user keys rotate, each rotation killed with SIGKILL once and run again. The
keeper key pair's rotation is tested in test_keeper_key_rotation.py."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sealbox.crypto.keyring import load_keyring
from tests.support.processes import Stack, running_stack, sealbox_cmd
from tests.support.rotation import Traffic, add_users, admin, audit_verify, count, rows_by_master_key
from tests.support.writes import values_through_launch

SECONDS = float(os.environ.get("SEALBOX_T23_SECONDS", "120"))
ON_PREVIOUS = (
    "SELECT COUNT(*) FROM secret_versions v JOIN secrets s ON s.id = v.secret_id "
    "JOIN previous_user_keys p ON p.user_id = s.owner_id AND p.key_id = v.user_key_id"
)


def _kill_then_resume(stack: Stack, level: str) -> None:
    with subprocess.Popen(
        sealbox_cmd("admin", "rotate", level, "--batch", "2"),
        env=stack.env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        seen = 0
        for line in proc.stderr:
            seen += line.endswith("rows left\n")
            if seen == 3:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(60)
    resumed = admin(stack, "rotate", level)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.rstrip().endswith("0 rows left")


@pytest.mark.slow
def test_t23_rotations_under_sixteen_clients(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        add_users(stack, 100)
        traffic = Traffic(stack, writers=12, launchers=3)  # and one adding users: 16 clients
        started = time.monotonic()
        traffic.start()
        try:
            time.sleep(5)
            _kill_then_resume(stack, "master-key")
            _kill_then_resume(stack, "user-keys")
            time.sleep(max(0.0, SECONDS - (time.monotonic() - started)))
        finally:
            traffic.finish()
        assert traffic.failures == [], traffic.failures[:5]
        current = load_keyring(stack.data_dir / "master.key").current_id.hex()
        assert set(rows_by_master_key(stack)) == {current}, "0 rows on the old master key"
        assert count(stack, ON_PREVIOUS) == 0
        for level in ("master-key", "user-keys"):
            retired = admin(stack, "rotate", level, "--retire")
            assert retired.returncode == 0, retired.stderr
        stack.stop_server()
        stack.start_server()
        assert traffic.ledger.lost(values_through_launch(stack, sorted(traffic.ledger.acked))) == []
        assert "audit chain ok" in audit_verify(stack)
