"""The usage graph (issue 18), against real server and keeper processes on SQLite and PostgreSQL.

For a secret: which sessions received which version and when, who it is shared with and who used it
through which share, when it was last used; the stale secrets and the shares nobody used; a delete of a
secret live sessions hold refused (409, naming them) unless forced, and a replace that names them. Usage
follows the access rule: a `use` grantee sees only their own sessions' uses, and someone without access
gets the same 404 as for a secret that does not exist. Every answer is scanned for every value stored.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from sealbox.store.tables import secrets
from tests.integration.test_sharing import VALUES, Person, joined, named_alike, new_person, unique
from tests.support.canaries import find_in_bytes
from tests.support.opening import connect, sqlite_url
from tests.support.processes import Stack, base_env, sealbox_cmd


@dataclass
class World:
    stack: Stack
    alice: Person  # owns
    bob: Person  # use
    dave: Person  # manage
    erin: Person  # through a group, at use
    frank: Person  # no access at all
    name: str
    group: str
    sessions: dict[str, str]  # label -> session id


@pytest.fixture(params=["stack", "pg_stack"], scope="module")
def any_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    stack: Stack = request.getfixturevalue(request.param)
    yield stack
    assert find_in_bytes(stack.logs(), VALUES) == []


def _value(canary: Callable[[str], str], label: str) -> str:
    v = canary(label)
    VALUES.append(v)
    return v


@pytest.fixture
def world(any_stack: Stack, canary: Callable[[str], str]) -> World:
    """alice's secret, shared with bob (use), dave (manage) and a group with erin (use); bob's first
    session received version 1, erin's too; then alice replaced it and bob's second session got version 2."""
    alice, bob, dave, erin, frank = (
        new_person(any_stack, n) for n in ("alice", "bob", "dave", "erin", "frank")
    )
    name, group = unique("db"), unique("team")
    alice.add(name, _value(canary, "v1"))
    assert alice.collection("POST", "/groups", name=group).status_code == 201
    joined(alice, group, erin)
    alice.share(name, "use", user=bob.name)
    alice.share(name, "manage", user=dave.name)
    alice.share(name, "use", group=group)
    ref = f"{alice.name}/{name}"
    sessions = {}
    for label, who in (("bob1", bob), ("erin", erin)):
        launch = who.launched(ref)
        who.redeem(launch)
        sessions[label] = launch["session"]["id"]
    replaced = alice.call("PUT", f"/secrets/{name}/value", json={"value": _value(canary, "v2")})
    assert replaced.status_code == 200, replaced.text
    # The replace names the live sessions that still hold version 1.
    assert {s["id"] for s in replaced.json()["sessions"]} == set(sessions.values())
    launch = bob.launched(ref)
    bob.redeem(launch)
    sessions["bob2"] = launch["session"]["id"]
    return World(any_stack, alice, bob, dave, erin, frank, name, group, sessions)


def usage(person: Person, w: World, **params: Any) -> Any:
    if person is not w.alice:
        params["owner"] = w.alice.name
    return person.call("GET", f"/secrets/{w.name}/usage", params=params)


def test_the_owner_sees_every_session_version_and_share(world: World) -> None:
    w = world
    for who in (w.alice, w.dave):  # the owner and a `manage` grantee see the same, complete graph
        resp = usage(who, w)
        assert resp.status_code == 200, resp.text
        u = resp.json()
        assert u["complete"] is True and u["current_version"] == 2
        seen = {(s["session_id"], s["user"], s["version"], s["deliveries"]) for s in u["sessions"]}
        assert seen == {
            (w.sessions["bob1"], w.bob.name, 1, 1),
            (w.sessions["erin"], w.erin.name, 1, 1),
            (w.sessions["bob2"], w.bob.name, 2, 1),
        }
        # Newest use first; each live session holds the version it last received.
        assert u["sessions"][0]["session_id"] == w.sessions["bob2"]
        held = {s["session_id"]: (s["state"], s["holds_version"]) for s in u["sessions"]}
        assert held[w.sessions["bob1"]] == ("active", 1) and held[w.sessions["bob2"]] == ("active", 2)
        assert set(u["live_sessions"]) == set(w.sessions.values())
        assert {x["user"]: x["deliveries"] for x in u["users"]} == {w.bob.name: 2, w.erin.name: 1}
        assert u["deliveries"] == 3 and u["last_used_at"] == u["sessions"][0]["last_used_at"]
        shares = {(g["grantee_type"], g["grantee"]): [x["user"] for x in g["used_by"]] for g in u["shares"]}
        assert shares == {
            ("user", w.bob.name): [w.bob.name],
            ("user", w.dave.name): [],
            ("group", w.group): [w.erin.name],
        }
        never = next(g for g in u["shares"] if g["grantee"] == w.dave.name)
        assert never["last_used_at"] is None


def test_a_use_grantee_sees_only_their_own_uses(world: World) -> None:
    w = world
    u = usage(w.bob, w).json()
    assert u["complete"] is False and u["access"] == "use"
    assert {s["session_id"] for s in u["sessions"]} == {w.sessions["bob1"], w.sessions["bob2"]}
    assert {x["user"] for x in u["users"]} == {w.bob.name}
    assert [(g["grantee"], len(g["used_by"])) for g in u["shares"]] == [(w.bob.name, 1)]
    assert set(u["live_sessions"]) == {w.sessions["bob1"], w.sessions["bob2"]}
    assert w.erin.name not in str(u) and w.dave.name not in str(u)
    # Through the group: erin sees her share and her session, nothing of bob's.
    e = usage(w.erin, w).json()
    assert [s["session_id"] for s in e["sessions"]] == [w.sessions["erin"]]
    assert [(g["grantee_type"], g["grantee"]) for g in e["shares"]] == [("group", w.group)]
    assert w.bob.name not in str(e)


def test_no_access_is_the_same_404_as_no_such_secret(world: World) -> None:
    w = world
    theirs = usage(w.frank, w)
    missing = w.frank.call("GET", f"/secrets/{unique('none')}/usage", params={"owner": w.alice.name})
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "not_found"
    assert named_alike(theirs, missing, w.name, missing.request.url.path.split("/")[-2])
    # Nothing of the secret's usage in the answer: no session id, no user name.
    assert not any(sid in theirs.text for sid in w.sessions.values()) and w.bob.name not in theirs.text


def test_rm_of_a_secret_in_use_needs_force(world: World) -> None:
    w = world
    refused = w.dave.call("DELETE", f"/secrets/{w.name}", params={"owner": w.alice.name})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "secret_in_use"
    assert all(sid in body["message"] for sid in w.sessions.values()) and "force" in body["message"]
    assert w.alice.call("GET", f"/secrets/{w.name}").status_code == 200  # still there
    purged = w.alice.call("DELETE", f"/secrets/{w.name}", params={"purge": "true"})
    assert purged.status_code == 409 and purged.json()["code"] == "secret_in_use"
    forced = w.dave.call("DELETE", f"/secrets/{w.name}", params={"owner": w.alice.name, "force": "true"})
    assert forced.status_code == 204, forced.text
    with w.stack.client() as admin:
        records = admin.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    [deleted] = [
        r for r in records if r["action"] == "secret.delete" and r["secret"] == f"{w.alice.name}/{w.name}"
    ]
    assert deleted["actor"] == w.dave.name and deleted["detail"].endswith(
        " forced: held by 3 live session(s)"
    )
    # Once no live session holds one, no force is needed.
    other = unique("free")
    w.alice.add(other, "not-held-value-usage")
    VALUES.append("not-held-value-usage")
    assert w.alice.call("DELETE", f"/secrets/{other}").status_code == 204


def _backdate(stack: Stack, secret_id: str, days: int) -> None:
    """A secret made `days` ago: its creation time moved back in the database (no audit record moves)."""
    url = stack.database_url or sqlite_url(stack.data_dir / "sealbox.db")
    with connect(url) as conn:
        at = datetime.now(UTC) - timedelta(days=days)
        conn.execute(update(secrets).where(secrets.c.id == secret_id).values(created_at=at))


def test_stale_secrets_and_shares_never_used(world: World) -> None:
    w = world
    old_unused = w.alice.add(unique("old"), "stale-value-usage-1")
    new_unused = w.alice.add(unique("new"), "stale-value-usage-2")
    VALUES.extend(["stale-value-usage-1", "stale-value-usage-2"])
    used = w.alice.call("GET", f"/secrets/{w.name}").json()
    for s in (old_unused, used):
        _backdate(w.stack, s["id"], 200)
    resp = w.alice.call("GET", "/stale-secrets", params={"days": 90})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    stale = {s["name"]: s["last_used_at"] for s in report["secrets"]}
    assert old_unused["name"] in stale and stale[old_unused["name"]] is None
    assert new_unused["name"] not in stale  # younger than 90 days
    assert w.name not in stale  # used today
    unused = {(g["ref"], g["grantee"]) for g in report["unused_shares"]}
    assert (w.name, w.dave.name) in unused
    assert (w.name, w.bob.name) not in unused and (w.name, w.group) not in unused
    # dave sees the secrets he manages, not alice's others; bob (use only) has nothing to clean up.
    mine = {s["ref"] for s in w.dave.call("GET", "/stale-secrets").json()["secrets"]}
    assert f"{w.alice.name}/{old_unused['name']}" not in mine  # not shared with dave
    assert w.bob.call("GET", "/stale-secrets").json()["unused_shares"] == []
    assert w.alice.call("GET", "/stale-secrets", params={"days": 0}).status_code == 422


def test_cli_usage_stale_and_forced_rm(world: World, tmp_path: Any) -> None:
    w = world
    config = tmp_path / "config.toml"
    login = subprocess.run(
        sealbox_cmd("login", w.stack.url, "--token", "-"),
        input=w.alice.token.encode(),
        capture_output=True,
        env=base_env(SEALBOX_CONFIG=str(config)),
        timeout=120,
        check=False,
    )
    assert login.returncode == 0, login.stderr

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            sealbox_cmd(*args),
            capture_output=True,
            text=True,
            env=base_env(SEALBOX_CONFIG=str(config)),
            timeout=120,
            check=False,
        )

    shown = cli("secret", "usage", w.name)
    assert shown.returncode == 0, shown.stderr
    assert all(sid in shown.stdout for sid in w.sessions.values())
    assert f"user {w.bob.name}" in shown.stdout and f"group {w.group}" in shown.stdout
    stale = cli("secret", "ls", "--stale", "90d")
    assert stale.returncode == 0, stale.stderr
    assert "shares never used" in stale.stdout and w.dave.name in stale.stdout
    assert cli("secret", "ls", "--stale", "soon").returncode != 0
    refused = cli("secret", "rm", w.name, "--yes")
    assert refused.returncode != 0 and "secret_in_use" in refused.stderr
    assert w.sessions["bob1"] in refused.stderr
    forced = cli("secret", "rm", w.name, "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    for out in (shown, stale, refused, forced):
        assert find_in_bytes((out.stdout + out.stderr).encode(), VALUES) == []
