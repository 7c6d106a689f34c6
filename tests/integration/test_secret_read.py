"""The one-statement secret read (store/secret_read.py, services/secret_read.py) against the general path
it stands in for (tokens.authenticate, then secret_with_sessions), in-process on a SQLite file and on
PostgreSQL: wherever the general path answers, the one statement answers the same principal, secret
(versions, level) and live sessions; wherever the general path refuses, it answers None (and the
general path then refuses as before). Cases: own and shared secrets (a user grant, a group grant, both),
several versions, live, ended, expired and silent sessions, missing and deleted secrets, a revoked, an
expired and a malformed token, and another user's token.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_hex

import pytest
from sqlalchemy import insert, update

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import Secret
from sealbox.domain.sessions import LiveSession
from sealbox.errors import ServiceError
from sealbox.services import tokens
from sealbox.services.secret_read import read_at_once
from sealbox.services.secrets import SecretValue, secret_with_sessions
from sealbox.store.secret_read import SecretReadRepository
from sealbox.store.tables import grants, group_members, groups, session_secrets, sessions
from sealbox.store.tables import tokens as token_rows
from sealbox.store.unit_of_work import UnitOfWork
from tests.support.opening import InProcess

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(microseconds=123400)


@pytest.fixture
def box(database_url: str, tmp_path: Path) -> Iterator[InProcess]:
    built = InProcess.build(database_url, tmp_path)
    try:
        yield built
    finally:
        built.close()


def _general(box: InProcess, bearer: str, name: str, owner: str | None) -> object:
    try:
        with box.db.read() as conn:
            uow = UnitOfWork(conn)
            principal = tokens.authenticate(uow.tokens, bearer, now=NOW, client_addr="10.0.0.1")
            secret, live = secret_with_sessions(uow, principal, name, owner=owner, now=NOW)
    except ServiceError:
        return None
    return principal, secret, live


def _at_once(box: InProcess, bearer: str, name: str, owner: str | None) -> object:
    with box.db.statement() as conn:
        return read_at_once(
            SecretReadRepository(conn), bearer, name, owner=owner, now=NOW, client_addr="10.0.0.1"
        )


_SECOND = itertools.count(1)  # each session a second after the last: no ties in the order by creation


def _session(box: InProcess, owner: Principal, secret: Secret, **columns: object) -> str:
    sid = token_hex(16)
    values = {
        "status": "active",
        "created_at": NOW - timedelta(minutes=5) + timedelta(seconds=next(_SECOND)),
        "expires_at": NOW + timedelta(hours=1),
    }
    with box.db.write() as conn:
        conn.execute(
            insert(sessions).values(
                id=sid, owner_id=owner.user.id, mount_path="/run/x", **{**values, **columns}
            )
        )
        conn.execute(
            insert(session_secrets).values(
                session_id=sid, position=0, secret_id=secret.id, secret_name=secret.name,
                owner_id=secret.owner_id, version=1,
            )
        )  # fmt: skip
    return sid


def test_the_one_statement_answers_as_the_general_path(box: InProcess) -> None:
    alice, bob, carol, dave = (box.user(n, now=NOW) for n in ("alice", "bob", "carol", "dave"))

    def token(who: Principal) -> str:
        return tokens.issue(box.db, who.user, name="t", expires_at=None, now=NOW, requested_by=None).value

    def create(name: str) -> Secret:
        return box.secrets.create(
            alice, name=name, kind=Kind.GENERIC, value=SecretValue(text="v"), description="d ✓",
            expires_at=None, now=NOW,
        )  # fmt: skip

    plain, shared, grouped, _ = (create(n) for n in ("plain", "shared", "grouped", "gone"))
    for _ in range(2):
        box.secrets.replace(alice, "plain", value=SecretValue(text="w"), if_match=None, now=NOW)
    box.deletion.delete(alice, "gone", now=NOW)
    with box.db.write() as conn:
        conn.execute(insert(groups).values(id="g1", name="team", created_at=NOW, created_by="alice"))
        conn.execute(insert(group_members).values(group_id="g1", user_id=carol.user.id, role="member"))
        conn.execute(insert(group_members).values(group_id="g1", user_id=bob.user.id, role="member"))
        for secret_id, kind, grantee, level in (
            (shared.id, "user", bob.user.id, "write"),
            (grouped.id, "group", "g1", "use"),
            (shared.id, "group", "g1", "manage"),
        ):
            conn.execute(
                insert(grants).values(
                    secret_id=secret_id, grantee_type=kind, grantee_id=grantee, level=level,
                    created_at=NOW, created_by="alice",
                )
            )  # fmt: skip
    _session(box, alice, plain)
    _session(box, bob, shared, created_at=NOW - timedelta(minutes=9))
    _session(box, carol, shared)
    _session(box, alice, shared, status="ended")
    _session(box, alice, shared, expires_at=NOW - timedelta(seconds=1))
    _session(box, alice, shared, heartbeat_seconds=10, last_seen_at=NOW - timedelta(minutes=10))
    _session(box, alice, shared, heartbeat_seconds=10, last_seen_at=NOW - timedelta(seconds=5))

    revoked, expired = token(bob), token(bob)
    tokens.revoke(box.db, bob, revoked.split("_")[1], now=NOW)
    with box.db.write() as conn:
        expired_id = expired.split("_")[1]
        conn.execute(update(token_rows).where(token_rows.c.id == expired_id).values(expires_at=NOW))
    bearers = {
        "alice": token(alice), "bob": token(bob), "carol": token(carol), "dave": token(dave),
        "revoked": revoked, "expired": expired, "malformed": "sbx_" + "a" * 16, "other": "Bearer x",
    }  # fmt: skip
    answered = 0
    for who, bearer in bearers.items():
        for name in ("plain", "shared", "grouped", "gone", "missing", "bad name"):
            for owner in (None, "alice", "bob", "no such!"):
                general = _general(box, bearer, name, owner)
                at_once = _at_once(box, bearer, name, owner)
                assert at_once == general, (who, name, owner)
                answered += at_once is not None
    assert answered >= 10  # alice's own (as herself and as `alice/`), bob's and carol's shared ones


def test_live_sessions_are_those_the_caller_may_know_of(box: InProcess) -> None:
    alice, bob = box.user("alice", now=NOW), box.user("bob", now=NOW)
    secret = box.secrets.create(
        alice,
        name="s",
        kind=Kind.GENERIC,
        value=SecretValue(text="v"),
        description="",
        expires_at=None,
        now=NOW,
    )
    with box.db.write() as conn:
        conn.execute(
            insert(grants).values(
                secret_id=secret.id, grantee_type="user", grantee_id=bob.user.id, level="use",
                created_at=NOW, created_by="alice",
            )
        )  # fmt: skip
    first = _session(box, alice, secret, created_at=NOW - timedelta(minutes=3))
    second = _session(box, bob, secret, created_at=NOW - timedelta(minutes=2))
    bob_token = tokens.issue(box.db, bob.user, name="t", expires_at=None, now=NOW, requested_by=None).value
    alice_token = tokens.issue(
        box.db, alice.user, name="t", expires_at=None, now=NOW, requested_by=None
    ).value
    found = _at_once(box, alice_token, "s", None)
    assert isinstance(found, tuple)
    live: list[LiveSession] = found[2]
    assert [s.id for s in live] == [first, second]  # the owner sees all, oldest first
    found = _at_once(box, bob_token, "s", "alice")
    assert isinstance(found, tuple)
    assert [s.id for s in found[2]] == [second] and found[1].access == "use"
