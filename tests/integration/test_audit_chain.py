"""The audit trail (issue 5, "The audit trail"; TEST-PLAN T8 and the tampering part of T21).

After a workload on real server and keeper processes (secrets written, replaced, shared, launched,
redeemed, refused, revoked, fetched by a service, tokens issued and revoked):

- `sealbox audit verify` passes on the live data dir;
- every single-record tampering (edit any column, delete, swap two, move one to the end) of a copy of
  the database is caught, at the right record: 50 through the CLI on copies made with the SQLite
  backup API, and 1,000 more through the same verifier in-process;
- `GET /api/v1/audit` filters by secret, session and time; owners see their secrets' records and
  their own acts, admins all; pages walk the whole log once;
- no value, token or session credential appears in any audit row or in `sealbox audit --json` (T8).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool, StaticPool

from sealbox import Client
from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import Keyring
from sealbox.errors import ClientError, ConfigError
from sealbox.launcher.redeem import redeem
from sealbox.services import audit as audit_service
from sealbox.store import audit_anchor
from sealbox.store.audit import GENESIS, AuditRepository, record_hash, record_tag
from sealbox.store.audit_anchor import (
    CHECKPOINT_NAME,
    Checkpoint,
    CheckpointFile,
    flush_checkpoints,
    read_checkpoint,
)
from sealbox.store.audit_chain import install_audit_chain, verify_chain
from sealbox.store.database import Database
from sealbox.store.engine import alembic_config
from sealbox.store.tables import audit_events
from sealbox.transport import HTTPClient
from tests.support.anchor import chain_keys, settled
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.issuer import replica
from tests.support.processes import Stack, base_env, sealbox_cmd

API = "/api/v1"
COLUMNS = tuple(c.name for c in audit_events.columns if c.name != "id")  # every column tampering may touch
SEED = 20_250_505  # change it to explore; every failure message names the tampering
BROKEN = re.compile(r"broken at record (\d+)")

VALUES: list[str] = []  # stored values: never in the audit trail
TOKENS: list[str] = []  # every token and session credential issued: only ids may appear


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Actor:
    stack: Stack
    name: str
    token: str = field(repr=False)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.stack.client(self.token) as api:
            return api.request(method, f"{API}{path}", **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.call(method, path, **kwargs)
        assert resp.status_code < 300, (method, path, resp.text)
        return resp.json() if resp.content else None

    def launch(self, ref: str) -> dict[str, Any]:
        launch: dict[str, Any] = self.ok("POST", "/sessions", json={"secrets": [{"name": ref, "file": "f"}]})
        TOKENS.append(launch["session_credential"])
        return launch

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.ok("GET", "/audit", params={"limit": 1000, **params})["items"]
        return items


def redeemed(stack: Stack, launch: dict[str, Any]) -> list[bytes]:
    with HTTPClient(stack.url) as anonymous:
        delivery = redeem(
            anonymous,
            session_id=launch["session"]["id"],
            credential=launch["session_credential"],
            keeper_url=stack.keeper.url,
        )
    return [i.value for i in delivery.items]


def new_actor(stack: Stack, prefix: str) -> Actor:
    name = unique(prefix)
    with stack.client() as admin:
        resp = admin.post(f"{API}/users", json={"name": name})
    assert resp.status_code == 201, resp.text
    TOKENS.append(resp.json()["token"])
    return Actor(stack=stack, name=name, token=resp.json()["token"])


@dataclass
class Workload:
    admin: Actor
    alice: Actor
    bob: Actor
    carol: Actor
    s1: str  # alice's, shared with bob then revoked
    s2: str  # alice's, shared with bob (use), fetched by a service
    c1: str  # carol's own
    ids: dict[str, str]  # secret name -> id
    bob_session: str
    refused_session: str
    since: datetime  # between the first and the second half of the workload
    first_half: set[str]  # actions done only before `since`
    second_half: set[str]


@pytest.fixture(scope="module", autouse=True)
def no_value_in_logs(stack: Stack) -> Iterator[None]:
    yield
    assert find_in_bytes(stack.logs(), VALUES + TOKENS) == []


@pytest.fixture(scope="module")
def work(stack: Stack) -> Workload:
    return workload(stack)


@pytest.fixture(scope="module")
def pg_work(pg_stack: Stack) -> Workload:
    return workload(pg_stack)


def workload(stack: Stack) -> Workload:
    TOKENS.append(stack.admin_token)
    admin = Actor(stack=stack, name="admin", token=stack.admin_token)
    alice, bob, carol = (new_actor(stack, n) for n in ("alice", "bob", "carol"))
    v1, v1b, v2, vc = (make_canary(label) for label in ("audit-s1", "audit-s1b", "audit-s2", "audit-c1"))
    VALUES.extend([v1, v1b, v2, vc])
    s1, s2, c1 = unique("s1"), unique("s2"), unique("c1")

    # First half: writes, grants, a launch and its redemption, a refused redemption.
    alice.ok("POST", "/secrets", json={"name": s1, "value": v1})
    alice.ok("POST", "/secrets", json={"name": s2, "value": v2})
    carol.ok("POST", "/secrets", json={"name": c1, "value": vc})
    alice.ok("PUT", f"/secrets/{s1}/value", json={"value": v1b})
    alice.ok("POST", f"/secrets/{s1}/grants", json={"user": bob.name, "level": "use"})
    alice.ok("POST", f"/secrets/{s2}/grants", json={"user": bob.name, "level": "use"})
    launch = bob.launch(f"{alice.name}/{s1}")
    assert redeemed(stack, launch) == [v1b.encode()]
    with pytest.raises(ClientError):
        redeemed(stack, launch)  # the credential is spent: refused, and recorded
    carol.ok("POST", "/sessions", json={"secrets": [{"name": c1, "file": "f"}]})
    issued = alice.ok("POST", "/tokens", json={"name": "laptop"})
    TOKENS.append(issued["token"])
    time.sleep(0.05)
    since = datetime.now(UTC)
    time.sleep(0.05)

    # Second half: revoke, a refused redemption of a revoked grant, a service fetch, groups, ends.
    pending = bob.launch(f"{alice.name}/{s1}")
    alice.ok("DELETE", f"/secrets/{s1}/grants/user/{bob.name}")
    with pytest.raises(ClientError):
        redeemed(stack, pending)
    svc = admin.ok("POST", "/service-accounts", json={"name": unique("svc"), "kinds": ["generic"]})
    TOKENS.append(svc["token"])
    with Client(stack.url, svc["token"]) as client:
        assert client.fetch_secret(s2, on_behalf_of=alice.name, keeper_url=stack.keeper.url) == v2
    group = unique("grp")
    alice.ok("POST", "/groups", json={"name": group})
    alice.ok("PUT", f"/groups/{group}/members", json={"user": carol.name})  # an invitation
    carol.ok("POST", f"/invitations/{group}/accept")
    alice.ok("DELETE", f"/sessions/{launch['session']['id']}")
    alice.ok("DELETE", f"/tokens/{issued['id']}")
    return Workload(
        admin=admin,
        alice=alice,
        bob=bob,
        carol=carol,
        s1=s1,
        s2=s2,
        c1=c1,
        ids={
            s1: alice.ok("GET", f"/secrets/{s1}")["id"],
            s2: alice.ok("GET", f"/secrets/{s2}")["id"],
            c1: carol.ok("GET", f"/secrets/{c1}")["id"],
        },
        bob_session=launch["session"]["id"],
        refused_session=pending["session"]["id"],
        since=since,
        first_half={"secret.create", "secret.replace", "secret.share", "token.create"},
        second_half={
            "secret.unshare",
            "group.create",
            "group.invite",
            "group.invite.accept",
            "session.end",
            "token.revoke",
        },
    )


def verify_cli(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sealbox_cmd("audit", "verify", "--data-dir", str(data_dir)),
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_verify_passes_on_the_live_log(stack: Stack, work: Workload) -> None:
    out = verify_cli(stack.data_dir)
    assert out.returncode == 0, out.stderr
    count = int(re.search(r"ok: (\d+) records", out.stdout).group(1))  # type: ignore[union-attr]
    assert count >= 30
    # Every kind of state change and every use of a value was recorded.
    actions = {r["action"] for r in work.admin.audit()}
    assert actions >= work.first_half | work.second_half | {
        "user.create",
        "session.create",
        "session.redeem",
    }


# --- tampering ------------------------------------------------------------------------------------------


def snapshot(stack: Stack) -> sqlite3.Connection:
    """An in-memory copy of the live database, taken with the SQLite backup API."""
    memory = sqlite3.connect(":memory:")
    with closing(sqlite3.connect(stack.data_dir / "sealbox.db")) as live:
        live.backup(memory)
    return memory


@contextmanager
def audit_table(stack: Stack) -> Iterator[tuple[Connection, Checkpoint]]:
    """A connection on which the audit table may be changed at will, and the stack's head checkpoint.

    SQLite: an in-memory copy of the database. PostgreSQL: the live database itself; the caller's
    changes go into transactions that are rolled back.
    """
    point = settled(stack)
    if stack.database_url:
        engine = create_engine(stack.database_url, poolclass=NullPool)
    else:
        memory = snapshot(stack)
        engine = create_engine("sqlite://", creator=lambda: memory, poolclass=StaticPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.max(audit_events.c.id))).scalar_one() == point.record_id
            conn.rollback()
            yield conn, point
    finally:
        engine.dispose()


def _changed(old: Any, rng: random.Random, column: str) -> Any:
    """A different value of the same shape: one character of a text, +1 on a number, something for NULL."""
    if old is None:
        return 1 if column in ("version", "chain_version") else "x"
    if isinstance(old, datetime):  # PostgreSQL hands back a time: move it by a little
        return old + timedelta(microseconds=rng.choice((1, -1, 1000)))
    if isinstance(old, int):
        return old + rng.choice((1, -1, 1000))
    text = str(old)
    if column == "at":  # keep it a valid time: change the microseconds
        return text[:-1] + str((int(text[-1]) + rng.randint(1, 9)) % 10)
    pos = rng.randrange(len(text))
    alphabet = (
        "0123456789abcdef"
        if column in ("hash", "prev_hash", "key_id")
        else "abcdefghijklmnopqrstuvwxyz0123456789"
    )
    return text[:pos] + rng.choice([c for c in alphabet if c != text[pos]]) + text[pos + 1 :]


def tamper(db: Connection, rng: random.Random) -> tuple[str, int]:
    """Change one thing in the audit table; returns what was done and the first record that must fail."""
    ids = [r[0] for r in db.execute(text("SELECT id FROM audit_events ORDER BY id"))]
    kind = rng.choice(("edit", "edit", "delete", "swap", "move"))
    if kind == "edit":
        target = rng.choice(ids)
        column = rng.choice(COLUMNS)
        old = db.execute(text(f"SELECT {column} FROM audit_events WHERE id = :i"), {"i": target}).scalar()  # noqa: S608
        db.execute(
            text(f"UPDATE audit_events SET {column} = :v WHERE id = :i"),  # noqa: S608
            {"v": _changed(old, rng, column), "i": target},
        )
        expected, what = target, f"edit {column} of {target}"
    elif kind == "delete":
        index = rng.randrange(len(ids))
        db.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[index]})
        # The newest record has no successor: the head checkpoint names it.
        expected = ids[index + 1] if index + 1 < len(ids) else ids[-1]
        what = f"delete {ids[index]}"
    elif kind == "swap":
        a, b = sorted(rng.sample(ids, 2))
        cols = ", ".join(COLUMNS)
        row_a = db.execute(text(f"SELECT {cols} FROM audit_events WHERE id = :i"), {"i": a}).one()  # noqa: S608
        row_b = db.execute(text(f"SELECT {cols} FROM audit_events WHERE id = :i"), {"i": b}).one()  # noqa: S608
        sets = ", ".join(f"{c} = :{c}" for c in COLUMNS)
        db.execute(text(f"UPDATE audit_events SET {sets} WHERE id = :i"), {**row_b._asdict(), "i": a})  # noqa: S608
        db.execute(text(f"UPDATE audit_events SET {sets} WHERE id = :i"), {**row_a._asdict(), "i": b})  # noqa: S608
        expected, what = a, f"swap {a} and {b}"
    else:
        index = rng.randrange(len(ids) - 1)
        db.execute(text("UPDATE audit_events SET id = :n WHERE id = :i"), {"n": ids[-1] + 1, "i": ids[index]})
        expected, what = ids[index + 1], f"move {ids[index]} to the end"
    return what, expected


def first_bad(db: Connection, keys: ChainKeys, point: Checkpoint | None) -> int | None:
    """The first bad record by the server's own verifier (None: the chain is whole)."""
    result = AuditRepository(db).verify_chain(keys, checkpoint=point)
    return None if result.ok else result.first_bad_id


