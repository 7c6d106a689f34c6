"""TEST-PLAN T3: a stored ciphertext moved to another secret, version, owner or layer never opens.

Stored material is copied between rows directly in the database (inside a transaction that is
rolled back after each move), then the moved row is opened with every key there is, the server's
and the keeper's: each one must fail with DecryptionError, never with another exception and never
by opening. Each ciphertext binds its secret id, version, owner and layer as associated data.

In-process on SQLite and PostgreSQL, the rows are opened with `tests/support/opening.py`; both
stored forms of the outer layer are covered (the HPKE seal, and the keeper's wrap, converted here
in-process with the keeper's own recipe). Through the launch path (a session, its one-time
credential redeemed at the real server and keeper), a moved ciphertext in the live SQLite
database is refused, never delivered, and the server's refusals are audited as integrity_error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import permutations
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, Connection, and_, update

from sealbox.domain.kinds import Kind
from sealbox.errors import ClientError, DecryptionError, ServiceError
from sealbox.launcher.redeem import redeem
from sealbox.services.secrets import SecretValue
from sealbox.store.tables import secret_versions, secrets, users
from sealbox.transport import HTTPClient
from tests.conftest import CANARIES
from tests.support.canaries import make_canary
from tests.support.opening import (
    InProcess,
    StoredRow,
    open_value,
    read_rows,
    sqlite_url,
    wait_until_converted,
)
from tests.support.processes import Stack

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def box(database_url: str, tmp_path: Path) -> Iterator[InProcess]:
    built = InProcess.build(database_url, tmp_path)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def stored(box: InProcess) -> list[StoredRow]:
    """Two owners with four secrets each; half of them with a second version; half the outer layers
    converted to the keeper's wrap. Every row opens before anything is moved."""
    for owner in ("alice", "bob"):
        who = box.user(owner, now=NOW)
        for i in range(4):
            name = f"{owner}-{i}"
            value = SecretValue(text=f"{name}-v1")
            box.secrets.create(
                who, name=name, kind=Kind.GENERIC, value=value, description="", expires_at=None, now=NOW
            )
            if i % 2:
                box.secrets.replace(who, name, value=SecretValue(text=f"{name}-v2"), if_match=1, now=NOW)
    assert box.convert(box.rows()[::2]) > 0
    rows = box.rows()
    assert {r.keeper_key_id[:5] for r in rows} == {"hpke:", "wrap:"}
    for r in rows:
        assert open_value(r, master=box.master, keeper=box.keeper) == f"{r.name}-v{r.version}".encode()
    return rows


@dataclass
class Tally:
    moves: int = 0
    refused: int = 0


def _where(row: StoredRow) -> ColumnElement[bool]:
    return and_(secret_versions.c.secret_id == row.secret_id, secret_versions.c.version == row.version)


def _open_after(
    box: InProcess, move: Callable[[Connection], None], target: Callable[[StoredRow], bool], tally: Tally
) -> None:
    """Apply `move` in a transaction, open each row `target` picks with all keys, roll back."""
    with box.db.engine.connect() as conn:
        tx = conn.begin()
        try:
            move(conn)
            moved = [r for r in read_rows(conn) if target(r)]
            assert moved, "the move changed no row"
            for row in moved:
                tally.moves += 1
                with pytest.raises(DecryptionError):
                    open_value(row, master=box.master, keeper=box.keeper)
                tally.refused += 1
        finally:
            tx.rollback()


def _copy(src: StoredRow, dst: StoredRow, columns: tuple[str, ...]) -> Callable[[Connection], None]:
    values = {c: getattr(src, c) for c in columns}

    def move(conn: Connection) -> None:
        conn.execute(update(secret_versions).where(_where(dst)).values(**values))

    return move


def _same(row: StoredRow) -> Callable[[StoredRow], bool]:
    return _row_is(row.secret_id, row.version)


COLUMNS = [("wrapped_dek",), ("outer",), ("wrapped_dek", "outer")]


def test_ciphertexts_moved_to_another_row(box: InProcess, stored: list[StoredRow]) -> None:
    tally = Tally()
    kinds = {"other secret": 0, "other version": 0, "other owner": 0}
    for src, dst in permutations(stored, 2):
        if src.owner_id != dst.owner_id:
            kind = "other owner"
        elif src.secret_id == dst.secret_id:
            kind = "other version"
        else:
            kind = "other secret"
        for columns in COLUMNS:
            _open_after(box, _copy(src, dst, columns), _same(dst), tally)
            kinds[kind] += 1
    assert all(kinds.values()), kinds
    assert tally.moves == tally.refused == len(stored) * (len(stored) - 1) * len(COLUMNS)


