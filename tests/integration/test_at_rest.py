"""TEST-PLAN T1: what rests on disk holds no value and no key, on SQLite and on PostgreSQL.

Through the real server's HTTP API: write 200 canary secrets of every kind, replace 100 of them,
purge 50 (removed for good at once), and wait until the keeper has converted every outer layer. With
everything still running, scan every file of the data directory (database, -wal, -shm, key files), the
keeper's directory, both logs, and for PostgreSQL a `pg_dump` of the database: no canary in any encoding.
Then scan the database files (or the dump) and the logs for the raw master key, every user key and
data key (unwrapped here with master.key), and the keeper's private and wrap keys: none.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sealbox.crypto.keyring import load_keyring
from sealbox.crypto.wrapping import unwrap_user_key
from tests.support.canaries import find_in_bytes, find_raw_bytes, scan_tree
from tests.support.opening import (
    PAYLOAD_KINDS,
    StoredRow,
    canary_payload,
    connect,
    data_key_of,
    expected_plaintext,
    keeper_secret_bytes,
    key_file_bytes,
    load_keeper_keys,
    master_key_bytes,
    open_value,
    read_rows,
    read_user_keys,
    sqlite_backup,
    sqlite_url,
    wait_until_converted,
)
from tests.support.processes import Stack

CREATED, REPLACED, DELETED = 200, 100, 50


@pytest.fixture(params=["sqlite", "postgres"])
def running(request: pytest.FixtureRequest) -> Stack:
    stack: Stack = request.getfixturevalue("stack" if request.param == "sqlite" else "pg_stack")
    return stack


def live_url(stack: Stack) -> str:
    return stack.database_url or sqlite_url(stack.data_dir / "sealbox.db")


def snapshot(stack: Stack, copy_to: Path) -> tuple[list[StoredRow], dict[str, bytes]]:
    """Stored versions and wrapped user keys, read from a backup copy (SQLite) or the database."""
    url = stack.database_url or sqlite_url(sqlite_backup(stack.data_dir / "sealbox.db", copy_to))
    with connect(url) as conn:
        return read_rows(conn), read_user_keys(conn)


def pg_dump(database_url: str) -> bytes:
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    done = subprocess.run(
        ["/usr/bin/pg_dump", "--no-owner", "--dbname", url], capture_output=True, check=True
    )
    assert b"secret_versions" in done.stdout
    return done.stdout


def test_nothing_at_rest_reveals_a_value_or_a_key(
    running: Stack, canary: Callable[[str], str], tmp_path: Path
) -> None:
    stack = running
    values: list[str] = []
    expected: dict[str, bytes] = {}  # name -> plaintext of its current version
    first_body: dict[str, object] = {}
    with stack.client() as c:
        for i in range(CREATED):
            kind = PAYLOAD_KINDS[i % len(PAYLOAD_KINDS)]
            values.append(canary("t1"))
            payload = canary_payload(kind, values[-1])
            name = f"t1-{kind}-{i:03d}"
            body = {"name": name, **payload}
            first_body = first_body or body
            answer = c.post("/api/v1/secrets", json=body)
            assert answer.status_code == 201, answer.text
            expected[name] = expected_plaintext(payload)
        names = sorted(expected)
        for name in names[:REPLACED]:
            kind = name.split("-", 1)[1].rsplit("-", 1)[0]
            values.append(canary("t1r"))
            payload = canary_payload(kind, values[-1])
            body = {k: v for k, v in payload.items() if k != "kind"}
            answer = c.put(f"/api/v1/secrets/{name}/value", json=body, headers={"If-Match": '"1"'})
            assert answer.status_code == 200, answer.text
            expected[name] = expected_plaintext(payload)
        before_delete, _ = snapshot(stack, tmp_path / "before-delete.db")
        for name in names[REPLACED - DELETED // 2 : REPLACED + DELETED // 2]:  # half of them replaced
            # Purged: removed for good at once (a plain delete keeps it for its recovery window).
            assert c.delete(f"/api/v1/secrets/{name}", params={"purge": "true"}).status_code == 204
            del expected[name]
        assert len(c.get("/api/v1/secrets", params={"limit": 500}).json()["items"]) == len(expected)
    wait_until_converted(live_url(stack))
    rows, wrapped_user_keys = snapshot(stack, tmp_path / "after.db")

    # The data set is what we think it is: every current version opens, with both halves of the keys.
    master = load_keyring(stack.data_dir / "master.key")
    keeper = load_keeper_keys(stack.keeper.dir)
    current = {r.name: r for r in rows}  # rows come in version order: the last one wins
    assert {n: open_value(r, master=master, keeper=keeper) for n, r in current.items()} == expected
    assert all(r.keeper_key_id.startswith("wrap:") for r in rows)
    assert len(rows) == CREATED - DELETED + REPLACED - DELETED // 2

    # 1. No canary, in any encoding, in any file of the data dir or the keeper dir, the logs, a dump.
    assert len(values) == CREATED + REPLACED
    assert (
        find_in_bytes(json.dumps(first_body).encode(), values[:1]) != []
    )  # the scan does find what is there
    dump = pg_dump(stack.database_url) if stack.database_url else b""
    found = {**scan_tree(stack.data_dir, values), **scan_tree(stack.keeper.dir, values)}
    assert stack.log.stat().st_size > 0 and stack.keeper.log.stat().st_size > 0
    found["logs"] = find_in_bytes(stack.logs(), values)
    found["pg_dump"] = find_in_bytes(dump, values)
    assert {where: hits for where, hits in found.items() if hits} == {}

    # 2. No key material in the database files, the dump or the logs.
    user_keys = [unwrap_user_key(master, w, user_id=uid).key for uid, w in wrapped_user_keys.items()]
    data_keys = {data_key_of(r, master) for r in [*before_delete, *rows]}
    assert len(data_keys) == CREATED + REPLACED  # deleted and replaced versions' keys included
    needles = {
        "master key": master_key_bytes(master),
        "user keys": user_keys,
        "data keys": sorted(data_keys),
        "keeper keys": keeper_secret_bytes(keeper),
        "server key files": key_file_bytes(stack.data_dir),  # master.key and any other key it holds
        "keeper key files": key_file_bytes(stack.keeper.dir),
    }
    db_files = sorted(stack.data_dir.glob("sealbox.db*")) if not stack.database_url else []
    assert (stack.database_url is not None) or {p.name for p in db_files} >= {"sealbox.db", "sealbox.db-wal"}
    places = {p.name: p.read_bytes() for p in db_files} | {"pg_dump": dump, "logs": stack.logs()}
    master_file = (stack.data_dir / "master.key").read_bytes()
    assert find_raw_bytes(master_file, needles["master key"]) == 1  # the scan does find what is there
    hits = {
        f"{what} in {where}": n
        for where, data in places.items()
        for what, keys in needles.items()
        if (n := find_raw_bytes(data, keys))
    }
    assert hits == {}