@pytest.fixture(params=["sqlite", "postgres"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    """A stack after the workload: SQLite (`stack`) or PostgreSQL (`pg_stack`)."""
    if request.param == "sqlite":
        request.getfixturevalue("work")
        return cast(Stack, request.getfixturevalue("stack"))
    request.getfixturevalue("pg_work")
    return cast(Stack, request.getfixturevalue("pg_stack"))


def test_1000_tamperings_are_caught_by_the_verifier(any_stack: Stack) -> None:
    """T21: edit, delete or reorder single records at random 1,000 times: all caught, at the right record."""
    rng = random.Random(SEED)
    keys = chain_keys(any_stack)
    missed = []
    with audit_table(any_stack) as (db, point):
        assert first_bad(db, keys, point) is None
        db.rollback()
        for _ in range(1000):
            what, expected = tamper(db, rng)
            found = first_bad(db, keys, point)
            db.rollback()
            if found != expected:
                missed.append((what, expected, found))
        assert first_bad(db, keys, point) is None  # every change was rolled back
    assert missed == []


def _copy_data_dir(stack: Stack, base: sqlite3.Connection, folder: Path) -> sqlite3.Connection:
    """A data dir with a copy of the database, the master key and the head checkpoint."""
    folder.mkdir(mode=0o700)
    for name in ("master.key", CHECKPOINT_NAME):
        shutil.copy2(stack.data_dir / name, folder / name)
    db = sqlite3.connect(folder / "sealbox.db")
    base.backup(db)
    return db


def test_50_tamperings_on_database_copies_are_caught_by_the_cli(
    stack: Stack, work: Workload, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    cases: list[tuple[Path, str, int]] = []
    settled(stack)
    with closing(snapshot(stack)) as base:
        for i in range(50):
            folder = tmp_path / f"copy{i}"
            with closing(_copy_data_dir(stack, base, folder)) as raw:
                engine = create_engine("sqlite://", creator=lambda raw=raw: raw, poolclass=StaticPool)
                with engine.connect() as conn:
                    what, expected = tamper(conn, rng)
                    conn.commit()
                engine.dispose()
            cases.append((folder, what, expected))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda case: verify_cli(case[0]), cases))
    for (_, what, expected), out in zip(cases, results, strict=True):
        assert out.returncode == 1, (what, out.stdout, out.stderr)
        found = BROKEN.search(out.stderr)
        assert found and int(found.group(1)) == expected, (what, out.stderr)
        assert "Traceback" not in out.stderr


def test_garbage_in_a_column_is_a_broken_chain_not_a_crash(
    stack: Stack, work: Workload, tmp_path: Path
) -> None:
    settled(stack)
    with closing(snapshot(stack)) as base, closing(_copy_data_dir(stack, base, tmp_path / "d")) as db:
        target = db.execute("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 3").fetchone()[0]
        db.execute("UPDATE audit_events SET version = 'seven' WHERE id = ?", (target,))
        db.commit()
    out = verify_cli(tmp_path / "d")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"broken at record {target}" in out.stderr


def _rows(db: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in db.execute(select(audit_events).order_by(audit_events.c.id))]


def _rewrite(db: Connection, rows: list[dict[str, Any]], sign: Callable[[str, dict[str, Any]], str]) -> None:
    """Recompute every link and hash from the first record on, as a writer of the database would."""
    prev = GENESIS
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = sign(prev, row)
        db.execute(
            text(
                "UPDATE audit_events SET actor_name = :a, prev_hash = :p, hash = :h, chain_version = :v,"
                " key_id = :k WHERE id = :i"
            ),
            {
                "a": row["actor_name"],
                "p": row["prev_hash"],
                "h": row["hash"],
                "v": row["chain_version"],
                "k": row["key_id"],
                "i": row["id"],
            },
        )


TAIL_AND_REWRITES = [
    "delete-newest",
    "delete-newest-5",
    "edit-newest-and-rehash",
    "rewrite-whole-chain-unkeyed",
    "rewrite-whole-chain-under-a-guessed-key",
]


@pytest.mark.parametrize("how", TAIL_AND_REWRITES)
def test_truncating_or_rewriting_the_chain_is_caught(any_stack: Stack, how: str) -> None:
    """What a plain hash chain missed: the tail removed, or every hash recomputed after an edit."""
    keys = chain_keys(any_stack)
    with audit_table(any_stack) as (db, point):
        rows = _rows(db)
        ids = [r["id"] for r in rows]
        if how.startswith("delete-newest"):
            count = 5 if how.endswith("-5") else 1
            for i in ids[-count:]:
                db.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": i})
            expected = ids[-1]
        elif how == "edit-newest-and-rehash":
            # All the inputs of a plain hash are in the row: edit who did it, and recompute.
            last = rows[-1]
            last["actor_name"] = "somebody-else"
            db.execute(
                text("UPDATE audit_events SET actor_name = :a, hash = :h WHERE id = :i"),
                {"a": last["actor_name"], "h": record_hash(last["prev_hash"], last), "i": last["id"]},
            )
            expected = ids[-1]
        elif how == "rewrite-whole-chain-unkeyed":
            # Pass the whole log off as records from before the chain was keyed: every hash recomputes.
            for row in rows:
                row.update(chain_version=1, key_id=None)
            rows[len(rows) // 2]["actor_name"] = "somebody-else"
            _rewrite(db, rows, record_hash)
            expected = point.record_id  # every record checks out; only the anchor disagrees
        else:
            guessed = ChainKeys(keys=((keys.current_id, os.urandom(32)),))
            rows[len(rows) // 2]["actor_name"] = "somebody-else"
            _rewrite(db, rows, lambda prev, row: record_tag(guessed, prev, row))
            expected = ids[0]
        assert first_bad(db, keys, point) == expected
        db.rollback()
        assert first_bad(db, keys, point) is None


def test_verify_cli_reports_the_checkpoint(stack: Stack, work: Workload, tmp_path: Path) -> None:
    """The CLI names the anchor it checked; without the checkpoint file it says what it cannot see."""
    settled(stack)
    with closing(snapshot(stack)) as base:
        _copy_data_dir(stack, base, tmp_path / "whole").close()
        with closing(_copy_data_dir(stack, base, tmp_path / "cut")) as db:
            db.execute("DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)")
            db.commit()
    whole = verify_cli(tmp_path / "whole")
    assert whole.returncode == 0 and "reaches the checkpoint" in whole.stdout, whole.stderr
    cut = verify_cli(tmp_path / "cut")
    assert cut.returncode == 1 and "records removed or rewritten" in cut.stderr, cut.stdout
    (tmp_path / "cut" / CHECKPOINT_NAME).unlink()
    blind = verify_cli(tmp_path / "cut")
    assert blind.returncode == 0 and "a removed tail cannot be detected" in blind.stdout, blind.stderr


def test_records_from_before_the_keyed_chain_verify_and_are_covered(
    database_url: str, tmp_path: Path
) -> None:
    """Migration 0007: unkeyed records keep their hashes; the first keyed record's tag covers them."""
    cfg = alembic_config(database_url)
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
    prev = GENESIS
    with engine.begin() as conn:
        for i in range(5):
            at = datetime(2026, 1, 1, 12, 0, i, tzinfo=UTC)
            row: dict[str, Any] = {
                "at": at,
                "actor_id": None,
                "actor_name": "old",
                "token_id": None,
                "action": "secret.create",
                "outcome": "success",
                "secret_id": None,
                "secret_name": f"legacy{i}",
                "version": 1,
                "client_addr": None,
                "detail": None,
                "on_behalf_of": None,
                "session_id": None,
            }
            row["prev_hash"] = prev
            row["hash"] = prev = record_hash(prev, row)
            conn.execute(
                text(
                    "INSERT INTO audit_events"
                    " (at, actor_name, action, outcome, secret_name, version, prev_hash, hash) VALUES"
                    " (:at, :actor_name, :action, :outcome, :secret_name, :version, :prev_hash, :hash)"
                ),
                {**row, "at": at.replace(tzinfo=None)},
            )
    engine.dispose()
    master = Keyring.generate()
    db = Database.open(database_url)  # migrates to head
    try:
        install_audit_chain(db, master, data_dir=tmp_path)
        for i in range(3):
            with db.writing() as uow:
                audit_service.record(
                    uow, None, "secret.replace", now=datetime.now(UTC), secret_name=f"new{i}"
                )
        assert flush_checkpoints(db.engine)
        result = verify_chain(db, master, data_dir=tmp_path)
        assert (result.ok, result.records, result.legacy) == (True, 8, 5)
        assert result.checkpoint is not None and result.checkpoint.record_id == 8
        keys = ChainKeys.derive(master)
        point = read_checkpoint(tmp_path / CHECKPOINT_NAME, keys)
        with db.engine.connect() as conn:
            rows = _rows(conn)
            # An unkeyed record rewritten with every unkeyed hash recomputed: the keyed record after
            # them links to the old head, and its tag covers that link.
            rows[1]["actor_name"] = "somebody-else"
            prev = rows[0]["hash"]
            for row in rows[1:5]:
                row["prev_hash"] = prev
                row["hash"] = prev = record_hash(prev, row)
                conn.execute(
                    text("UPDATE audit_events SET actor_name = :a, prev_hash = :p, hash = :h WHERE id = :i"),
                    {"a": row["actor_name"], "p": row["prev_hash"], "h": row["hash"], "i": row["id"]},
                )
            assert first_bad(conn, keys, point) == 6
            conn.rollback()
            # A keyed record passed off as an unkeyed one.
            conn.execute(text("UPDATE audit_events SET chain_version = 1, key_id = NULL WHERE id = 7"))
            assert first_bad(conn, keys, point) == 7
            conn.rollback()
    finally:
        db.dispose()


def test_the_checkpoint_file_only_moves_forward_and_refuses_a_forged_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forward only, and only along the chain it names: `chain` stands for the database's records."""
    keys = ChainKeys.derive(Keyring.generate())
    path = tmp_path / CHECKPOINT_NAME
    chain = {i: c * 64 for i, c in {5: "b", 7: "a", 8: "c", 9: "d", 10: "e", 11: "f"}.items()}
    file = CheckpointFile(path, keys, lambda ids: {i: chain[i] for i in ids if i in chain})
    file.advance(7, "a" * 64)
    file.advance(5, "b" * 64)  # an older head, from a slower worker: ignored
    assert read_checkpoint(path, keys) == Checkpoint(record_id=7, head="a" * 64, key_id=keys.current_id)
    good = path.read_text()
    forged = json.loads(good) | {"id": 3}
    path.write_text(json.dumps(forged))
    with pytest.raises(ConfigError, match="does not verify"):
        read_checkpoint(path, keys)
    with pytest.raises(ConfigError, match="does not verify"):
        read_checkpoint(path, ChainKeys.derive(Keyring.generate()))  # another master key
    file.advance(8, "c" * 64)  # a writer never replaces what it cannot read: that is evidence
    assert json.loads(path.read_text()) == forged
    path.write_text(good)
    # The chain lost record 7 (a restored backup), then grew past it: the checkpoint stays.
    chain[7] = "x" * 64
    file.advance(8, "c" * 64)
    assert read_checkpoint(path, keys) == Checkpoint(record_id=7, head="a" * 64, key_id=keys.current_id)
    chain[7] = "a" * 64
    file.advance(8, "c" * 64)
    assert read_checkpoint(path, keys) == Checkpoint(record_id=8, head="c" * 64, key_id=keys.current_id)
    # The writer thread: heads handed over are written, and an idle thread ends.
    monkeypatch.setattr(audit_anchor, "IDLE_EXIT_S", 0.2)
    file.submit(9, "d" * 64)
    file.submit(10, "e" * 64)
    assert file.flush()
    assert read_checkpoint(path, keys) == Checkpoint(record_id=10, head="e" * 64, key_id=keys.current_id)
    for _ in range(100):
        if file._thread is None:
            break
        time.sleep(0.05)
    assert file._thread is None
    file.submit(11, "f" * 64)
    assert file.flush() and read_checkpoint(path, keys).record_id == 11  # type: ignore[union-attr]


def test_writers_on_several_replicas_keep_one_chain_and_forward_only_checkpoints(
    database_url: str, tmp_path: Path
) -> None:
    """Three database handles, as two workers on host A (one data dir) and one replica on host B (its
    own), append from six threads at once: one chain, no gap, and every checkpoint file names a record
    of it with its tag. On SQLite the handles share one file, as workers on one machine do."""
    master = Keyring.generate()
    host_a, host_b = tmp_path / "a", tmp_path / "b"
    host_a.mkdir()
    host_b.mkdir()
    handles = [Database.open(database_url) for _ in range(3)]
    try:
        for db, data_dir in zip(handles, (host_a, host_a, host_b), strict=True):
            install_audit_chain(db, master, data_dir=data_dir)

        def append(db: Database, label: str) -> None:
            for i in range(20):
                with db.writing() as uow:
                    audit_service.record(
                        uow, None, "secret.replace", now=datetime.now(UTC), detail=f"{label}-{i}"
                    )

        with ThreadPoolExecutor(6) as pool:
            list(
                pool.map(
                    lambda job: append(*job), [(db, f"{n}{t}") for n, db in enumerate(handles) for t in "xy"]
                )
            )
        for db in handles:
            assert flush_checkpoints(db.engine)
        keys = ChainKeys.derive(master)
        with handles[0].engine.connect() as conn:
            ids = [r["id"] for r in _rows(conn)]
            assert len(ids) == 120 and ids == list(range(ids[0], ids[0] + 120))
            for data_dir in (host_a, host_b):
                point = read_checkpoint(data_dir / CHECKPOINT_NAME, keys)
                assert point is not None and point.record_id in ids
                assert first_bad(conn, keys, point) is None
            # Host A's file holds the newest head either of its two workers committed.
            assert read_checkpoint(host_a / CHECKPOINT_NAME, keys).record_id == max(  # type: ignore[union-attr]
                r["id"] for r in _rows(conn) if r["detail"].startswith(("0", "1"))
            )
    finally:
        for db in handles:
            db.dispose()


def test_two_server_processes_with_two_workers_on_postgresql_keep_one_anchored_chain(
    pg_stack: Stack, pg_work: Workload
) -> None:
    """Real processes: the stack's server and a replica running two workers, on one data dir and one
    PostgreSQL database, write at once; `sealbox audit verify` then finds one chain reaching the head
    the three of them anchored."""
    value = make_canary("audit-replicas")
    VALUES.append(value)
    with replica(pg_stack, SEALBOX_WORKERS="2") as second:

        def create(i: int) -> int:
            url = pg_stack.url if i % 3 == 0 else second
            with httpx.Client(
                base_url=url, timeout=60, headers={"Authorization": f"Bearer {pg_stack.admin_token}"}
            ) as api:
                return api.post(f"{API}/secrets", json={"name": unique(f"r{i}"), "value": value}).status_code

        with ThreadPoolExecutor(6) as pool:
            assert set(pool.map(create, range(60))) == {201}
        # Settle while the replica runs: its last head may still be on its way to the file.
        point = settled(pg_stack)
    out = subprocess.run(
        sealbox_cmd("audit", "verify", "--data-dir", str(pg_stack.data_dir)),
        env=pg_stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"reaches the checkpoint at record {point.record_id}" in out.stdout


# --- the API and the CLI --------------------------------------------------------------------------------


def test_filter_by_secret(work: Workload) -> None:
    rows = work.alice.audit(secret=work.s1)
    assert rows and {r["secret_id"] for r in rows} == {work.ids[work.s1]}
    assert {r["action"] for r in rows} >= {
        "secret.create",
        "secret.replace",
        "secret.share",
        "secret.unshare",
        "session.create",
        "session.redeem",
    }
    assert {r["version"] for r in rows if r["action"] == "session.redeem"} == {2}
    # Bob still may use s2: by owner/name he sees his own acts on it, not alice's.
    bobs = work.bob.audit(secret=f"{work.alice.name}/{work.s2}")
    assert all(r["actor"] == work.bob.name or r["on_behalf_of"] == work.bob.name for r in bobs)
    # For s1 his grant is gone, and the filter answers like a secret that does not exist.
    gone = work.bob.call("GET", "/audit", params={"secret": f"{work.alice.name}/{work.s1}"})
    missing = work.bob.call("GET", "/audit", params={"secret": f"{work.alice.name}/{unique('no')}"})
    assert gone.status_code == 404 and gone.json() == missing.json()
    assert work.carol.call("GET", "/audit", params={"secret": f"{work.alice.name}/{work.s2}"}).json() == (
        missing.json()
    )


def test_filter_by_session(work: Workload) -> None:
    rows = work.admin.audit(session=work.bob_session)
    assert rows and {r["session_id"] for r in rows} == {work.bob_session}
    actions = [r["action"] for r in rows]
    assert {"session.create", "session.redeem", "session.end"} <= set(actions)
    assert work.bob.audit(session=work.bob_session)  # his own session
    assert work.carol.audit(session=work.bob_session) == []


def test_refused_redemptions_are_found_by_session(work: Workload) -> None:
    """The spent credential and the revoked grant: both refusals name the session they were for."""
    for session in (work.bob_session, work.refused_session):
        outcomes = {(r["action"], r["outcome"]) for r in work.admin.audit(session=session)}
        assert ("session.redeem", "denied") in outcomes or ("session.redeem", "failed") in outcomes, session


def test_filter_by_time(work: Workload) -> None:
    rows = work.admin.audit(since=work.since.isoformat())
    assert rows
    assert all(datetime.fromisoformat(r["at"]) >= work.since for r in rows)
    actions = {r["action"] for r in rows}
    assert work.second_half <= actions
    assert not {"secret.replace", "secret.share", "secret.create"} & actions
    everything = work.admin.audit()
    assert len(everything) > len(rows)


def test_owners_see_their_secrets_and_own_acts_admins_see_all(work: Workload) -> None:
    everything = work.admin.audit()
    by_id = {r["id"]: r for r in everything}
    ids = work.ids
    for who, own in (
        (work.alice, {ids[work.s1], ids[work.s2]}),
        (work.bob, set()),
        (work.carol, {ids[work.c1]}),
    ):
        seen = who.audit()
        assert seen, who.name
        for r in seen:
            assert r == by_id[r["id"]]  # the same record as the admin sees
            mine = r["secret_id"] in own or who.name in (r["actor"], r["on_behalf_of"])
            assert mine, (who.name, r)
        # ...and all of those: every record on their secrets, whoever acted.
        expected = {r["id"] for r in everything if r["secret_id"] in own or r["actor"] == who.name}
        assert expected <= {r["id"] for r in seen}, who.name
    # Bob's launch of alice's secret is in alice's view; carol's secret is not.
    alice_view = work.alice.audit()
    assert any(r["actor"] == work.bob.name and r["secret_id"] == ids[work.s1] for r in alice_view)
    assert not any(r["secret_id"] == ids[work.c1] for r in alice_view)
    # Admins see what nobody else does: anonymous refusals and everybody's secrets.
    assert any(r["actor"] is None for r in everything)
    assert set(ids.values()) <= {r["secret_id"] for r in everything}


def test_pages_walk_the_whole_log_once(work: Workload) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = work.admin.ok("GET", "/audit", params=params)
        seen.extend(r["id"] for r in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    assert set(seen) >= {r["id"] for r in work.admin.audit()}


def test_no_value_or_token_in_audit_rows_or_cli_json(stack: Stack, work: Workload, tmp_path: Path) -> None:
    """T8: scan the raw audit table and `sealbox audit --json` for every canary and every token issued."""
    # sbx_<id>_<secret>: the secret part may itself contain "_", so split from the left.
    secrets_of_tokens = [t.split("_", 2)[-1] for t in TOKENS] + TOKENS
    with closing(snapshot(stack)) as db:
        raw = "\n".join(repr(row) for row in db.execute("SELECT * FROM audit_events")).encode()
    assert len(raw) > 1000
    assert find_in_bytes(raw, VALUES) == []
    assert find_in_bytes(raw, secrets_of_tokens) == []

    def cli(actor: Actor, *args: str) -> str:
        config = tmp_path / actor.name / "config.toml"
        env = base_env(SEALBOX_CONFIG=str(config))
        if not config.exists():
            login = subprocess.run(
                sealbox_cmd("login", stack.url, "--token", "-"),
                input=actor.token + "\n",
                text=True,
                env=env,
                capture_output=True,
                check=False,
            )
            assert login.returncode == 0, login.stderr
        out = subprocess.run(
            sealbox_cmd(*args), env=env, capture_output=True, text=True, check=False, timeout=120
        )
        assert out.returncode == 0, out.stderr
        return out.stdout + out.stderr

    # Denied requests are recorded by a background writer (server/denials.py): one may land during the
    # call, so the CLI's count lies between the API's counts before and after it.
    before = len(work.admin.audit())
    outputs = {"admin --json": cli(work.admin, "audit", "--json", "--limit", "1000")}
    assert before <= len(json.loads(outputs["admin --json"])) <= len(work.admin.audit())
    outputs["alice --json"] = cli(work.alice, "audit", "--json")
    outputs["alice --secret"] = cli(work.alice, "audit", "--secret", work.s1, "--since", "1h")
    alices = {work.ids[work.s1], work.ids[work.s2]}
    assert {r["secret_id"] for r in json.loads(outputs["alice --json"]) if r["secret_id"]} <= alices
    for label, printed in outputs.items():
        assert find_in_bytes(printed.encode(), VALUES) == [], label
        assert find_in_bytes(printed.encode(), secrets_of_tokens) == [], label
    assert work.s1 in outputs["alice --secret"]