def test_ciphertexts_moved_to_another_layer(box: InProcess, stored: list[StoredRow]) -> None:
    tally = Tally()
    for row in stored:
        swaps = {
            "outer as data key": {"wrapped_dek": row.outer},
            "data key as outer": {"outer": row.wrapped_dek},
            "both swapped": {"wrapped_dek": row.outer, "outer": row.wrapped_dek},
            "user key as data key": {"wrapped_dek": row.wrapped_user_key},
            "user key as outer": {"outer": row.wrapped_user_key},
        }
        for values in swaps.values():

            def move(conn: Connection, v: dict[str, bytes] = values, r: StoredRow = row) -> None:
                conn.execute(update(secret_versions).where(_where(r)).values(**v))

            _open_after(box, move, _same(row), tally)
    assert tally.moves == tally.refused == len(stored) * 5


def _row_is(secret_id: str, version: int) -> Callable[[StoredRow], bool]:
    return lambda r: (r.secret_id, r.version) == (secret_id, version)


def _secret_is(secret_id: str) -> Callable[[StoredRow], bool]:
    return lambda r: r.secret_id == secret_id


def _owned_by(owner_id: str) -> Callable[[StoredRow], bool]:
    return lambda r: r.owner_id == owner_id


def _to_owner(secret_id: str, owner_id: str) -> Callable[[Connection], None]:
    def move(conn: Connection) -> None:
        conn.execute(update(secrets).where(secrets.c.id == secret_id).values(owner_id=owner_id))

    return move


def _to_version(row: StoredRow, version: int) -> Callable[[Connection], None]:
    def move(conn: Connection) -> None:
        conn.execute(update(secret_versions).where(_where(row)).values(version=version))

    return move


def _user_key(owner_id: str, wrapped: bytes) -> Callable[[Connection], None]:
    def move(conn: Connection) -> None:
        conn.execute(update(users).where(users.c.id == owner_id).values(user_key=wrapped))

    return move


def test_rows_reassigned_to_another_owner_version_or_user_key(
    box: InProcess, stored: list[StoredRow]
) -> None:
    tally = Tally()
    owners = sorted({r.owner_id for r in stored})
    assert len(owners) == 2
    for row in stored:
        other = owners[1 - owners.index(row.owner_id)]
        _open_after(box, _to_owner(row.secret_id, other), _secret_is(row.secret_id), tally)
        _open_after(
            box, _to_version(row, row.version + 100), _row_is(row.secret_id, row.version + 100), tally
        )
    for owner in owners:
        other = owners[1 - owners.index(owner)]
        wrapped = next(r.wrapped_user_key for r in stored if r.owner_id == other)
        _open_after(box, _user_key(owner, wrapped), _owned_by(owner), tally)
    assert tally.moves == tally.refused > 2 * len(stored)


def test_every_moved_row_is_refused_with_one_error_type(box: InProcess, stored: list[StoredRow]) -> None:
    """No move leaks which layer refused: the same DecryptionError, with the same fixed message."""
    messages: set[str] = set()
    for src, dst in permutations(stored[:4], 2):
        for columns in COLUMNS:
            with box.db.engine.connect() as conn:
                tx = conn.begin()
                _copy(src, dst, columns)(conn)
                (row,) = [r for r in read_rows(conn) if _same(dst)(r)]
                tx.rollback()
            try:
                open_value(row, master=box.master, keeper=box.keeper)
            except DecryptionError as exc:
                messages.add(f"{type(exc).__name__}: {exc}")
    assert messages == {"DecryptionError: ciphertext could not be opened"}


# ---------------------------------------------------------------------------------------------
# The launch path: a moved ciphertext in the live database, redeemed through server and keeper


def _execute(stack: Stack, sql: str, *params: object) -> None:
    with closing(sqlite3.connect(stack.data_dir / "sealbox.db", timeout=10)) as conn, conn:
        conn.execute(sql, params)


