"""TEST-PLAN T2: the split-key proof, on SQLite and on PostgreSQL.

Secrets are written through the real server; then a copy of the database is opened three ways:
with only the server's keys (every key file of its data directory: the master key and whatever
else it holds), with only the keeper's keys (every key file of the keeper's directory), and with
both. Only both open anything: 0/N, 0/N, N/N. The "only" attempts try each key on each stored
ciphertext every way `tests/support/opening.py` knows, not only the intended path.

The stack converts every outer layer to the keeper's wrap soon after a write; an in-process run
covers the other stored form, the HPKE seal, and a mix of both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import seal_with_key
from sealbox.crypto.keyring import load_keyring
from sealbox.crypto.sealing import open_outer
from sealbox.crypto.wrapping import outer_context
from sealbox.domain.kinds import Kind
from sealbox.services.secrets import SecretValue
from tests.support.opening import (
    PAYLOAD_KINDS,
    InProcess,
    StoredRow,
    attempt_with_keeper_keys,
    attempt_with_server_keys,
    canary_payload,
    data_key_of,
    expected_plaintext,
    key_file_bytes,
    load_keeper_keys,
    master_key_bytes,
    open_value,
    read_rows_from,
    sqlite_backup,
    sqlite_url,
    wait_until_converted,
)
from tests.support.processes import Stack

N = 100


@pytest.fixture(params=["sqlite", "postgres"])
def running(request: pytest.FixtureRequest) -> Stack:
    stack: Stack = request.getfixturevalue("stack" if request.param == "sqlite" else "pg_stack")
    return stack


def _split(
    rows: list[StoredRow], *, server_keys: list[bytes], keeper_dir: Path, master_path: Path
) -> tuple[int, int, dict[str, bytes]]:
    """(opened with the server's keys only, opened with the keeper's keys only, opened with both)."""
    master = load_keyring(master_path)
    keeper = load_keeper_keys(keeper_dir)
    keeper_files = key_file_bytes(keeper_dir)
    server_only = [attempt_with_server_keys(r, master, extra=server_keys) for r in rows]
    keeper_only = [attempt_with_keeper_keys(r, keeper, extra=keeper_files) for r in rows]
    assert all(a.tried > 100 for a in server_only + keeper_only)  # the attempts were real
    both = {r.name: open_value(r, master=master, keeper=keeper) for r in rows}
    return sum(bool(a.opened) for a in server_only), sum(bool(a.opened) for a in keeper_only), both


def test_split_key_on_a_copy_of_the_database(
    running: Stack, canary: Callable[[str], str], tmp_path: Path
) -> None:
    stack = running
    expected: dict[str, bytes] = {}
    with stack.client() as c:
        for i in range(N):
            payload = canary_payload(PAYLOAD_KINDS[i % len(PAYLOAD_KINDS)], canary("t2"))
            name = f"t2-{i:03d}"
            answer = c.post("/api/v1/secrets", json={"name": name, **payload})
            assert answer.status_code == 201, answer.text
            expected[name] = expected_plaintext(payload)
    live = stack.database_url or sqlite_url(stack.data_dir / "sealbox.db")
    wait_until_converted(live)

    if stack.database_url:
        rows = read_rows_from(stack.database_url)  # the rows as a dump would hold them
    else:
        copy = sqlite_backup(stack.data_dir / "sealbox.db", tmp_path / "copy.db")
        rows = read_rows_from(sqlite_url(copy))
    rows = [r for r in rows if r.name.startswith("t2-")]
    assert len(rows) == N and all(r.keeper_key_id.startswith("wrap:") for r in rows)

    server_keys = key_file_bytes(stack.data_dir)
    assert master_key_bytes(load_keyring(stack.data_dir / "master.key"))[0] in server_keys
    server_opened, keeper_opened, both = _split(
        rows, server_keys=server_keys, keeper_dir=stack.keeper.dir, master_path=stack.data_dir / "master.key"
    )
    assert (server_opened, keeper_opened) == (0, 0)
    assert both == expected  # N/N, each equal to what was written


@pytest.fixture
def box(database_url: str, tmp_path: Path) -> Iterator[InProcess]:
    built = InProcess.build(database_url, tmp_path)
    try:
        yield built
    finally:
        built.close()


def test_split_key_on_sealed_and_converted_rows(box: InProcess, tmp_path: Path) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    owners = [box.user("alice", now=now), box.user("bob", now=now)]
    expected: dict[str, bytes] = {}
    for i in range(24):
        value = f"in-process-value-{i}"
        box.secrets.create(
            owners[i % 2],
            name=f"s{i:02d}",
            kind=Kind.GENERIC,
            value=SecretValue(text=value),
            description="",
            expires_at=None,
            now=now,
        )
        expected[f"s{i:02d}"] = value.encode()
    assert box.convert(box.rows()[::2]) == 12
    rows = box.rows()
    assert {r.keeper_key_id[:5] for r in rows} == {"hpke:", "wrap:"}
    server_opened, keeper_opened, both = _split(
        rows,
        server_keys=key_file_bytes(tmp_path),  # master.key and signing.key
        keeper_dir=tmp_path / "keeper",
        master_path=tmp_path / "master.key",
    )
    assert (server_opened, keeper_opened) == (0, 0)
    assert both == expected


def test_the_attempts_notice_a_broken_split(box: InProcess) -> None:
    """The 0/N above means something: a row stored without its outer layer opens with the server's
    keys alone, and a data key wrapped under a keeper key opens with the keeper's keys alone."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    who = box.user("alice", now=now)
    box.secrets.create(
        who,
        name="x",
        kind=Kind.GENERIC,
        value=SecretValue(text="the value"),
        description="",
        expires_at=None,
        now=now,
    )
    (row,) = box.rows()
    ids: dict[str, Any] = {"secret_id": row.secret_id, "version": row.version, "owner_id": row.owner_id}
    dek = data_key_of(row, box.master)
    inner = open_outer(box.keeper.private, box.keeper.wrap, row.outer, outer_context(**ids))
    no_outer = replace(row, outer=inner)
    assert b"the value" in attempt_with_server_keys(no_outer, box.master).opened
    wrap_kid, wrap_key = box.keeper.wrap.keys[0]
    dek_to_keeper = seal_with_key(wrap_key, wrap_kid, dek, Context.for_version(Layer.DATA_KEY, **ids))
    opened = attempt_with_keeper_keys(replace(row, wrapped_dek=dek_to_keeper), box.keeper).opened
    assert dek in opened and b"the value" in opened
    assert attempt_with_server_keys(row, box.master).opened == []
    assert attempt_with_keeper_keys(row, box.keeper).opened == []
