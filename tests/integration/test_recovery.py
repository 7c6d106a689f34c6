"""Deleted secrets and their recovery window (issue 14), against real server and keeper processes.

`DELETE /api/v1/secrets/NAME` puts a secret into its window: it is gone from lists, reads, launches,
redemptions and sharing, its name stays taken (409 `name_held_by_deleted_secret`), and
`POST .../restore` brings it back with its versions and grants; `?purge=true` removes it for good. When
the window ends the server's sweep removes it for good: one stack runs with a two-second window, on
PostgreSQL (the store tests run every step on SQLite and PostgreSQL both). Values are canaries, looked
for in every answer and in the logs (conftest's stacks scan them when they stop).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealbox.errors import ClientError
from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import find_in_bytes
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack

API = "/api/v1"
Canary = Callable[[str], str]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Person:
    stack: Stack
    name: str
    token: str = field(repr=False)
    answers: list[bytes] = field(default_factory=list)  # every body this person received

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.stack.client(self.token) as api:
            resp = api.request(method, f"{API}{path}", **kwargs)
        self.answers.append(resp.content)
        return resp

    def launch(self, ref: str) -> httpx.Response:
        return self.call("POST", "/sessions", json={"secrets": [{"name": ref, "file": "f"}]})

    def delivered(self, launched: httpx.Response) -> list[str]:
        """The values a launch's session receives, redeemed as a launcher does."""
        assert launched.status_code == 201, launched.text
        body = launched.json()
        with HTTPClient(self.stack.url) as anonymous:
            delivery = redeem(
                anonymous,
                session_id=body["session"]["id"],
                credential=body["session_credential"],
                keeper_url=self.stack.keeper.url,
            )
        return [item.value.decode() for item in delivery.items]


def person(stack: Stack, prefix: str) -> Person:
    name = unique(prefix)
    with stack.client() as admin:
        resp = admin.post(f"{API}/users", json={"name": name})
    assert resp.status_code == 201, resp.text
    return Person(stack=stack, name=name, token=resp.json()["token"])


@dataclass
class Cast:
    alice: Person  # the owner
    mona: Person  # a `manage` grantee
    wes: Person  # a `write` grantee
    zed: Person  # no grant
    name: str
    value: str

    @property
    def ref(self) -> str:
        return f"{self.alice.name}/{self.name}"

    def everyone(self) -> list[Person]:
        return [self.alice, self.mona, self.wes, self.zed]


def cast_on(stack: Stack, canary: Canary) -> Cast:
    alice, mona, wes, zed = (person(stack, p) for p in ("alice", "mona", "wes", "zed"))
    name, value = unique("db-password"), canary("recovery")
    assert alice.call("POST", "/secrets", json={"name": name, "value": value}).status_code == 201
    for who, level in ((mona, "manage"), (wes, "write")):
        granted = alice.call("POST", f"/secrets/{name}/grants", json={"user": who.name, "level": level})
        assert granted.status_code == 201, granted.text
    return Cast(alice=alice, mona=mona, wes=wes, zed=zed, name=name, value=value)


@pytest.fixture
def cast(stack: Stack, canary: Canary) -> Iterator[Cast]:
    c = cast_on(stack, canary)
    yield c
    for p in c.everyone():
        assert find_in_bytes(b"\n".join(p.answers), [c.value]) == [], p.name


def _audit(who: Person, secret_id: str) -> list[tuple[str, str | None]]:
    """The secret's own records (not its sessions'), oldest first, as an admin reads them (once it is
    removed for good, its owner sees only their own acts on it)."""
    with who.stack.client() as admin:
        items = admin.get(f"{API}/audit", params={"limit": 500}).json()["items"]
    return [
        (r["action"], r["actor"])
        for r in reversed(items)
        if r["secret_id"] == secret_id and r["action"].startswith("secret.")
    ]


def test_rm_then_restore_brings_the_same_value_back_through_a_launch(cast: Cast) -> None:
    alice, mona = cast.alice, cast.mona
    secret_id = alice.call("GET", f"/secrets/{cast.name}").json()["id"]
    assert alice.delivered(alice.launch(cast.name)) == [cast.value]
    pending = mona.launch(cast.ref)  # created before the delete, redeemed while it is deleted
    assert pending.status_code == 201

    # Live sessions hold it (alice's, and mona's not yet redeemed): deleted with force.
    assert alice.call("DELETE", f"/secrets/{cast.name}", params={"force": "true"}).status_code == 204
    with pytest.raises(ClientError) as gone:
        mona.delivered(pending)
    assert (gone.value.status_code, gone.value.code) == (404, "secret_gone")
    [deleted] = [s for s in alice.call("GET", "/deleted-secrets").json()["items"] if s["id"] == secret_id]
    assert (deleted["name"], deleted["deleted_by"], deleted["access"]) == (cast.name, alice.name, "owner")
    assert [s["ref"] for s in mona.call("GET", "/deleted-secrets").json()["items"]] == [cast.ref]

    restored = mona.call("POST", f"/secrets/{cast.name}/restore", params={"owner": alice.name})
    assert restored.status_code == 200, restored.text
    assert (restored.json()["id"], restored.json()["access"]) == (secret_id, "manage")
    assert alice.delivered(alice.launch(cast.name)) == [cast.value]
    assert mona.delivered(mona.launch(cast.ref)) == [cast.value]  # the grants came back too
    grants = alice.call("GET", f"/secrets/{cast.name}/grants").json()
    assert {(g["grantee"], g["level"]) for g in grants} == {
        (cast.mona.name, "manage"),
        (cast.wes.name, "write"),
    }
    assert alice.call("GET", "/deleted-secrets").json()["items"] == []
    assert _audit(alice, secret_id)[-2:] == [("secret.delete", alice.name), ("secret.restore", mona.name)]