def _material(stack: Stack, name: str, version: int) -> tuple[str, bytes, bytes]:
    with closing(sqlite3.connect(f"file:{stack.data_dir / 'sealbox.db'}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT v.secret_id, v.wrapped_dek, v.outer FROM secret_versions v JOIN secrets s"
            " ON s.id = v.secret_id WHERE s.name = ? AND v.version = ?",
            (name, version),
        ).fetchone()
    return str(row[0]), bytes(row[1]), bytes(row[2])


def _launch(stack: Stack, token: str, name: str) -> bytes:
    with stack.client(token) as api:
        created = api.post("/api/v1/sessions", json={"secrets": [{"name": name, "file": "f"}]})
    assert created.status_code == 201, created.text
    launch = created.json()
    with HTTPClient(stack.url) as http:
        delivery = redeem(http, session_id=launch["session"]["id"], credential=launch["session_credential"])
    (item,) = delivery.items
    return item.value


def _redeem_failures(stack: Stack) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(f"file:{stack.data_dir / 'sealbox.db'}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT outcome, detail FROM audit_events"
            " WHERE action = 'session.redeem' AND outcome != 'success'"
        ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


@dataclass
class Launchable:
    """Secrets in the live database of `stack`: t3-a, t3-b, t3-c (two versions) of the admin, t3-o of
    another user; all converted to the keeper's wrap."""

    stack: Stack
    values: dict[str, str]


@pytest.fixture(scope="module")
def launchable(stack: Stack) -> Launchable:
    other = stack.add_user("t3other")
    values = {name: make_canary("t3") for name in ("t3-a", "t3-b", "t3-c", "t3-o")}
    CANARIES.extend(values.values())  # the stack scans its logs for them when the module ends
    with stack.client() as api:
        for name in ("t3-a", "t3-b", "t3-c"):
            assert api.post("/api/v1/secrets", json={"name": name, "value": values[name]}).status_code == 201
        assert api.put("/api/v1/secrets/t3-c/value", json={"value": values["t3-c"] + "-2"}).status_code == 200
    with stack.client(other) as api:
        assert api.post("/api/v1/secrets", json={"name": "t3-o", "value": values["t3-o"]}).status_code == 201
    wait_until_converted(sqlite_url(stack.data_dir / "sealbox.db"))
    return Launchable(stack=stack, values=values)


def _launch_moved(
    stack: Stack, name: str, version: int, source: tuple[str, bytes, bytes], columns: tuple[str, ...]
) -> str:
    """Copy `columns` of `source` onto (name, version) in the live database, launch `name`, put the
    row back; the refusal's code (a delivered value fails the test)."""
    secret_id, dek, outer = _material(stack, name, version)
    moved = {"wrapped_dek": source[1], "outer": source[2]}
    sets = ", ".join(f"{c} = ?" for c in columns)
    sql = f"UPDATE secret_versions SET {sets} WHERE secret_id = ? AND version = ?"  # noqa: S608 -- fixed names
    _execute(stack, sql, *(moved[c] for c in columns), secret_id, version)
    try:
        with pytest.raises((ServiceError, ClientError)) as refused:
            _launch(stack, stack.admin_token, name)
        error = refused.value
        assert isinstance(error, ServiceError | ClientError)
        return error.code
    finally:
        restore = "UPDATE secret_versions SET wrapped_dek = ?, outer = ? WHERE secret_id = ? AND version = ?"
        _execute(stack, restore, dek, outer, secret_id, version)


def test_a_launch_of_a_moved_ciphertext_is_refused(launchable: Launchable) -> None:
    stack = launchable.stack
    assert _launch(stack, stack.admin_token, "t3-b") == launchable.values["t3-b"].encode()
    a, b, o = (_material(stack, n, 1) for n in ("t3-a", "t3-b", "t3-o"))
    moves = [  # what to launch, onto which version, from where, which columns
        ("t3-b", 1, a, ("wrapped_dek",)),  # another secret's data key
        ("t3-b", 1, a, ("wrapped_dek", "outer")),  # another secret's whole version
        ("t3-b", 1, o, ("wrapped_dek", "outer")),  # another owner's
        ("t3-c", 2, _material(stack, "t3-c", 1), ("wrapped_dek", "outer")),  # another version's
        ("t3-b", 1, (b[0], b[2], b[1]), ("wrapped_dek", "outer")),  # the two layers swapped
        ("t3-b", 1, a, ("outer",)),  # another secret's outer layer only: the keeper finds it
    ]
    audited_before = len(_redeem_failures(stack))
    codes = [_launch_moved(stack, name, version, source, cols) for name, version, source, cols in moves]
    assert len(codes) == len(moves)  # 100% refused, no value delivered
    assert codes == ["integrity_error"] * len(moves)
    assert b"Traceback" not in stack.logs()
    audited = _redeem_failures(stack)[audited_before:]
    assert [o for o, _ in audited] == ["failed"] * len(moves), audited
    assert all("integrity_error" in detail for _, detail in audited), audited
    assert _launch(stack, stack.admin_token, "t3-b") == launchable.values["t3-b"].encode()  # restored


def test_a_moved_outer_layer_is_one_audited_integrity_error(launchable: Launchable) -> None:
    stack = launchable.stack
    audited_before = len(_redeem_failures(stack))
    code = _launch_moved(stack, "t3-b", 1, _material(stack, "t3-a", 1), ("outer",))
    assert code == "integrity_error"
    assert len(_redeem_failures(stack)) == audited_before + 1
