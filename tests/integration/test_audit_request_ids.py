"""The audit chain across migration 0013, on SQLite and PostgreSQL.

Records the release before wrote (chain_version 2: no request id, a tag that does not cover one) still
verify among the new ones (chain_version 3, whose tag covers the request id). Giving an old record a
request id, editing a new record's, or passing a new record off as an old one breaks the chain at
that record.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import KEY_ID_BYTES, SYMMETRIC_KEY_BYTES, Keyring
from sealbox.domain import request_ids
from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.store.audit import GENESIS, KEYED, AuditRepository, record_tag
from sealbox.store.audit_chain import install_audit_chain, verify_chain
from sealbox.store.database import Database
from sealbox.store.tables import audit_events


@pytest.fixture
def chained(database_url: str) -> Iterator[tuple[Database, Keyring]]:
    db = Database.open(database_url)
    master = Keyring(keys=((os.urandom(KEY_ID_BYTES), os.urandom(SYMMETRIC_KEY_BYTES)),))
    install_audit_chain(db, master, data_dir=None)
    try:
        yield db, master
    finally:
        db.dispose()


def event(action: str) -> AuditEvent:
    return AuditEvent(
        at=datetime.now(UTC),
        actor_id=None,
        actor_name="ops",
        token_id=None,
        action=action,
        outcome=Outcome.SUCCESS,
    )


def write_as_the_release_before(db: Database, keys: ChainKeys, actions: list[str]) -> list[int]:
    """Records as a server before 0013 wrote them: chain_version 2, no request id."""
    ids = []
    with db.write() as conn:
        for action in actions:
            prev = conn.execute(
                select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)
            ).scalar()
            e = event(action)
            row: dict[str, Any] = {
                "at": e.at,
                "actor_id": None,
                "actor_name": e.actor_name,
                "token_id": None,
                "action": action,
                "outcome": e.outcome.value,
                "secret_id": None,
                "secret_name": None,
                "version": None,
                "client_addr": None,
                "detail": None,
                "on_behalf_of": None,
                "session_id": None,
                "chain_version": KEYED,
                "key_id": keys.current_id,
                "prev_hash": prev or GENESIS,
            }
            row["hash"] = record_tag(keys, row["prev_hash"], row)
            conn.execute(insert(audit_events), [row])
            ids.append(int(conn.execute(select(func.max(audit_events.c.id))).scalar_one()))
    return ids


def write_in_a_request(db: Database, request_id: str, action: str) -> int:
    entered = request_ids.enter(request_id)
    try:
        with db.write() as conn:
            AuditRepository(conn).append(event(action))
            return int(conn.execute(select(func.max(audit_events.c.id))).scalar_one())
    finally:
        request_ids.leave(entered)


def first_bad(db: Database, master: Keyring) -> int | None:
    check = verify_chain(db, master, data_dir=None)
    return None if check.ok else check.first_bad_id


def edited(db: Database, master: Keyring, record_id: int, **values: Any) -> int | None:
    """The first bad record with one record edited; the edit is undone afterwards."""
    with db.write() as conn:
        before = dict(conn.execute(select(audit_events).where(audit_events.c.id == record_id)).one()._mapping)
        conn.execute(update(audit_events).where(audit_events.c.id == record_id).values(**values))
    try:
        return first_bad(db, master)
    finally:
        with db.write() as conn:
            restore = {k: before[k] for k in values}
            conn.execute(update(audit_events).where(audit_events.c.id == record_id).values(**restore))


def test_old_records_verify_among_new_ones_and_request_ids_are_covered(
    chained: tuple[Database, Keyring],
) -> None:
    db, master = chained
    keys = ChainKeys.derive(master)
    old = write_as_the_release_before(db, keys, ["before.one", "before.two"])
    new = write_in_a_request(db, "req-after-upgrade", "after.one")
    old_again = write_as_the_release_before(db, keys, ["before.three"])  # an old replica, during the upgrade
    newest = write_in_a_request(db, "req-later", "after.two")
    assert first_bad(db, master) is None

    with db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(audit_events))}
    assert [rows[i].request_id for i in (*old, new, *old_again, newest)] == [
        None,
        None,
        "req-after-upgrade",
        None,
        "req-later",
    ]
    assert rows[new].chain_version == 3 and rows[old[0]].chain_version == KEYED

    assert edited(db, master, new, request_id="req-forged") == new
    assert edited(db, master, new, request_id=None) == new
    assert edited(db, master, old[1], request_id="req-pinned-on-an-old-record") == old[1]
    assert edited(db, master, new, chain_version=KEYED) == new  # passed off as an old record
    assert first_bad(db, master) is None  # every edit undone
