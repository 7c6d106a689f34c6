"""People leaving (issue 14): `sealbox admin user remove NAME --transfer-to OTHER | --delete-secrets` and
`sealbox admin user token NAME`, run on the data dir of a real running server and keeper.

A transfer re-wraps each data key to the new owner's user key: the new owner launches every value
(canaries, every kept version), a grantee's live session keeps refreshing, the removed user's token,
web session and launch are refused at once, grants to them and their memberships are gone, the audit
chain verifies and still names them, and their name cannot be added again. Deleting their secrets
leaves no version. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.pool import NullPool

from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.conftest import CANARIES
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.opening import count_sealed, sqlite_url, wait_until_converted
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack, sealbox_cmd

API = "/api/v1"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def lstack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with contextlib.ExitStack() as stacks:
        url = stacks.enter_context(fresh_database()) if request.param == "postgres" else None
        stack = stacks.enter_context(running_stack(tmp_path_factory.mktemp("leaving"), database_url=url))
        yield stack
        assert find_in_bytes(stack.logs(), CANARIES) == []


def admin_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        sealbox_cmd("admin", "user", *args), env=stack.env(), capture_output=True, timeout=120, check=False
    )
    assert find_in_bytes(done.stdout + done.stderr, CANARIES) == []
    return done


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Person:
    name: str
    token: str = field(repr=False)

    def api(self, stack: Stack) -> httpx.Client:
        return stack.client(self.token)


def person(stack: Stack, prefix: str) -> Person:
    name = unique(prefix)
    return Person(name=name, token=stack.add_user(name))


def launch(stack: Stack, token: str, ref: str) -> dict[str, str]:
    with stack.client(token) as api:
        created = api.post(f"{API}/sessions", json={"secrets": [{"name": ref, "file": "f"}]})
    assert created.status_code == 201, created.text
    return {"id": created.json()["session"]["id"], "credential": created.json()["session_credential"]}


def delivered(stack: Stack, started: dict[str, str]) -> str:
    with HTTPClient(stack.url) as http:
        delivery = redeem(http, session_id=started["id"], credential=started["credential"])
    (item,) = delivery.items
    return item.value.decode()


def launched(stack: Stack, token: str, ref: str) -> str:
    return delivered(stack, launch(stack, token, ref))


def refresh(stack: Stack, token: str, session_id: str) -> str:
    """A live session's next credential, redeemed (what `sealbox run` does to refresh its values)."""
    with stack.client(token) as api:
        fresh = api.post(f"{API}/sessions/{session_id}/credentials")
    assert fresh.status_code == 201, fresh.text
    return delivered(stack, {"id": session_id, "credential": fresh.json()["session_credential"]})


def web_sign_in(stack: Stack, token: str) -> httpx.Client:
    web = httpx.Client(base_url=stack.url, timeout=30, follow_redirects=False)
    match = CSRF.search(web.get("/web/login").text)
    assert match
    assert web.post("/web/login", data={"csrf": match.group(1), "token": token}).status_code == 303
    assert web.get("/web/").status_code == 200
    return web


def database_url(stack: Stack) -> str:
    return stack.database_url or sqlite_url(stack.data_dir / "sealbox.db")


