"""`Database.read()` keeps one connection checked out for the hot reads (store/database.py): nested and
concurrent reads get their own, an error inside a read leaves it usable, and a connection the
database dropped is replaced (at once by the pool's pre-ping after a quiet spell; otherwise the one
read that meets it answers "unavailable" and the next one works). On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sealbox.crypto.keyring import Keyring
from sealbox.errors import NotFound, Unavailable
from sealbox.services import audit as audit_service
from sealbox.store import database as database_module
from sealbox.store.audit_chain import install_audit_chain
from sealbox.store.database import Database
from sealbox.store.raw import RawReader, Statement
from tests.support.postgres import ADMIN_URL


def _backend(conn: object) -> object:
    return conn.connection.driver_connection  # type: ignore[attr-defined]


def test_held_connection_is_reused_and_never_shared(database_url: str) -> None:
    db = Database.open(database_url)
    try:
        with db.read() as first:
            held = _backend(first)
            with db.read() as nested:  # nested: another connection, its own transaction
                assert _backend(nested) is not held
                assert nested.execute(text("SELECT 1")).scalar_one() == 1
        with db.read() as again:
            assert _backend(again) is held
        seen: list[object] = []
        with db.read() as outer:
            thread = threading.Thread(target=lambda: seen.append(_read_backend(db)))
            thread.start()
            thread.join()
            assert seen and seen[0] is not _backend(outer)
        with pytest.raises(NotFound), db.read():  # an error inside a read rolls back; the connection stays
            raise NotFound("gone")
        with db.read() as after:
            assert _backend(after) is held
            assert after.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


def _read_backend(db: Database) -> object:
    with db.read() as conn:
        conn.execute(text("SELECT 1"))
        return _backend(conn)


def _terminate_others(database_url: str) -> int:
    name = make_url(database_url).database
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def test_dropped_connection_is_replaced(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("only a server database drops connections")
    db = Database.open(database_url)
    try:
        with db.read() as conn:
            conn.execute(text("SELECT 1"))
        assert _terminate_others(database_url) >= 1
        # Within the idle spell: the one read that meets the dead connection fails cleanly, the next works.
        with pytest.raises(Unavailable), db.read() as conn:
            conn.execute(text("SELECT 1"))
        with db.read() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        # After a quiet spell the held connection goes back through the pool's pre-ping: no failure.
        monkeypatch.setattr(database_module, "_HELD_IDLE_S", -1.0)
        assert _terminate_others(database_url) >= 1
        with db.read() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


def test_a_connection_killed_mid_transaction_is_a_503_on_every_path(database_url: str) -> None:
    """Killed inside a write whose audit record then fails, before a commit, and under a raw read:
    each is `database_unavailable` (before: the audit append made it `audit_unavailable`, and the
    rollback of the invalidated connection then raised PendingRollbackError, a 500)."""
    if database_url.startswith("sqlite"):
        pytest.skip("only a server database drops connections")
    db = Database.open(database_url)
    install_audit_chain(db, Keyring.generate(), data_dir=None)
    now = datetime.now(UTC)
    try:
        with pytest.raises(Unavailable) as failed, db.writing() as uow:
            uow.conn.execute(text("SELECT 1"))
            assert _terminate_others(database_url) >= 1
            audit_service.record(uow, None, "secret.replace", now=now, detail="killed")
        assert failed.value.code == "database_unavailable"
        with pytest.raises(Unavailable) as failed, db.writing() as uow:
            audit_service.record(uow, None, "secret.replace", now=now, detail="at-commit")
            assert _terminate_others(database_url) >= 1
        assert failed.value.code == "database_unavailable"
        with db.read() as conn:
            conn.execute(text("SELECT 1"))
        assert _terminate_others(database_url) >= 1
        with pytest.raises(Unavailable) as failed, db.read() as conn:
            RawReader(conn).one(Statement.of("SELECT 1"), ())
        assert failed.value.code == "database_unavailable"
        with db.writing() as uow:  # and the next transaction works
            audit_service.record(uow, None, "secret.replace", now=now, detail="after")
        with db.read() as conn:
            assert RawReader(conn).one(Statement.of("SELECT count(*) FROM audit_events"), ()) == (1,)
    finally:
        db.dispose()
