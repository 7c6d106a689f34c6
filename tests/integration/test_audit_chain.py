"""The audit trail (issue 5, "The audit trail"; TEST-PLAN T8 and the tampering part of T21).

After a workload on real server and keeper processes (secrets written, replaced, shared, launched,
redeemed, refused, revoked, fetched by a service, tokens issued and revoked):

- `sealbox audit verify` passes on the live data dir;
- every single-record tampering (edit any column, delete, swap two, move one to the end) of a copy of
  the database is caught, at the right record: 50 through the CLI on copies made with the SQLite
  backup API, and 1,000 more through the same verifier in-process;
- `GET /api/v1/audit` filters by secret, session and time; owners see their secrets' records and
  their own acts, admins all; pages walk the whole log once;
- no value, token or launch credential appears in any audit row or in `sealbox audit --json` (T8).
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import StaticPool

from sealbox import Client
from sealbox.errors import ClientError
from sealbox.launcher.redeem import redeem
from sealbox.store.audit import AuditRepository, record_hash
from sealbox.store.tables import audit_events
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import Stack, base_env, sealbox_cmd

API = "/api/v1"
COLUMNS = (
    "at",
    "actor_id",
    "actor_name",
    "token_id",
    "action",
    "outcome",
    "secret_id",
    "secret_name",
    "version",
    "client_addr",
    "detail",
    "on_behalf_of",
    "session_id",
    "prev_hash",
    "hash",
)
SEED = 20_250_505  # change it to explore; every failure message names the tampering
BROKEN = re.compile(r"broken at record (\d+)")

VALUES: list[str] = []  # stored values: never in the audit trail
TOKENS: list[str] = []  # every token and launch credential issued: only ids may appear


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
        TOKENS.append(launch["launch_credential"])
        return launch

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.ok("GET", "/audit", params={"limit": 1000, **params})["items"]
        return items


def redeemed(stack: Stack, launch: dict[str, Any]) -> list[bytes]:
    with httpx.Client(base_url=stack.url, timeout=30) as anonymous:
        delivery = redeem(
            anonymous,
            session_id=launch["session"]["id"],
            credential=launch["launch_credential"],
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
    alice.ok("PUT", f"/groups/{group}/members", json={"user": carol.name})
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
        second_half={"secret.unshare", "group.create", "group.member.set", "session.end", "token.revoke"},
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


def _changed(old: Any, rng: random.Random, column: str) -> Any:
    """A different value of the same shape: one character of a text, +1 on a number, something for NULL."""
    if old is None:
        return 1 if column == "version" else "x"
    if isinstance(old, int):
        return old + rng.choice((1, -1, 1000))
    text = str(old)
    if column == "at":  # keep it a valid time: change the microseconds
        return text[:-1] + str((int(text[-1]) + rng.randint(1, 9)) % 10)
    pos = rng.randrange(len(text))
    alphabet = (
        "0123456789abcdef" if column in ("hash", "prev_hash") else "abcdefghijklmnopqrstuvwxyz0123456789"
    )
    return text[:pos] + rng.choice([c for c in alphabet if c != text[pos]]) + text[pos + 1 :]


def tamper(db: sqlite3.Connection, rng: random.Random) -> tuple[str, int]:
    """Change one thing in the audit table; returns what was done and the first record that must fail."""
    ids = [r[0] for r in db.execute("SELECT id FROM audit_events ORDER BY id")]
    kind = rng.choice(("edit", "edit", "delete", "swap", "move"))
    if kind == "edit":
        target = rng.choice(ids)
        column = rng.choice(COLUMNS)
        old = db.execute(f"SELECT {column} FROM audit_events WHERE id = ?", (target,)).fetchone()[0]  # noqa: S608
        db.execute(f"UPDATE audit_events SET {column} = ? WHERE id = ?", (_changed(old, rng, column), target))  # noqa: S608
        expected, what = target, f"edit {column} of {target}"
    elif kind == "delete":
        index = rng.randrange(len(ids) - 1)  # the newest record has no successor: see the xfail below
        db.execute("DELETE FROM audit_events WHERE id = ?", (ids[index],))
        expected, what = ids[index + 1], f"delete {ids[index]}"
    elif kind == "swap":
        a, b = sorted(rng.sample(ids, 2))
        cols = ", ".join(COLUMNS)
        row_a = db.execute(f"SELECT {cols} FROM audit_events WHERE id = ?", (a,)).fetchone()  # noqa: S608
        row_b = db.execute(f"SELECT {cols} FROM audit_events WHERE id = ?", (b,)).fetchone()  # noqa: S608
        sets = ", ".join(f"{c} = ?" for c in COLUMNS)
        db.execute(f"UPDATE audit_events SET {sets} WHERE id = ?", (*row_b, a))  # noqa: S608
        db.execute(f"UPDATE audit_events SET {sets} WHERE id = ?", (*row_a, b))  # noqa: S608
        expected, what = a, f"swap {a} and {b}"
    else:
        index = rng.randrange(len(ids) - 1)
        db.execute("UPDATE audit_events SET id = ? WHERE id = ?", (ids[-1] + 1, ids[index]))
        expected, what = ids[index + 1], f"move {ids[index]} to the end"
    db.commit()
    return what, expected


def verify_in_process(db: sqlite3.Connection) -> int | None:
    """The first bad record by the server's own verifier, on this connection (None: the chain is whole)."""
    engine = create_engine("sqlite://", creator=lambda: db, poolclass=StaticPool)
    try:
        with engine.connect() as conn:
            result = AuditRepository(conn).verify_chain()
    finally:
        engine.dispose()
    return None if result.ok else result.first_bad_id