def audit_verify(stack: Stack) -> None:
    out = subprocess.run(
        sealbox_cmd("audit", "verify", "--data-dir", str(stack.data_dir)),
        env=stack.env(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert find_in_bytes(out.stdout + out.stderr, CANARIES) == []


def one_line(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


def refused(done: subprocess.CompletedProcess[bytes]) -> str:
    """A refusal: non-zero, nothing on stdout, one `error:` line on stderr and no traceback."""
    assert done.returncode != 0, done.stdout
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


# --- transfer ---------------------------------------------------------------------------------------------


def test_transfer_gives_every_value_to_the_new_owner_and_ends_everything_of_the_leaver(lstack: Stack) -> None:
    alice, bob, carol, dave = (person(lstack, p) for p in ("alice", "bob", "carol", "dave"))
    values = {name: make_canary("leave") for name in ("db", "api", "db-old")}
    CANARIES.extend(values.values())
    with alice.api(lstack) as api:
        api.post(f"{API}/secrets", json={"name": "db", "value": values["db-old"]}).raise_for_status()
        api.put(f"{API}/secrets/db/value", json={"value": values["db"]}).raise_for_status()
        api.post(f"{API}/secrets", json={"name": "api", "value": values["api"]}).raise_for_status()
        shared = api.post(f"{API}/secrets/db/grants", json={"user": carol.name, "level": "use"})
        assert shared.status_code == 201, shared.text
        assert (
            api.post(f"{API}/secrets/api/grants", json={"user": bob.name, "level": "use"}).status_code == 201
        )
    # Dave shares a secret with alice and has her in his group.
    group = unique("g")
    with dave.api(lstack) as api:
        api.post(f"{API}/secrets", json={"name": "dave-s", "value": make_canary("d")}).raise_for_status()
        assert (
            api.post(f"{API}/secrets/dave-s/grants", json={"user": alice.name, "level": "use"}).status_code
            == 201
        )
        api.post(f"{API}/groups", json={"name": group}).raise_for_status()
        assert api.put(f"{API}/groups/{group}/members", json={"user": alice.name}).status_code == 202
    with alice.api(lstack) as api:
        assert api.post(f"{API}/invitations/{group}/accept").status_code == 200
    carol_session = launch(lstack, carol.token, f"{alice.name}/db")
    assert delivered(lstack, carol_session) == values["db"]
    alice_launch = launch(lstack, alice.token, "api")  # live, not yet redeemed
    web = web_sign_in(lstack, alice.token)

    done = admin_cli(lstack, "remove", alice.name, "--transfer-to", bob.name)
    assert done.returncode == 0, done.stderr
    assert one_line(done) == (
        f"removed {alice.name}: transferred 2 secrets to {bob.name}; revoked 1 token and 1 grant to them; "
        "ended 1 web session and 1 session; left 1 membership"
    )

    # Bob owns both, with every version, and launches each value.
    assert launched(lstack, bob.token, "db") == values["db"]
    assert launched(lstack, bob.token, "api") == values["api"]
    with bob.api(lstack) as api:
        assert sorted(v["version"] for v in api.get(f"{API}/secrets/db").json()["versions"]) == [1, 2]
        grants = {(g["grantee"], g["level"]) for g in api.get(f"{API}/secrets/db/grants").json()}
        assert grants == {(carol.name, "use")}  # the grant alice gave stays
        assert api.get(f"{API}/secrets/api/grants").json() == []  # bob needs none on his own secret
        new = make_canary("bob")
        CANARIES.append(new)
        api.put(f"{API}/secrets/db/value", json={"value": new}).raise_for_status()
    assert launched(lstack, bob.token, "db") == new
    # Carol's session, begun before the transfer, refreshes to the current value; a new one works too.
    assert refresh(lstack, carol.token, carol_session["id"]) == new
    assert launched(lstack, carol.token, f"{bob.name}/db") == new

    # Alice: token, web session and the launch she had begun are refused at once.
    with alice.api(lstack) as api:
        assert api.get(f"{API}/me").status_code == 401
    assert web.get("/web/").headers.get("location") == "/web/login"
    web.close()
    key = base64.b64encode(os.urandom(32)).decode()
    redeemed = httpx.post(
        f"{lstack.url}{API}/sessions/{alice_launch['id']}/redeem",
        json={"credential": alice_launch["credential"], "public_key": key},
        timeout=30,
    )
    assert redeemed.status_code == 401, redeemed.text
    # The grant to her and her membership are gone.
    with dave.api(lstack) as api:
        assert api.get(f"{API}/secrets/dave-s/grants").json() == []
        members = {m["user"] for m in api.get(f"{API}/groups/{group}").json()["members"]}
        assert members == {dave.name}
        # She can be granted nothing again.
        assert (
            api.post(f"{API}/secrets/dave-s/grants", json={"user": alice.name, "level": "use"}).status_code
            == 404
        )

    audit_verify(lstack)
    with lstack.client() as admin:
        records = admin.get(f"{API}/audit", params={"limit": 500}).json()["items"]
        listed = {u["name"]: u for u in admin.get(f"{API}/users").json()}
    assert any(r["actor"] == alice.name for r in records)  # her own acts still name her
    assert any(r["action"] == "user.remove" and alice.name in r["detail"] for r in records)
    assert listed[alice.name]["removed_at"] is not None and listed[alice.name]["disabled_at"] is not None
    assert listed[bob.name]["removed_at"] is None

    # Her name is not given to anyone else, and she cannot be enabled or given a token.
    assert "names are not reused" in refused(admin_cli(lstack, "add", alice.name))
    assert "removed" in refused(admin_cli(lstack, "enable", alice.name))
    assert "removed" in refused(admin_cli(lstack, "token", alice.name))
    assert "removed already" in refused(admin_cli(lstack, "remove", alice.name, "--delete-secrets"))
    listing = admin_cli(lstack, "ls")
    row = next(line for line in listing.stdout.decode().splitlines() if line.startswith(alice.name + " "))
    assert len(row.split()) == 5  # NAME KIND CREATED REMOVED DISABLED (not an admin)


def test_a_version_still_sealed_at_the_transfer_converts_and_launches_afterwards(lstack: Stack) -> None:
    """Written while the keeper is down, its outer layer is still the HPKE seal when the transfer runs:
    the keeper converts it later under the owner id it was written for, and the new owner launches it."""
    jay, kim = person(lstack, "jay"), person(lstack, "kim")
    value = make_canary("sealed")
    CANARIES.append(value)
    lstack.keeper.stop()
    try:
        with jay.api(lstack) as api:
            api.post(f"{API}/secrets", json={"name": "late", "value": value}).raise_for_status()
        assert count_sealed(database_url(lstack)) >= 1
        assert admin_cli(lstack, "remove", jay.name, "--transfer-to", kim.name).returncode == 0
    finally:
        lstack.keeper.start()
    with kim.api(lstack) as api:  # a write pokes the server's conversion, which sweeps every sealed one
        api.post(f"{API}/secrets", json={"name": "poke", "value": "x"}).raise_for_status()
    wait_until_converted(database_url(lstack))
    assert launched(lstack, kim.token, "late") == value
    audit_verify(lstack)


# --- delete -----------------------------------------------------------------------------------------------


def _versions_of(stack: Stack, secret_ids: list[str]) -> int:
    engine = create_engine(database_url(stack), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM secret_versions WHERE secret_id IN :ids")
            found = conn.execute(
                query.bindparams(bindparam("ids", expanding=True)), {"ids": secret_ids}
            ).scalar_one()
    finally:
        engine.dispose()
    return int(found)


def test_delete_secrets_leaves_no_version(lstack: Stack) -> None:
    erin, frank = person(lstack, "erin"), person(lstack, "frank")
    value = make_canary("gone")
    CANARIES.append(value)
    with erin.api(lstack) as api:
        created = api.post(f"{API}/secrets", json={"name": "tok", "value": value})
        api.post(f"{API}/secrets/tok/grants", json={"user": frank.name, "level": "use"}).raise_for_status()
    secret_id = created.json()["id"]
    assert launched(lstack, frank.token, f"{erin.name}/tok") == value

    done = admin_cli(lstack, "remove", erin.name, "--delete-secrets")
    assert done.returncode == 0, done.stderr
    assert one_line(done).startswith(f"removed {erin.name}: deleted 1 secret; revoked 1 token and 0 grants")
    with frank.api(lstack) as api:
        assert api.get(f"{API}/secrets/tok", params={"owner": erin.name}).status_code == 404
        gone = api.post(f"{API}/sessions", json={"secrets": [{"name": f"{erin.name}/tok", "file": "f"}]})
        assert gone.status_code == 404
    assert _versions_of(lstack, [secret_id]) == 0
    with erin.api(lstack) as api:
        assert api.get(f"{API}/me").status_code == 401
    audit_verify(lstack)


# --- a new first token ------------------------------------------------------------------------------------


def test_user_token_prints_a_new_token_each_time_and_revokes_others_on_request(lstack: Stack) -> None:
    gina = person(lstack, "gina")
    first = admin_cli(lstack, "token", gina.name)
    assert first.returncode == 0, first.stderr
    assert first.stderr.decode().strip() == f"new token for {gina.name}; shown once:"
    second = admin_cli(lstack, "token", gina.name)
    tokens = [gina.token, one_line(first), one_line(second)]
    assert len(set(tokens)) == 3 and all(t.startswith("sbx_") for t in tokens)
    for token in tokens:  # without --revoke-others the earlier ones stay valid
        with lstack.client(token) as api:
            assert api.get(f"{API}/me").json()["name"] == gina.name

    third = admin_cli(lstack, "token", gina.name, "--revoke-others")
    assert third.stderr.decode().strip() == f"new token for {gina.name}; revoked 3 other tokens; shown once:"
    for token in tokens:
        with lstack.client(token) as api:
            assert api.get(f"{API}/me").status_code == 401
    with lstack.client(one_line(third)) as api:
        assert api.get(f"{API}/me").json()["name"] == gina.name
    with lstack.client() as admin:
        actions = [r["action"] for r in admin.get(f"{API}/audit", params={"limit": 100}).json()["items"]]
    assert actions.count("user.token") >= 3

    assert admin_cli(lstack, "disable", gina.name).returncode == 0
    assert "disabled" in refused(admin_cli(lstack, "token", gina.name))
    assert "no such user" in refused(admin_cli(lstack, "token", unique("nobody")))
    audit_verify(lstack)


# --- refusals ---------------------------------------------------------------------------------------------


def test_removal_is_refused_with_one_line_and_changes_nothing(lstack: Stack) -> None:
    hal, ivy, off = person(lstack, "hal"), person(lstack, "ivy"), person(lstack, "off")
    with hal.api(lstack) as api:
        api.post(f"{API}/secrets", json={"name": "same", "value": make_canary("h")}).raise_for_status()
    with ivy.api(lstack) as api:
        api.post(f"{API}/secrets", json={"name": "same", "value": make_canary("i")}).raise_for_status()
    assert admin_cli(lstack, "disable", off.name).returncode == 0

    assert "--transfer-to OTHER or --delete-secrets" in refused(admin_cli(lstack, "remove", hal.name))
    both = admin_cli(lstack, "remove", hal.name, "--transfer-to", ivy.name, "--delete-secrets")
    assert "--transfer-to OTHER or --delete-secrets" in refused(both)
    assert "no such user" in refused(admin_cli(lstack, "remove", unique("nobody"), "--delete-secrets"))
    assert "themselves" in refused(admin_cli(lstack, "remove", hal.name, "--transfer-to", hal.name))
    assert "no such user" in refused(admin_cli(lstack, "remove", hal.name, "--transfer-to", unique("nobody")))
    assert "disabled or removed" in refused(admin_cli(lstack, "remove", hal.name, "--transfer-to", off.name))
    assert "named same" in refused(admin_cli(lstack, "remove", hal.name, "--transfer-to", ivy.name))

    with hal.api(lstack) as api:  # nothing changed
        assert api.get(f"{API}/me").status_code == 200
        assert [s["name"] for s in api.get(f"{API}/secrets").json()["items"]] == ["same"]
