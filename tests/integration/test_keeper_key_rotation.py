"""Online rotation of the keeper's keys (TEST-PLAN T23, the keeper level): clients keep writing, listing
and launching while `sealbox admin rotate keeper-key` runs, is killed with SIGKILL mid-way and run again;
every acknowledged value then launches, no outer layer is left on an old keeper key id, `--retire`
removes the old keys from the keeper and the server, and everything still launches after both restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from sealbox.crypto.sealing import PublicKeySet
from sealbox.crypto.session_keys import SigningKey
from sealbox.services.keys import load_signing_key
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack
from tests.support.rotation import (
    WRITERS,
    Traffic,
    admin,
    audit_verify,
    keeper_health,
    rotate_killed_midway,
)
from tests.support.writes import Ledger, values_through_launch

SEEDED = 100  # outer layers for the re-wrap: enough batches of 4 to kill the command between two


def _keeper_ids(stack: Stack) -> dict[str, int]:
    url = stack.database_url or f"sqlite:///{stack.data_dir / 'sealbox.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT keeper_key_id, COUNT(*) FROM secret_versions GROUP BY keeper_key_id")
            )
            return {str(k): int(n) for k, n in rows}
    finally:
        engine.dispose()


def _current(path: Path) -> str:
    return PublicKeySet.from_text(path.read_text(), source=str(path)).current_id.hex()


def _seed(stack: Stack, ledger: Ledger) -> None:
    with stack.client() as c:
        for i in range(SEEDED):
            value = make_canary(f"seed{i}")
            r = c.post("/api/v1/secrets", json={"name": f"seed{i}", "value": value})
            assert r.status_code == 201, r.text
            ledger.ack(f"seed{i}", value)


def _all_launch(stack: Stack, ledger: Ledger) -> list[str]:
    names = sorted(ledger.acked)
    stored: dict[str, bytes] = {}
    for start in range(0, len(names), 40):
        stored.update(values_through_launch(stack, names[start : start + 40]))
    return ledger.lost(stored)


def _rotation_under_load(stack: Stack) -> None:
    server_pub, keeper_pub = stack.data_dir / "keeper.pub", stack.keeper.dir / "keeper.pub"
    old_key = _current(server_pub)
    traffic = Traffic(stack)
    _seed(stack, traffic.ledger)
    traffic.start()
    try:
        time.sleep(1.0)
        rotate_killed_midway(stack, "keeper-key", "--batch", "4", moved=8)
        new_key = _current(keeper_pub)
        assert new_key != old_key and _current(server_pub) == new_key, "the new key is current at once"
        assert sum(n for kid, n in _keeper_ids(stack).items() if not kid.endswith(new_key)) > 0
        refused = admin(stack, "rotate", "keeper-key", "--retire")
        assert refused.returncode != 0
        assert "still use an old keeper key" in refused.stderr and len(refused.stderr.splitlines()) == 1
        resumed = admin(stack, "rotate", "keeper-key", "--batch", "4")
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.startswith(f"resumed: keeper key {new_key} current"), resumed.stdout
        time.sleep(1.0)
    finally:
        traffic.finish()
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.ops > 20 and len(traffic.ledger.acked) >= SEEDED + WRITERS
    in_use = _keeper_ids(stack)
    wrap_id = _wrap_id(stack)
    assert set(in_use) <= {f"hpke:{new_key}", f"wrap:{wrap_id}"}, in_use
    assert _all_launch(stack, traffic.ledger) == []

    retired = admin(stack, "rotate", "keeper-key", "--retire")
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.strip() == f"retired 1 keeper key(s): {old_key}"
    for path in (server_pub, keeper_pub, stack.keeper.dir / "keeper.key", stack.keeper.dir / "wrap.key"):
        assert len(path.read_text().splitlines()) == 1, f"{path.name} keeps only the current key"
    stack.stop_server()
    stack.keeper.stop()
    stack.keeper.start()
    stack.start_server()
    with stack.client() as c:
        value = make_canary("after")
        assert c.post("/api/v1/secrets", json={"name": "after", "value": value}).status_code == 201
        traffic.ledger.ack("after", value)
    assert _all_launch(stack, traffic.ledger) == []
    assert "audit chain ok" in audit_verify(stack)
    assert find_in_bytes(stack.logs(), traffic.ledger.acked.values()) == []


def _wrap_id(stack: Stack) -> str:
    return keeper_health(stack)["wrap_key_id"]


def test_keeper_key_rotation_under_load_on_sqlite(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        _rotation_under_load(stack)


@pytest.mark.postgres
def test_keeper_key_rotation_under_load_on_postgres(tmp_path: Path) -> None:
    with fresh_database() as url, running_stack(tmp_path, database_url=url) as stack:
        _rotation_under_load(stack)


def test_the_keeper_refuses_a_rotation_not_signed_by_the_server(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        before = (stack.keeper.dir / "keeper.key").read_bytes()
        stranger = SigningKey.generate().sign_ticket(
            {
                "action": "keeper-key.rotate",
                "from_key_id": _current(stack.data_dir / "keeper.pub"),
                "exp": 2e9,
            }
        )
        transport = httpx.HTTPTransport(uds=stack.keeper.url.removeprefix("unix://"))
        with httpx.Client(transport=transport, base_url="http://keeper", timeout=5) as c:
            for path in ("/v1/keys/rotate", "/v1/keys/retire", "/v1/keys/rewrap"):
                body = {"ticket": stranger} | ({"items": []} if path.endswith("rewrap") else {})
                r = c.post(path, json=body)
                assert r.status_code == 403 and r.json()["code"] == "keeper_refused", (path, r.text)
            assert c.post("/v1/keys/rotate", json={"ticket": stranger, "x": 1}).status_code == 400
        assert (stack.keeper.dir / "keeper.key").read_bytes() == before, "no new key"
        done = admin(stack, "rotate", "keeper-key")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("made keeper key") and "0 rows left" in done.stdout
        again = admin(stack, "rotate", "keeper-key", "--retire")
        assert again.returncode == 0 and again.stdout.startswith("retired 1 keeper key(s)"), again.stderr
        nothing = admin(stack, "rotate", "keeper-key", "--retire")
        assert nothing.stdout.strip() == "nothing to retire: the keeper holds only its current key"
        stack.keeper.stop()
        down = admin(stack, "rotate", "keeper-key")
        assert down.returncode != 0 and down.stderr == "error: the keeper is unavailable\n", down.stderr


def test_a_rotation_whose_answer_was_lost_is_resumed_without_another_key(tmp_path: Path) -> None:
    """The keeper saved a new key but the command died before the server's keeper.pub named it: the
    server keeps sealing to the previous key (which the keeper still holds), and the next run installs
    the keeper's new key instead of making a third."""
    with running_stack(tmp_path) as stack:
        server_pub, keeper_pub = stack.data_dir / "keeper.pub", stack.keeper.dir / "keeper.pub"
        old_key = _current(server_pub)
        signing = load_signing_key(stack.data_dir / "signing.key")
        ticket = signing.sign_ticket(
            {
                "action": "keeper-key.rotate",
                "from_key_id": old_key,
                "exp": time.time() + 60,
                "ticket_id": "t1",
            }
        )
        transport = httpx.HTTPTransport(uds=stack.keeper.url.removeprefix("unix://"))
        with httpx.Client(transport=transport, base_url="http://keeper", timeout=5) as c:
            r = c.post("/v1/keys/rotate", json={"ticket": ticket})
            assert r.status_code == 200 and r.json()["created"] is True, r.text
            again = c.post("/v1/keys/rotate", json={"ticket": ticket})  # a replay makes no other key
            assert again.status_code == 200 and again.json()["created"] is False
        new_key = _current(keeper_pub)
        assert new_key != old_key and _current(server_pub) == old_key
        ledger = Ledger()
        with stack.client() as c:
            value = make_canary("meanwhile")
            assert c.post("/api/v1/secrets", json={"name": "meanwhile", "value": value}).status_code == 201
            ledger.ack("meanwhile", value)
        assert f"hpke:{new_key}" not in _keeper_ids(stack), (
            "nothing is sealed to a key the server was not given"
        )
        assert _all_launch(stack, ledger) == []
        done = admin(stack, "rotate", "keeper-key")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"resumed: keeper key {new_key} current"), done.stdout
        assert len((stack.keeper.dir / "keeper.key").read_text().splitlines()) == 2, "no third key"
        assert _current(server_pub) == new_key
        assert set(_keeper_ids(stack)) <= {f"hpke:{new_key}", f"wrap:{_wrap_id(stack)}"}
        assert _all_launch(stack, ledger) == []
        assert find_in_bytes(stack.logs(), ledger.acked.values()) == []