def test_rm_hides_it_from_list_read_launch_and_share(cast: Cast) -> None:
    alice, wes = cast.alice, cast.wes
    assert alice.call("DELETE", f"/secrets/{cast.name}").status_code == 204
    for who, ref, params in ((alice, cast.name, {}), (wes, cast.name, {"owner": alice.name})):
        names = [s["name"] for s in who.call("GET", "/secrets", params={"limit": 500}).json()["items"]]
        assert cast.name not in names
        assert who.call("GET", f"/secrets/{ref}", params=params).status_code == 404
        assert who.launch(cast.ref).status_code == 404
        assert who.call("GET", f"/secrets/{ref}/grants", params=params).status_code == 404
    shared = alice.call("POST", f"/secrets/{cast.name}/grants", json={"user": cast.zed.name, "level": "use"})
    assert shared.status_code == 404
    assert alice.call("PUT", f"/secrets/{cast.name}/value", json={"value": "x"}).status_code == 404
    assert alice.call("DELETE", f"/secrets/{cast.name}").status_code == 404  # not twice into the window
    # The name is held until it is restored or purged, with a stable code that says what to do.
    held = alice.call("POST", "/secrets", json={"name": cast.name, "value": "other"})
    assert held.status_code == 409
    assert held.json()["code"] == "name_held_by_deleted_secret"
    assert f"sealbox secret restore {cast.name}" in held.json()["message"]


def test_purge_makes_restore_404_and_frees_the_name(cast: Cast, canary: Canary) -> None:
    alice = cast.alice
    secret_id = alice.call("GET", f"/secrets/{cast.name}").json()["id"]
    assert alice.call("DELETE", f"/secrets/{cast.name}").status_code == 204
    assert alice.call("DELETE", f"/secrets/{cast.name}", params={"purge": "true"}).status_code == 204
    assert alice.call("POST", f"/secrets/{cast.name}/restore").status_code == 404
    assert alice.call("GET", "/deleted-secrets").json()["items"] == []
    assert [a for a, _ in _audit(alice, secret_id)][-2:] == ["secret.delete", "secret.purge"]
    again = alice.call("POST", "/secrets", json={"name": cast.name, "value": canary("again")})
    assert again.status_code == 201 and again.json()["id"] != secret_id
    # A live one purged at once.
    assert alice.call("DELETE", f"/secrets/{cast.name}", params={"purge": "true"}).status_code == 204
    assert alice.call("POST", f"/secrets/{cast.name}/restore").status_code == 404


def test_only_the_owner_and_manage_grantees_may_delete_restore_or_purge(cast: Cast) -> None:
    alice, mona, wes, zed = cast.alice, cast.mona, cast.wes, cast.zed
    mine = {"owner": alice.name}
    assert wes.call("DELETE", f"/secrets/{cast.name}", params=mine).status_code == 403
    assert zed.call("DELETE", f"/secrets/{cast.name}", params=mine).status_code == 404
    assert mona.call("DELETE", f"/secrets/{cast.name}", params=mine).status_code == 204
    for who, status in ((wes, 403), (zed, 404)):
        assert who.call("POST", f"/secrets/{cast.name}/restore", params=mine).status_code == status
        purge = who.call("DELETE", f"/secrets/{cast.name}", params={**mine, "purge": "true"})
        assert purge.status_code == status
        assert who.call("GET", "/deleted-secrets").json()["items"] == []
        # Their own namespace has no such secret either.
        assert who.call("POST", f"/secrets/{cast.name}/restore").status_code == 404
    assert alice.call("POST", f"/secrets/{cast.name}/restore").status_code == 200
    assert alice.delivered(alice.launch(cast.name)) == [cast.value]


@pytest.fixture(scope="module")
def short_window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack on PostgreSQL whose recovery window is two seconds."""
    root: Path = tmp_path_factory.mktemp("window")
    with (
        fresh_database() as url,
        running_stack(root, database_url=url, server_env={"SEALBOX_RECOVERY_WINDOW_SECONDS": "2"}) as s,
    ):
        yield s


def test_when_the_window_ends_the_sweep_removes_it_for_good(short_window: Stack, canary: Canary) -> None:
    c = cast_on(short_window, canary)
    alice = c.alice
    secret_id = alice.call("GET", f"/secrets/{c.name}").json()["id"]
    assert alice.call("DELETE", f"/secrets/{c.name}").status_code == 204
    assert [s["id"] for s in alice.call("GET", "/deleted-secrets").json()["items"]] == [secret_id]
    deadline = time.monotonic() + 30
    while (last := _audit(alice, secret_id))[-1][0] != "secret.purge":
        assert time.monotonic() < deadline, last
        time.sleep(0.25)
    assert last[-1] == ("secret.purge", None)  # the server's sweep, no person
    assert alice.call("POST", f"/secrets/{c.name}/restore").status_code == 404
    assert alice.call("GET", "/deleted-secrets").json()["items"] == []
    assert alice.call("POST", "/secrets", json={"name": c.name, "value": canary("after")}).status_code == 201
    assert find_in_bytes(b"\n".join(alice.answers) + short_window.logs(), [c.value]) == []
