"""The store and the secret service, in-process, on a SQLite file and on PostgreSQL (STYLE §8).

Covers keyset pagination, optimistic concurrency on replace, version pruning, delete, the unique
(owner, name) rule under concurrent creates, audit records in the change's own transaction
(no record, no change), the durability settings of every connection (TEST-PLAN T19's pragma
assertions), and that migrations ran to head.
"""

from __future__ import annotations

import base64
import random
import sqlite3
import string
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_hex
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, func, insert, select, text
from sqlalchemy.engine import make_url

from sealbox.crypto.wrapping import StoredVersion
from sealbox.domain.kinds import Kind
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import Secret, SecretPatch
from sealbox.errors import BadRequest, Conflict, ConstraintViolation, NotFound, Unavailable
from sealbox.services.deletion import purge_due
from sealbox.services.secrets import SecretValue
from sealbox.services.users import create_user
from sealbox.store.database import Database
from sealbox.store.engine import alembic_config
from sealbox.store.secrets import SecretRepository
from sealbox.store.tables import audit_events, secret_versions, secrets, users
from tests.support.opening import RECOVERY_WINDOW, InProcess, open_value
from tests.support.postgres import ADMIN_URL, require_postgres

NOW = datetime(2030, 1, 1, tzinfo=UTC)
KEEP = 3
NAME_CHARS = string.ascii_letters + string.digits + "._-"


@pytest.fixture
def box(database_url: str, tmp_path: Path) -> Iterator[InProcess]:
    built = InProcess.build(database_url, tmp_path, versions_kept=KEEP)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def alice(box: InProcess) -> Principal:
    return box.user("alice", now=NOW)


def _text(value: str) -> SecretValue:
    return SecretValue(text=value)


def _create(box: InProcess, who: Principal, name: str, value: str) -> Secret:
    return box.secrets.create(
        who, name=name, kind=Kind.GENERIC, value=_text(value), description="", expires_at=None, now=NOW
    )


def _values(box: InProcess, secret_id: str) -> dict[int, bytes]:
    """Every stored version of a secret, opened end to end with both halves of the keys."""
    return {
        r.version: open_value(r, master=box.master, keeper=box.keeper)
        for r in box.rows()
        if r.secret_id == secret_id
    }


def _count(box: InProcess, query: Any) -> int:
    with box.db.read() as conn:
        return int(conn.execute(query).scalar_one())


def _audit(box: InProcess, secret_id: str | None = None) -> list[tuple[str, str | None, int | None, str]]:
    query = select(
        audit_events.c.action, audit_events.c.secret_id, audit_events.c.version, audit_events.c.outcome
    )
    if secret_id is not None:
        query = query.where(audit_events.c.secret_id == secret_id)
    with box.db.read() as conn:
        return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query.order_by(audit_events.c.id))]


def _race(n: int, action: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    """Run `action(i)` in `n` threads released together; results and errors, never a lost exception."""
    barrier = threading.Barrier(n)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcome = action(i)
        except BaseException as exc:  # collected and asserted on by the caller
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    return results, errors


# ---------------------------------------------------------------------------------------------
# create, get, page


def test_create_get_and_open(box: InProcess, alice: Principal) -> None:
    created = box.secrets.create(
        alice,
        name="db.prod",
        kind=Kind.DATABASE,
        value=SecretValue(fields={"host": "db.internal", "password": "pw-1", "user": ""}),
        description="prod database",
        expires_at=NOW + timedelta(days=1),
        now=NOW,
    )
    got = box.secrets.get(alice, "db.prod")
    assert got == created
    assert (got.current_version, [v.version for v in got.versions]) == (1, [1])
    assert got.field_names == ("host", "password")
    assert got.expires_at == NOW + timedelta(days=1) and got.created_at == NOW
    assert got.owner_name == "alice" and got.created_by == "alice"
    (row,) = box.rows()
    assert (
        open_value(row, master=box.master, keeper=box.keeper) == b'{"host":"db.internal","password":"pw-1"}'
    )
    assert row.keeper_key_id == "hpke:" + row.outer[1:9].hex()
    assert row.user_key_id == row.wrapped_dek[1:9].hex()
    assert b"pw-1" not in row.outer + row.wrapped_dek


def test_get_is_per_owner(box: InProcess, alice: Principal) -> None:
    bob = box.user("bob", now=NOW)
    _create(box, alice, "shared-name", "a")
    _create(box, bob, "shared-name", "b")  # the same name is free for another owner
    with pytest.raises(NotFound):
        box.secrets.get(box.user("carol", now=NOW), "shared-name")
    assert box.secrets.get(alice, "shared-name").id != box.secrets.get(bob, "shared-name").id


def _random_names(rng: random.Random, n: int) -> list[str]:
    names = {
        "a",
        "A",
        "a.",
        "a-",
        "a_",
        "a0",
        "aa",
        "Z",
        "_",
        "-",
        "0",
        "z" * 128,
        "db",
        "db-1",
        "dB2",
        "db_x",
    }
    while len(names) < n:
        name = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 24)))
        if name not in (".", ".."):
            names.add(name)
    return sorted(names)