def copy_of(base: sqlite3.Connection) -> sqlite3.Connection:
    work = sqlite3.connect(":memory:")
    base.backup(work)
    return work


def test_1000_tamperings_are_caught_by_the_verifier(stack: Stack, work: Workload) -> None:
    rng = random.Random(SEED)
    with closing(snapshot(stack)) as base:
        assert verify_in_process(copy_of(base)) is None
        missed = []
        for _ in range(1000):
            with closing(copy_of(base)) as db:
                what, expected = tamper(db, rng)
                found = verify_in_process(db)
            if found != expected:
                missed.append((what, expected, found))
    assert missed == []


def test_50_tamperings_on_database_copies_are_caught_by_the_cli(
    stack: Stack, work: Workload, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    cases: list[tuple[Path, str, int]] = []
    with closing(snapshot(stack)) as base:
        for i in range(50):
            folder = tmp_path / f"copy{i}"
            folder.mkdir()
            with closing(sqlite3.connect(folder / "sealbox.db")) as db:
                base.backup(db)  # only the database: verify needs no key
                what, expected = tamper(db, rng)
            cases.append((folder, what, expected))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda case: verify_cli(case[0]), cases))
    for (_, what, expected), out in zip(cases, results, strict=True):
        assert out.returncode == 1, (what, out.stdout, out.stderr)
        found = BROKEN.search(out.stderr)
        assert found and int(found.group(1)) == expected, (what, out.stderr)
        assert "Traceback" not in out.stderr


def test_garbage_in_a_column_is_a_broken_chain_not_a_crash(stack: Stack, tmp_path: Path) -> None:
    with closing(snapshot(stack)) as base, closing(sqlite3.connect(tmp_path / "sealbox.db")) as db:
        base.backup(db)
        target = db.execute("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 3").fetchone()[0]
        db.execute("UPDATE audit_events SET version = 'seven' WHERE id = ?", (target,))
        db.commit()
    out = verify_cli(tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"broken at record {target}" in out.stderr


@pytest.mark.xfail(
    strict=True,
    reason="BUG: the chain has no anchor outside the table, so removing the newest records "
    "(or rewriting the tail with recomputed hashes) leaves a valid chain",
)
@pytest.mark.parametrize("how", ["delete-newest", "edit-and-rehash"])
def test_truncating_or_rehashing_the_tail_is_caught(stack: Stack, how: str) -> None:
    with closing(snapshot(stack)) as db:
        last = db.execute("SELECT max(id) FROM audit_events").fetchone()[0]
        if how == "delete-newest":
            db.execute("DELETE FROM audit_events WHERE id = ?", (last,))
        else:
            # A reader of the database rewrites the newest record (who did it) and recomputes its hash:
            # all the inputs of the hash are in the row itself.
            engine = create_engine("sqlite://", creator=lambda: db, poolclass=StaticPool)
            with engine.connect() as conn:
                row = dict(conn.execute(select(audit_events).where(audit_events.c.id == last)).one()._mapping)
            engine.dispose()
            row["actor_name"] = "somebody-else"
            db.execute(
                "UPDATE audit_events SET actor_name = ?, hash = ? WHERE id = ?",
                (row["actor_name"], record_hash(row["prev_hash"], row), last),
            )
        db.commit()
        assert verify_in_process(db) is not None


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

    outputs = {
        "admin --json": cli(work.admin, "audit", "--json", "--limit", "1000"),
        "alice --json": cli(work.alice, "audit", "--json"),
        "alice --secret": cli(work.alice, "audit", "--secret", work.s1, "--since", "1h"),
    }
    assert len(json.loads(outputs["admin --json"])) == len(work.admin.audit())
    alices = {work.ids[work.s1], work.ids[work.s2]}
    assert {r["secret_id"] for r in json.loads(outputs["alice --json"]) if r["secret_id"]} <= alices
    for label, text in outputs.items():
        assert find_in_bytes(text.encode(), VALUES) == [], label
        assert find_in_bytes(text.encode(), secrets_of_tokens) == [], label
    assert work.s1 in outputs["alice --secret"]