def _bulk_insert(box: InProcess, owner: Principal, names: list[str]) -> None:
    rows = [
        {
            "id": f"{owner.user.id[:8]}{i:024d}",
            "owner_id": owner.user.id,
            "name": name,
            "kind": "generic",
            "description": "",
            "field_names": "",
            "created_at": NOW,
            "created_by": owner.user.name,
            "updated_at": NOW,
            "updated_by": owner.user.name,
            "expires_at": None,
            "current_version": 1,
        }
        for i, name in enumerate(names)
    ]
    with box.db.write() as conn:
        conn.execute(insert(secrets), rows)


def test_keyset_pagination_over_1000_rows(box: InProcess, alice: Principal) -> None:
    rng = random.Random(1000)
    names = _random_names(rng, 1000)
    bob = box.user("bob", now=NOW)
    _bulk_insert(box, alice, names)
    _bulk_insert(box, bob, _random_names(rng, 50))
    with box.db.read() as conn:
        db_order = list(
            conn.execute(
                select(secrets.c.name).where(secrets.c.owner_id == alice.user.id).order_by(secrets.c.name)
            )
            .scalars()
            .all()
        )

    statements: list[tuple[str, Any]] = []

    def remember(_c: Any, _cur: Any, statement: str, parameters: Any, *_args: Any) -> None:
        statements.append((statement.upper(), parameters))

    event.listen(box.db.engine, "before_cursor_execute", remember)
    try:
        seen: list[str] = []
        pages = 0
        cursor: str | None = None
        while True:
            page = box.secrets.page(alice, cursor=cursor, limit=37, prefix=None)
            pages += 1
            assert len(page.items) <= 37
            seen.extend(s.name for s in page.items)
            if page.next_cursor is None:
                break
            assert len(page.items) == 37
            cursor = page.next_cursor
    finally:
        event.remove(box.db.engine, "before_cursor_execute", remember)

    assert seen == db_order  # every row once, in the database's order, across pages
    assert len(seen) == len(set(seen)) == 1000
    assert pages == -(-1000 // 37)
    if box.db.is_sqlite or _collation_is_c(box):
        assert seen == sorted(names)
    # keyset, not OFFSET: each page is two bounded queries (own secrets by index, shared ones), no more
    selects = [(s, p) for s, p in statements if "FROM SECRETS" in s]
    assert len(selects) == 2 * pages
    for statement, parameters in selects:
        assert "LIMIT" in statement
        if "OFFSET" in statement:  # SQLAlchemy's SQLite dialect always renders one: it must be 0
            assert statement.rstrip().endswith("OFFSET ?") and parameters[-1] == 0


def _collation_is_c(box: InProcess) -> bool:
    with box.db.read() as conn:
        collation = conn.execute(
            text("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        )
        return str(collation.scalar_one()) in ("C", "C.UTF-8", "POSIX")


def test_page_with_prefix_and_bad_arguments(box: InProcess, alice: Principal) -> None:
    names = _random_names(random.Random(7), 300)
    _bulk_insert(box, alice, names)
    for prefix in ("a", "db", "Z", "_", "-", "0", "zz", "nothing-starts-so"):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = box.secrets.page(alice, cursor=cursor, limit=7, prefix=prefix)
            seen.extend(s.name for s in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [n for n in sorted(names) if n.startswith(prefix)], prefix
    for limit in (0, 501):
        with pytest.raises(BadRequest):
            box.secrets.page(alice, cursor=None, limit=limit, prefix=None)
    too_long = base64.urlsafe_b64encode(b"a" * 129).decode()
    for bad in ("_w" * 200, too_long, "/w"):
        with pytest.raises(BadRequest) as err:
            box.secrets.page(alice, cursor=bad, limit=10, prefix=None)
        assert err.value.code == "invalid_cursor"


@pytest.fixture
def icu_database() -> Iterator[str]:
    """A PostgreSQL database whose default collation is ICU en-US, as many installations have
    (case-insensitive at the first level): what the store returns must not depend on it."""
    require_postgres()
    name = f"sealbox_icu_{token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 '
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    try:
        yield make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_prefix_and_pages_under_a_case_insensitive_collation(icu_database: str, tmp_path: Path) -> None:
    box = InProcess.build(icu_database, tmp_path)
    try:
        alice = box.user("alice", now=NOW)
        names = ["db", "DB", "dB2", "db-1", "db.z", "db_x", "dba", "Dbz", "d-b", "d.b", "dc", "DC", "a", "Z"]
        _bulk_insert(box, alice, names)
        for prefix in ("db", "DB", "d", "dB", "Z", "z"):
            seen = _all_pages(box, alice, prefix=prefix, limit=2)
            assert sorted(seen) == sorted(n for n in names if n.startswith(prefix)), prefix
        everything = _all_pages(box, alice, prefix=None, limit=3)
        assert sorted(everything) == sorted(names) and len(everything) == len(set(everything))
    finally:
        box.close()


def _all_pages(box: InProcess, who: Principal, *, prefix: str | None, limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = box.secrets.page(who, cursor=cursor, limit=limit, prefix=prefix)
        seen.extend(s.name for s in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


# ---------------------------------------------------------------------------------------------
# replace, prune, delete


def test_replace_with_expected_version(box: InProcess, alice: Principal) -> None:
    s = _create(box, alice, "api-key", "v1")
    two = box.secrets.replace(alice, "api-key", value=_text("v2"), if_match=1, now=NOW)
    assert two.current_version == 2 and [v.version for v in two.versions] == [2, 1]
    with pytest.raises(Conflict) as stale:
        box.secrets.replace(alice, "api-key", value=_text("lost"), if_match=1, now=NOW)
    assert stale.value.code == "version_conflict"
    three = box.secrets.replace(alice, "api-key", value=_text("v3"), if_match=None, now=NOW)
    assert three.current_version == 3
    assert _values(box, s.id) == {1: b"v1", 2: b"v2", 3: b"v3"}
    assert [a[0] for a in _audit(box, s.id)] == ["secret.create", "secret.replace", "secret.replace"]
    with pytest.raises(NotFound):
        box.secrets.replace(alice, "missing", value=_text("x"), if_match=None, now=NOW)


def test_stale_replace_in_the_repository_writes_nothing(box: InProcess, alice: Principal) -> None:
    stale = _create(box, alice, "token", "v1")
    box.secrets.replace(alice, "token", value=_text("v2"), if_match=1, now=NOW)
    (v1,) = [r for r in box.rows() if r.version == 1]
    with box.db.write() as conn:
        written = SecretRepository(conn).add_version(
            stale,
            StoredVersion(wrapped_dek=v1.wrapped_dek, outer=v1.outer),
            expected_version=1,
            at=NOW,
            by="alice",
            size=2,
            user_key_id="x",
            keeper_key_id="x",
            keep=KEEP,
        )
    assert written is None
    assert _values(box, stale.id) == {1: b"v1", 2: b"v2"}


@pytest.mark.parametrize("writers", [2, 4])
def test_concurrent_replaces_with_the_same_expected_version(
    box: InProcess, alice: Principal, writers: int
) -> None:
    s = _create(box, alice, "race", "v1")
    for round_ in range(4):
        expected = round_ + 1

        def replace(i: int, e: int = expected) -> Secret:
            return box.secrets.replace(alice, "race", value=_text(f"r{e}-w{i}"), if_match=e, now=NOW)

        results, errors = _race(writers, replace)
        assert len(results) == 1, (results, errors)
        assert len(errors) == writers - 1
        assert all(isinstance(e, Conflict) and e.code == "version_conflict" for e in errors), errors
        winner = results[0]
        assert isinstance(winner, Secret) and winner.current_version == expected + 1
    current = box.secrets.get(alice, "race")
    assert current.current_version == 5
    latest = _values(box, s.id)
    assert set(latest) == {3, 4, 5}  # pruned to the last KEEP
    assert latest[5].startswith(b"r4-w")
    assert [a[0] for a in _audit(box, s.id)].count("secret.replace") == 4


def test_keeps_the_last_n_versions(box: InProcess, alice: Principal) -> None:
    s = _create(box, alice, "rotating", "v1")
    for v in range(2, 8):
        box.secrets.replace(alice, "rotating", value=_text(f"v{v}"), if_match=v - 1, now=NOW)
    got = box.secrets.get(alice, "rotating")
    assert got.current_version == 7
    assert [v.version for v in got.versions] == [7, 6, 5]
    assert _values(box, s.id) == {5: b"v5", 6: b"v6", 7: b"v7"}
    with box.db.read() as conn:
        repo = SecretRepository(conn)
        assert repo.material(s.id, 4) is None and repo.material(s.id, 1) is None
        assert repo.material(s.id, 7) is not None


def _versions(box: InProcess, secret_id: str) -> int:
    query = select(func.count()).select_from(secret_versions).where(secret_versions.c.secret_id == secret_id)
    return _count(box, query)


def test_delete_keeps_it_in_the_window_then_restore_brings_it_back(box: InProcess, alice: Principal) -> None:
    s = _create(box, alice, "gone", "v1")
    box.secrets.replace(alice, "gone", value=_text("v2"), if_match=None, now=NOW)
    bob = box.user("bob", now=NOW)
    keep = _create(box, alice, "kept", "k1")
    gone = box.deletion.delete(alice, "gone", now=NOW)
    assert gone.purge_at == NOW + RECOVERY_WINDOW
    with pytest.raises(NotFound):
        box.secrets.get(alice, "gone")
    with pytest.raises(NotFound):
        box.deletion.delete(alice, "gone", now=NOW)  # not twice into the window
    assert [x.name for x in box.secrets.page(alice, cursor=None, limit=10, prefix=None).items] == ["kept"]
    assert _values(box, s.id) == {1: b"v1", 2: b"v2"}  # kept, with every version
    with pytest.raises(Conflict) as held:
        _create(box, alice, "gone", "new")
    assert held.value.code == "name_held_by_deleted_secret"
    assert [(x.name, x.purge_at) for x in box.deletion.deleted(alice, now=NOW)] == [("gone", gone.purge_at)]
    assert box.deletion.deleted(bob, now=NOW) == []
    with pytest.raises(NotFound):
        box.deletion.restore(bob, "gone", now=NOW, owner="alice")
    restored = box.deletion.restore(alice, "gone", now=NOW)
    assert restored.id == s.id and restored.current_version == 2 and restored.deleted_at is None
    assert box.secrets.get(alice, "gone").current_version == 2
    assert _values(box, keep.id) == {1: b"k1"}
    assert [a[0] for a in _audit(box, s.id)][-2:] == ["secret.delete", "secret.restore"]


def test_purge_removes_it_for_good_and_frees_the_name(box: InProcess, alice: Principal) -> None:
    live = _create(box, alice, "at-once", "v1")
    box.deletion.delete(alice, "at-once", now=NOW, purge=True)
    windowed = _create(box, alice, "windowed", "v1")
    box.deletion.delete(alice, "windowed", now=NOW)
    box.deletion.delete(alice, "windowed", now=NOW, purge=True)  # also from the window
    for s, name in ((live, "at-once"), (windowed, "windowed")):
        assert _versions(box, s.id) == 0
        assert _count(box, select(func.count()).select_from(secrets).where(secrets.c.id == s.id)) == 0
        with pytest.raises(NotFound):
            box.deletion.restore(alice, name, now=NOW)
        assert _audit(box, s.id)[-1][0] == "secret.purge"
        again = _create(box, alice, name, "new")
        assert again.id != s.id and _values(box, again.id) == {1: b"new"}


def test_the_sweep_removes_what_is_past_its_window_once(box: InProcess, alice: Principal) -> None:
    due = _create(box, alice, "due", "v1")
    box.deletion.delete(alice, "due", now=NOW)
    later = _create(box, alice, "later", "v1")
    box.deletion.delete(alice, "later", now=NOW + timedelta(hours=1))
    end = NOW + RECOVERY_WINDOW
    assert purge_due(box.db, now=end - timedelta(seconds=1)) == 0
    with pytest.raises(NotFound):  # the window is over, swept or not
        box.deletion.restore(alice, "due", now=end)
    results, errors = _race(3, lambda _i: purge_due(box.db, now=end))  # replicas sweeping at once
    assert errors == [] and sum(results) == 1  # type: ignore[arg-type]
    assert _versions(box, due.id) == 0 and _versions(box, later.id) == 1
    assert [a[:2] for a in _audit(box, due.id) if a[0] == "secret.purge"] == [("secret.purge", due.id)]
    assert purge_due(box.db, now=end) == 0  # idempotent
    assert box.deletion.restore(alice, "later", now=end).id == later.id


# ---------------------------------------------------------------------------------------------
# unique (owner, name) under concurrent creates


def test_concurrent_creates_of_one_name(box: InProcess, alice: Principal) -> None:
    for round_ in range(5):
        name = f"dup-{round_}"

        def create(i: int, n: str = name) -> Secret:
            return _create(box, alice, n, f"value-{i}")

        results, errors = _race(2, create)
        assert len(results) == 1, errors
        assert len(errors) == 1 and isinstance(errors[0], Conflict), errors
        assert errors[0].code == "already_exists"
        winner = results[0]
        assert isinstance(winner, Secret)
        assert (
            _count(
                box,
                select(func.count())
                .select_from(secrets)
                .where(secrets.c.owner_id == alice.user.id, secrets.c.name == name),
            )
            == 1
        )
        assert list(_values(box, winner.id)) == [1]
        creates = [a for a in _audit(box) if a[0] == "secret.create" and a[1] == winner.id]
        assert len(creates) == 1
    assert _count(box, select(func.count()).select_from(secret_versions)) == 5


def test_concurrent_user_creates(box: InProcess) -> None:
    results, errors = _race(
        3, lambda i: create_user(box.db, box.master, name="same", is_admin=False, now=NOW, requested_by=None)
    )
    assert len(results) == 1 and len(errors) == 2
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert _count(box, select(func.count()).select_from(users).where(users.c.name == "same")) == 1


def test_a_broken_constraint_is_one_error_without_the_statement(box: InProcess, alice: Principal) -> None:
    """Services tell a race the database decided without importing its driver: the store raises
    ConstraintViolation, and the driver's text (SQL and parameters) goes nowhere."""
    with pytest.raises(ConstraintViolation) as broken, box.db.writing() as uow:
        uow.users.add(user=alice.user, wrapped_user_key=b"canary-key-bytes", master_key_id="k")
    assert broken.value.__cause__ is None and broken.value.__suppress_context__
    assert "canary" not in str(broken.value) and "INSERT" not in str(broken.value)
    assert _count(box, select(func.count()).select_from(users).where(users.c.name == "alice")) == 1


# ---------------------------------------------------------------------------------------------
# audit: in the change's transaction; no record, no change


def test_every_change_is_audited_without_its_value(box: InProcess, alice: Principal) -> None:
    s = _create(box, alice, "audited", "first-value-xyz")
    box.secrets.replace(alice, "audited", value=_text("second-value-xyz"), if_match=1, now=NOW)
    box.secrets.update(alice, "audited", SecretPatch(description="d"), now=NOW)
    box.deletion.delete(alice, "audited", now=NOW)
    box.deletion.restore(alice, "audited", now=NOW)
    box.deletion.delete(alice, "audited", now=NOW, purge=True)
    assert _audit(box, s.id) == [
        ("secret.create", s.id, 1, "success"),
        ("secret.replace", s.id, 2, "success"),
        ("secret.update", s.id, 2, "success"),
        ("secret.delete", s.id, 2, "success"),
        ("secret.restore", s.id, 2, "success"),
        ("secret.purge", s.id, 2, "success"),
    ]
    with box.db.read() as conn:
        dumped = repr([tuple(r) for r in conn.execute(select(audit_events))])
    assert "value-xyz" not in dumped
    assert "alice" in dumped and "127.0.0.1" in dumped


def _break_audit(box: InProcess, how: str) -> None:
    with box.db.write() as conn:
        if how == "drop":
            conn.execute(text("DROP TABLE audit_events"))
        elif box.db.is_sqlite:
            conn.execute(
                text(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
                    "BEGIN SELECT RAISE(ABORT, 'audit down'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit down'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION audit_down()"
                )
            )


def _snapshot(box: InProcess) -> tuple[Any, ...]:
    with box.db.read() as conn:
        return tuple(
            sorted(tuple(map(str, r)) for r in conn.execute(select(table)))
            for table in (users, secrets, secret_versions)
        )


@pytest.mark.parametrize("how", ["trigger", "drop"])
def test_a_change_whose_audit_record_fails_is_rolled_back(box: InProcess, alice: Principal, how: str) -> None:
    s = _create(box, alice, "existing", "v1")
    before = _snapshot(box)
    _break_audit(box, how)
    attempts: list[Callable[[], object]] = [
        lambda: _create(box, alice, "new-one", "never stored"),
        lambda: box.secrets.replace(alice, "existing", value=_text("never stored"), if_match=1, now=NOW),
        lambda: box.deletion.delete(alice, "existing", now=NOW),
        lambda: box.deletion.delete(alice, "existing", now=NOW, purge=True),
        lambda: create_user(box.db, box.master, name="mallory", is_admin=True, now=NOW, requested_by=alice),
    ]
    for attempt in attempts:
        with pytest.raises(Unavailable):
            attempt()
        assert _snapshot(box) == before
    assert _values(box, s.id) == {1: b"v1"}


# ---------------------------------------------------------------------------------------------
# durability settings, migrations


def _check_connection_settings(conn: Connection, is_sqlite: bool) -> None:
    if is_sqlite:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    else:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"


def test_every_connection_is_durable(database_url: str) -> None:
    is_sqlite = database_url.startswith("sqlite")
    if not is_sqlite:
        # Make the database's own default unsafe: sealbox must set it back on every connection.
        dbname = make_url(database_url).database
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" SET synchronous_commit = off')
    db = Database.open(database_url)
    try:
        # Several pooled connections at once, through both kinds of transaction.
        with db.read() as r1, db.write() as w1, db.read() as r2:
            for conn in (r1, w1, r2):
                _check_connection_settings(conn, is_sqlite)
        for _ in range(3):
            with db.write() as conn:
                _check_connection_settings(conn, is_sqlite)
    finally:
        db.dispose()
    if is_sqlite:  # WAL is a property of the file: a plain connection sees it too
        path = make_url(database_url).database
        assert path is not None
        plain = sqlite3.connect(path)
        try:
            assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            plain.close()


def test_migrations_ran_to_head(box: InProcess) -> None:
    url = box.db.engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with box.db.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
