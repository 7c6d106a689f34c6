"""Sharing end to end (issue 5, "Groups, projects and grants"), against real server and keeper processes.

A secret's owner grants it to a user or a group at `use` (bring it into own sessions, never read it),
`write` (also replace it) or `manage` (also grant, revoke and delete). Shared secrets show in the
grantee's list as `owner/name` with their level. A revoked grant refuses the very next launch or
redemption; live sessions are listed in the answer and the owner may end them. A project-scoped secret
goes only into sessions of its project, launched by its members. The CLI does the same.

Every response body of every request in this module is scanned for every value stored here.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealbox.errors import ClientError
from sealbox.launcher.redeem import Delivery, redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import Stack, base_env, sealbox_cmd

API = "/api/v1"
Canary = Callable[[str], str]
CSRF = re.compile(r'name="csrf" value="([^"]*)"')
SESSION_ID = re.compile(r"<code>([0-9a-f]{32})</code>")
END_BUTTON = re.compile(r'action="/web/sessions/([0-9a-f]{32})/end"')

# Every value this module stores: no answer of the API may ever hold one, in any encoding.
VALUES: list[str] = []


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def scanned(resp: httpx.Response) -> httpx.Response:
    assert find_in_bytes(resp.content, VALUES) == [], (resp.request.method, resp.request.url)
    return resp


@dataclass
class Person:
    stack: Stack
    name: str
    token: str = field(repr=False)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.stack.client(self.token) as api:
            return scanned(api.request(method, f"{API}{path}", **kwargs))

    def add(self, name: str, value: str, **body: Any) -> dict[str, Any]:
        resp = self.call("POST", "/secrets", json={"name": name, "value": value, **body})
        assert resp.status_code == 201, resp.text
        result: dict[str, Any] = resp.json()
        return result

    def share(self, ref: str, level: str, *, user: str | None = None, group: str | None = None) -> None:
        owner, _, name = ref.rpartition("/")
        resp = self.call(
            "POST",
            f"/secrets/{name}/grants",
            params={"owner": owner} if owner else {},
            json={"level": level, "user": user, "group": group},
        )
        assert resp.status_code == 201, resp.text

    def launch(self, *refs: str, project: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"secrets": [{"name": r, "file": f"f{i}"} for i, r in enumerate(refs)]}
        if project is not None:
            body["project"] = project
        return self.call("POST", "/sessions", json=body)

    def launched(self, *refs: str, project: str | None = None) -> dict[str, Any]:
        resp = self.launch(*refs, project=project)
        assert resp.status_code == 201, resp.text
        result: dict[str, Any] = resp.json()
        return result

    def redeem(self, launch: dict[str, Any]) -> Delivery:
        with HTTPClient(self.stack.url) as anonymous:
            return redeem(
                anonymous,
                session_id=launch["session"]["id"],
                credential=launch["session_credential"],
                keeper_url=self.stack.keeper.url,
            )

    def value_of(self, *refs: str, project: str | None = None) -> list[str]:
        """Launch and redeem, as `sealbox run` does: the values the session side gets."""
        return [i.value.decode() for i in self.redeem(self.launched(*refs, project=project)).items]

    def listing(self) -> dict[str, str]:
        resp = self.call("GET", "/secrets", params={"limit": 500})
        assert resp.status_code == 200, resp.text
        return {item["ref"]: item["access"] for item in resp.json()["items"]}

    def collection(self, method: str, path: str, **body: Any) -> httpx.Response:
        return self.call(method, path, json=body or None)


def new_person(stack: Stack, prefix: str) -> Person:
    name = unique(prefix)
    with stack.client() as admin:
        resp = admin.post(f"{API}/users", json={"name": name})
    assert resp.status_code == 201, resp.text
    return Person(stack=stack, name=name, token=resp.json()["token"])


@dataclass
class Cast:
    alice: Person  # owns the secrets
    bob: Person  # use
    carol: Person  # write
    dave: Person  # manage
    erin: Person  # through a group
    frank: Person  # nobody's friend


@pytest.fixture(scope="module", autouse=True)
def no_value_in_logs(stack: Stack) -> Iterator[None]:
    yield
    assert find_in_bytes(stack.logs(), VALUES) == []


@pytest.fixture(scope="module")
def cast(stack: Stack) -> Cast:
    return Cast(*(new_person(stack, n) for n in ("alice", "bob", "carol", "dave", "erin", "frank")))


@pytest.fixture
def value(canary: Canary) -> Callable[[str], str]:
    def make(label: str) -> str:
        v = canary(label)
        VALUES.append(v)
        return v

    return make


@pytest.fixture
def shared(cast: Cast, value: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    """A fresh secret of alice's granted to bob (use), carol (write), dave (manage) and erin's group (use)."""
    name, group, v = unique("db"), unique("team"), value("shared")
    cast.alice.add(name, v, description="shared database password")
    assert cast.alice.collection("POST", "/groups", name=group).status_code == 201
    joined(cast.alice, group, cast.erin)
    for who, level in ((cast.bob, "use"), (cast.carol, "write"), (cast.dave, "manage")):
        cast.alice.share(name, level, user=who.name)
    cast.alice.share(name, "use", group=group)
    yield f"{cast.alice.name}/{name}", group, v


def joined(manager: Person, group: str, person: Person, role: str = "member") -> None:
    """A manager invites; the person accepts: then, and only then, they are in the group."""
    invited = manager.collection("PUT", f"/groups/{group}/members", user=person.name, role=role)
    assert (invited.status_code, invited.json()["status"]) == (202, "invited"), invited.text
    accepted = person.call("POST", f"/invitations/{group}/accept")
    assert accepted.status_code == 200 and accepted.json() == {"name": group, "role": role}, accepted.text


def named_alike(a: httpx.Response, b: httpx.Response, *names: str) -> bool:
    """Two answers that differ only by the names the requests gave (errors repeat those, no more)."""

    def blank(resp: httpx.Response) -> tuple[int, bytes]:
        body = resp.content
        for name in names:
            body = body.replace(name.encode(), b"NAME")
        return resp.status_code, body

    return blank(a) == blank(b)


def cast_value(label: str) -> str:
    """A value stored through a grant: registered like any other, so no answer may hold it."""
    value = make_canary(f"by-{label}")
    VALUES.append(value)
    return value


def refused(person: Person, launch: dict[str, Any]) -> ClientError:
    with pytest.raises(ClientError) as caught:
        person.redeem(launch)
    return caught.value


# --- levels ---------------------------------------------------------------------------------------------


def test_list_shows_shared_secrets_as_owner_name_with_my_level(
    cast: Cast, shared: tuple[str, str, str]
) -> None:
    ref, group, _ = shared
    name = ref.split("/")[1]
    assert cast.alice.listing()[ref] == "owner"
    assert cast.bob.listing()[ref] == "use"
    assert cast.carol.listing()[ref] == "write"
    assert cast.dave.listing()[ref] == "manage"
    assert cast.erin.listing()[ref] == "use"  # through the group
    assert ref not in cast.frank.listing()

    item = next(i for i in cast.bob.call("GET", "/secrets").json()["items"] if i["ref"] == ref)
    assert (item["owner"], item["name"], item["access"]) == (cast.alice.name, name, "use")
    shown = cast.bob.call("GET", f"/secrets/{name}", params={"owner": cast.alice.name})
    assert shown.status_code == 200 and shown.json()["access"] == "use"
    # By bare name, the same name is bob's own namespace: he has no such secret.
    assert cast.bob.call("GET", f"/secrets/{name}").status_code == 404

    grants = cast.alice.call("GET", f"/secrets/{name}/grants").json()
    assert {(g["grantee_type"], g["grantee"], g["level"]) for g in grants} == {
        ("user", cast.bob.name, "use"),
        ("user", cast.carol.name, "write"),
        ("user", cast.dave.name, "manage"),
        ("group", group, "use"),
    }
    # A direct grant and a group grant: the best level counts.
    cast.alice.share(name, "write", user=cast.erin.name)
    assert cast.erin.listing()[ref] == "write"
    # A group at each level gives its members that level, with its powers.
    crew = unique("crew")
    assert cast.frank.collection("POST", "/groups", name=crew).status_code == 201
    q = {"owner": cast.alice.name}
    for level, allowed in (("use", 403), ("write", 200), ("manage", 200)):
        cast.alice.share(name, level, group=crew)
        assert cast.frank.listing()[ref] == level
        patched = cast.frank.call("PATCH", f"/secrets/{name}", params=q, json={"description": level})
        assert patched.status_code == (200 if level == "manage" else 403), (level, patched.text)
        replaced = cast.frank.call(
            "PUT", f"/secrets/{name}/value", params=q, json={"value": cast_value(level)}
        )
        assert replaced.status_code == allowed, (level, replaced.text)


def test_use_brings_the_secret_into_sessions_but_never_replaces_or_reads_it(
    cast: Cast, shared: tuple[str, str, str], value: Callable[[str], str]
) -> None:
    ref, _, v = shared
    owner, name = ref.split("/")
    assert cast.bob.value_of(ref) == [v]  # the session side, and only it, gets the value
    assert cast.erin.value_of(ref) == [v]  # through the group

    other = value("never-stored")
    q = {"owner": owner}
    for person in (cast.bob, cast.erin):
        for method, path, body in (
            ("PUT", f"/secrets/{name}/value", {"value": other}),
            ("PATCH", f"/secrets/{name}", {"description": "mine now"}),
            ("DELETE", f"/secrets/{name}", None),
            ("POST", f"/secrets/{name}/grants", {"user": cast.frank.name, "level": "use"}),
            ("DELETE", f"/secrets/{name}/grants/user/{cast.carol.name}", None),
        ):
            resp = person.call(method, path, params=q, json=body)
            assert resp.status_code == 403, (person.name, method, path, resp.text)
            assert resp.json()["code"] == "insufficient_level"
    # Nothing changed: same value, same version, same grants.
    assert cast.alice.value_of(name) == [v]
    meta = cast.alice.call("GET", f"/secrets/{name}").json()
    assert meta["current_version"] == 1 and meta["description"] == "shared database password"
    assert ref not in cast.frank.listing()
    # No read path anywhere: metadata, list, grants, sessions and audit answers are all scanned by
    # `scanned()`; the metadata has no value field at all.
    assert not {"value", "value_base64", "fields_values"} & set(
        cast.bob.call("GET", f"/secrets/{name}", params=q).json()
    )
    for path in ("/secrets", f"/secrets/{name}/grants", "/sessions?all=true", "/audit"):
        assert cast.bob.call("GET", path, params=q if "grants" in path else None).status_code == 200


def test_write_replaces_the_value_but_does_not_share_or_delete(
    cast: Cast, shared: tuple[str, str, str], value: Callable[[str], str]
) -> None:
    ref, _, _ = shared
    owner, name = ref.split("/")
    q = {"owner": owner}
    new = value("replaced-by-carol")
    resp = cast.carol.call("PUT", f"/secrets/{name}/value", params=q, json={"value": new})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["current_version"], resp.json()["updated_by"], resp.json()["access"]) == (
        2,
        cast.carol.name,
        "write",
    )
    assert cast.alice.value_of(name) == [new]  # still the owner's secret, now with carol's value
    assert cast.bob.value_of(ref) == [new]
    for method, path, body in (
        ("POST", f"/secrets/{name}/grants", {"user": cast.frank.name, "level": "use"}),
        ("DELETE", f"/secrets/{name}/grants/user/{cast.bob.name}", None),
        ("DELETE", f"/secrets/{name}", None),
        ("PATCH", f"/secrets/{name}", {"description": "x"}),
    ):
        resp = cast.carol.call(method, path, params=q, json=body)
        assert (resp.status_code, resp.json()["code"]) == (403, "insufficient_level"), (method, path)
    assert cast.alice.call("GET", f"/secrets/{name}").status_code == 200


def test_manage_shares_unshares_and_deletes(cast: Cast, shared: tuple[str, str, str]) -> None:
    ref, _, v = shared
    owner, name = ref.split("/")
    q = {"owner": owner}
    cast.dave.share(ref, "use", user=cast.frank.name)
    assert cast.frank.listing()[ref] == "use"
    assert cast.frank.value_of(ref) == [v]
    # Levels stop at manage: nobody can be made an owner.
    bad = cast.dave.call(
        "POST", f"/secrets/{name}/grants", params=q, json={"user": cast.frank.name, "level": "owner"}
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_level")

    resp = cast.dave.call("DELETE", f"/secrets/{name}/grants/user/{cast.frank.name}", params=q)
    assert resp.status_code == 200, resp.text
    assert ref not in cast.frank.listing()
    assert cast.frank.launch(ref).status_code == 404

    patched = cast.dave.call("PATCH", f"/secrets/{name}", params=q, json={"description": "by dave"})
    assert patched.status_code == 200 and patched.json()["description"] == "by dave"

    # frank's session (above) still holds it: without force the delete is refused and names it.
    held = cast.dave.call("DELETE", f"/secrets/{name}", params=q)
    assert (held.status_code, held.json()["code"]) == (409, "secret_in_use"), held.text
    assert cast.dave.call("DELETE", f"/secrets/{name}", params={**q, "force": "true"}).status_code == 204
    assert ref not in cast.alice.listing()
    for person in (cast.alice, cast.bob, cast.dave):
        assert person.call("GET", f"/secrets/{name}", params=q).status_code == 404
        assert person.launch(ref).status_code == 404


# --- revocation -----------------------------------------------------------------------------------------


def test_revoking_refuses_the_next_launch_and_lists_live_sessions_for_the_owner_to_end(
    cast: Cast, shared: tuple[str, str, str]
) -> None:
    ref, _, v = shared
    owner, name = ref.split("/")
    active = cast.bob.launched(ref)
    assert [i.value.decode() for i in cast.bob.redeem(active).items] == [v]
    pending = cast.bob.launched(ref)  # launched, not yet redeemed
    carols = cast.carol.launched(ref)
    cast.carol.redeem(carols)

    resp = cast.alice.call("DELETE", f"/secrets/{name}/grants/user/{cast.bob.name}")
    assert resp.status_code == 200, resp.text
    live = {s["id"]: s["owner"] for s in resp.json()["live_sessions"]}
    assert live[active["session"]["id"]] == cast.bob.name
    assert live[pending["session"]["id"]] == cast.bob.name
    assert cast.alice.name not in live.values()  # the owner's own sessions are not "others' copies"

    # The very next redemption and the next launch are refused.
    err = refused(cast.bob, pending)
    assert (err.status_code, err.code) == (403, "access_revoked")
    nowhere = f"{owner}/{unique('no-such')}"
    missing = cast.bob.launch(nowhere)
    again = cast.bob.launch(ref)
    assert again.status_code == 404 and named_alike(again, missing, ref, nowhere)  # like one that never was
    assert again.json()["message"] == f'no such secret "{ref}", or not one you may use'  # named as written
    fresh = cast.bob.call("POST", f"/sessions/{active['session']['id']}/credentials")
    assert fresh.status_code == 201, fresh.text
    err = refused(cast.bob, fresh.json())
    assert (err.status_code, err.code) == (403, "access_revoked")
    # Carol's grant is untouched.
    assert cast.carol.value_of(ref) == [v]

    # The owner ends bob's live session; a stranger cannot, and cannot tell it exists.
    sid = active["session"]["id"]
    assert (
        cast.frank.call("DELETE", f"/sessions/{sid}").json()
        == cast.frank.call("DELETE", f"/sessions/{uuid.uuid4().hex}").json()
    )
    ended = cast.alice.call("DELETE", f"/sessions/{sid}")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert cast.bob.call("GET", f"/sessions/{sid}").json()["status"] == "ended"
    assert cast.bob.call("POST", f"/sessions/{sid}/credentials").status_code == 404
    mounting = {s["id"] for s in cast.alice.call("GET", f"/secrets/{name}").json()["sessions"]}
    assert sid not in mounting and pending["session"]["id"] in mounting
    # A manager may end sessions that mount the secret too.
    ended = cast.dave.call("DELETE", f"/sessions/{pending['session']['id']}")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"


def test_only_the_owner_and_managers_see_every_grant_and_mounting_session(
    cast: Cast, shared: tuple[str, str, str]
) -> None:
    """A `use` or `write` grantee sees the grants that reach them and their own sessions, nothing more."""
    ref, group, _ = shared
    owner, name = ref.split("/")
    q = {"owner": owner}
    sessions = {p.name: p.launched(ref)["session"]["id"] for p in (cast.bob, cast.carol, cast.erin)}

    def grants(person: Person) -> set[tuple[str, str, str]]:
        resp = person.call("GET", f"/secrets/{name}/grants", params=q if person is not cast.alice else None)
        assert resp.status_code == 200, resp.text
        return {(g["grantee_type"], g["grantee"], g["level"]) for g in resp.json()}

    def mounting(person: Person) -> set[str]:
        resp = person.call("GET", f"/secrets/{name}", params=q if person is not cast.alice else None)
        assert resp.status_code == 200, resp.text
        return {s["id"] for s in resp.json()["sessions"]}

    every = {
        ("user", cast.bob.name, "use"),
        ("user", cast.carol.name, "write"),
        ("user", cast.dave.name, "manage"),
        ("group", group, "use"),
    }
    assert grants(cast.alice) == grants(cast.dave) == every
    assert grants(cast.bob) == {("user", cast.bob.name, "use")}
    assert grants(cast.carol) == {("user", cast.carol.name, "write")}
    assert grants(cast.erin) == {("group", group, "use")}
    assert mounting(cast.alice) >= set(sessions.values()) and mounting(cast.dave) >= set(sessions.values())
    for person in (cast.bob, cast.carol, cast.erin):
        assert mounting(person) == {sessions[person.name]}, person.name


def signed_in_web(person: Person) -> httpx.Client:
    """A browser's session on the web pages: the sign-in form, then its cookie."""
    web = httpx.Client(base_url=person.stack.url, timeout=30)
    page = web.get("/web/login")
    found = CSRF.search(page.text)
    assert found is not None, page.text[:300]
    resp = web.post("/web/login", data={"csrf": found.group(1), "token": person.token})
    assert resp.status_code == 303, resp.text[:300]
    return web


def test_the_web_page_of_a_secret_shows_each_person_the_sessions_the_api_shows(
    cast: Cast, shared: tuple[str, str, str]
) -> None:
    """Issue 12, security finding 7: a `use` grantee's page listed the owner's and others' live sessions
    (ids, owners, an End button). The page and the API now ask the same rule (visible_sessions)."""
    ref, _, _ = shared
    owner, name = ref.split("/")
    every = {p.name: p.launched(ref)["session"]["id"] for p in (cast.alice, cast.bob, cast.carol, cast.erin)}
    for person in (cast.alice, cast.dave, cast.bob, cast.carol, cast.erin):
        api = person.call("GET", f"/secrets/{name}", params={"owner": owner})
        assert api.status_code == 200, api.text
        expected = {s["id"] for s in api.json()["sessions"]}
        with closing(signed_in_web(person)) as web:
            page = web.get(f"/web/s/{owner}/{name}")
            listing = web.get("/web/")
        assert page.status_code == 200, page.text[:300]
        shown = set(SESSION_ID.findall(page.text))
        assert shown == expected, person.name
        ends = set(END_BUTTON.findall(page.text))
        assert ends == expected, person.name
        row = listing.text[listing.text.index(f'href="/web/s/{owner}/{name}"') :].split("</tr>")[0]
        # The live-sessions cell, before the Expires cell that ends the row.
        assert row.rstrip().rsplit("<td>", 2)[1].strip() == f"{len(expected)}</td>", (person.name, row)
        if person in (cast.alice, cast.dave):
            assert set(every.values()) <= shown  # the owner and managers end others' sessions
        else:
            assert shown == {every[person.name]}, person.name  # one's own, and nobody else's


def test_unshare_lists_only_the_sessions_of_whom_it_revoked(cast: Cast, shared: tuple[str, str, str]) -> None:
    ref, group, _ = shared
    _, name = ref.split("/")
    bobs, carols, erins = (p.launched(ref)["session"]["id"] for p in (cast.bob, cast.carol, cast.erin))
    resp = cast.alice.call("DELETE", f"/secrets/{name}/grants/user/{cast.bob.name}")
    assert resp.status_code == 200, resp.text
    assert {s["id"] for s in resp.json()["live_sessions"]} == {bobs}
    resp = cast.alice.call("DELETE", f"/secrets/{name}/grants/group/{group}")
    assert resp.status_code == 200, resp.text
    assert {s["id"] for s in resp.json()["live_sessions"]} == {erins}
    assert carols in {s["id"] for s in cast.alice.call("GET", f"/secrets/{name}").json()["sessions"]}


def test_refusals_are_on_the_record_and_the_owner_sees_those_of_grantees(
    stack: Stack, cast: Cast, shared: tuple[str, str, str], value: Callable[[str], str]
) -> None:
    """A grantee's 403 names the secret, so its owner sees it; a stranger's 404 does not (it would
    tell the stranger, who reads their own records, that the secret exists)."""
    ref, _, _ = shared
    owner, name = ref.split("/")
    attempt = value("never-stored-denied")
    resp = cast.bob.call("PUT", f"/secrets/{name}/value", params={"owner": owner}, json={"value": attempt})
    assert resp.status_code == 403
    assert cast.frank.call("GET", f"/secrets/{name}", params={"owner": owner}).status_code == 404
    owners = cast.alice.call("GET", "/audit", params={"secret": name, "limit": 1000}).json()["items"]
    assert any(
        (r["actor"], r["action"], r["outcome"], r["secret"])
        == (cast.bob.name, "secret.replace", "denied", ref)
        and r["detail"] == "PUT /api/v1/secrets/{name}/value 403"
        for r in owners
    )
    assert not any(r["actor"] == cast.frank.name for r in owners)
    franks = cast.frank.call("GET", "/audit", params={"limit": 1000}).json()["items"]
    mine = [r for r in franks if r["outcome"] == "denied" and r["secret"] == ref]
    assert mine and all(r["secret_id"] is None and r["detail"].endswith(" 404") for r in mine)
    # Anonymous refusals stay off the chain.
    with httpx.Client(base_url=stack.url, timeout=30) as anonymous:
        before = len(cast.alice.call("GET", "/audit", params={"limit": 1000}).json()["items"])
        assert anonymous.get(f"{API}/secrets/{name}", params={"owner": owner}).status_code == 401
        assert len(cast.alice.call("GET", "/audit", params={"limit": 1000}).json()["items"]) == before


def test_admins_do_not_add_members_to_groups_they_do_not_manage(
    stack: Stack, cast: Cast, shared: tuple[str, str, str]
) -> None:
    """A group carries grants; admins get no secret through one, neither joining nor adding a puppet."""
    ref, group, _ = shared
    with stack.client() as admin:
        for user in ("admin", cast.frank.name):
            resp = admin.put(f"{API}/groups/{group}/members", json={"user": user})
            assert (resp.status_code, resp.json()["code"]) == (403, "forbidden"), resp.text
        assert admin.get(f"{API}/groups/{group}").status_code == 200  # admins still see groups...
        resp = admin.delete(f"{API}/groups/{group}/members/{cast.erin.name}")
        assert resp.status_code == 204  # ...and may take members out (that only lowers access)
        members = {m["user"] for m in admin.get(f"{API}/groups/{group}").json()["members"]}
        assert members == {cast.alice.name}
        assert (
            admin.get(f"{API}/secrets/{ref.split('/')[1]}", params={"owner": cast.alice.name}).status_code
            == 404
        )
        # Nor invite: an invitation is a manager's act, and an admin who does not manage the group is not.
        resp = admin.put(f"{API}/groups/{group}/members", json={"user": cast.frank.name, "role": "manager"})
        assert resp.status_code == 403
        resp = admin.delete(f"{API}/groups/{group}/invitations/{cast.frank.name}")
        assert resp.status_code == 403
        # An admin's own group is theirs to fill, directly (admins may list users: no name is news).
        own = unique("admins")
        assert admin.post(f"{API}/groups", json={"name": own}).status_code == 201
        added = admin.put(f"{API}/groups/{own}/members", json={"user": cast.frank.name})
        assert (added.status_code, added.json()["status"]) == (200, "member"), added.text
        unknown = admin.put(f"{API}/groups/{own}/members", json={"user": unique("nobody")})
        assert (unknown.status_code, unknown.json()["message"]) == (404, "no such user")
    assert ref not in cast.frank.listing()
    assert cast.frank.call("GET", "/invitations").json() == []


def test_group_membership_changes_take_effect_at_the_next_launch(
    cast: Cast, shared: tuple[str, str, str]
) -> None:
    ref, group, v = shared
    assert cast.erin.value_of(ref) == [v]
    pending = cast.erin.launched(ref)
    assert cast.alice.call("DELETE", f"/groups/{group}/members/{cast.erin.name}").status_code == 204
    assert ref not in cast.erin.listing()
    assert cast.erin.launch(ref).status_code == 404
    err = refused(cast.erin, pending)
    assert (err.status_code, err.code) == (403, "access_revoked")

    # Joined as a manager, frank gets the group's level and may invite others; a plain member may not.
    joined(cast.alice, group, cast.frank, role="manager")
    assert cast.frank.listing()[ref] == "use"
    assert cast.frank.value_of(ref) == [v]
    joined(cast.frank, group, cast.erin)
    assert cast.erin.value_of(ref) == [v]
    assert cast.erin.collection("PUT", f"/groups/{group}/members", user=cast.bob.name).status_code == 403
    # A non-member cannot tell the group exists.
    outside = cast.carol.collection("PUT", f"/groups/{group}/members", user=cast.carol.name)
    nowhere = cast.carol.collection("PUT", f"/groups/{unique('nogroup')}/members", user=cast.carol.name)
    assert outside.status_code == 404 and outside.json() == nowhere.json()
    assert (
        cast.carol.call("GET", f"/groups/{group}").json()
        == cast.carol.call("GET", f"/groups/{unique('nogroup')}").json()
    )
    members = {m["user"]: m["role"] for m in cast.frank.call("GET", f"/groups/{group}").json()["members"]}
    assert members == {cast.alice.name: "manager", cast.frank.name: "manager", cast.erin.name: "member"}


# --- invitations (issue 12, security finding 8) -------------------------------------------------------


def test_a_pending_invitation_grants_nothing_and_only_the_invited_person_joins(
    cast: Cast, shared: tuple[str, str, str]
) -> None:
    """A manager's add is an invitation: until bob accepts, the group's grant does not reach him (no
    listing, no launch), he is not among its members, and nobody else can accept it for him."""
    ref, group, v = shared
    invited = cast.alice.collection("PUT", f"/groups/{group}/members", user=cast.bob.name)
    assert invited.status_code == 202 and invited.json() == {
        "group": group,
        "user": cast.bob.name,
        "role": "member",
        "status": "invited",
    }
    cast.alice.call("DELETE", f"/secrets/{ref.split('/')[1]}/grants/user/{cast.bob.name}")  # only the group's
    pending = cast.bob.call("GET", "/invitations").json()
    assert [(i["group"], i["role"], i["invited_by"]) for i in pending] == [(group, "member", cast.alice.name)]
    assert ref not in cast.bob.listing()
    launch = cast.bob.launch(ref)
    assert (launch.status_code, launch.json()["code"]) == (404, "not_found"), launch.text
    assert cast.bob.name not in {
        m["user"] for m in cast.alice.call("GET", f"/groups/{group}").json()["members"]
    }
    assert cast.bob.call("GET", f"/groups/{group}").status_code == 404
    # Someone else's invitation is no invitation: frank cannot accept or decline bob's.
    elsewhere = unique("g")
    for method, tail in (("POST", "/accept"), ("DELETE", "")):
        theirs = cast.frank.call(method, f"/invitations/{group}{tail}")
        nowhere = cast.frank.call(method, f"/invitations/{elsewhere}{tail}")
        assert theirs.status_code == 404 and named_alike(theirs, nowhere, group, elsewhere), theirs.text
    assert cast.frank.call("GET", "/invitations").json() == []

    accepted = cast.bob.call("POST", f"/invitations/{group}/accept")
    assert accepted.status_code == 200 and accepted.json() == {"name": group, "role": "member"}
    assert cast.bob.listing()[ref] == "use" and cast.bob.value_of(ref) == [v]
    assert cast.bob.call("GET", "/invitations").json() == []
    assert cast.bob.call("POST", f"/invitations/{group}/accept").status_code == 404  # spent


def test_an_invitation_answers_alike_for_every_name_and_is_on_the_record(
    cast: Cast, shared: tuple[str, str, str]
) -> None:
    """The answer to a manager (and the record in the manager's own audit view) is the same for a name
    that exists and one that does not; so is withdrawing an invitation and removing a non-member."""
    _, group, _ = shared
    nobody = unique("nobody")
    real = cast.alice.collection("PUT", f"/groups/{group}/members", user=cast.carol.name, role="manager")
    fake = cast.alice.collection("PUT", f"/groups/{group}/members", user=nobody, role="manager")
    assert real.status_code == fake.status_code == 202
    assert named_alike(real, fake, cast.carol.name, nobody)
    for who in (cast.carol.name, nobody):
        gone = cast.alice.call("DELETE", f"/groups/{group}/invitations/{who}")
        assert gone.status_code == 204 and gone.content == b""
    not_member = cast.alice.call("DELETE", f"/groups/{group}/members/{cast.frank.name}")
    no_one = cast.alice.call("DELETE", f"/groups/{group}/members/{nobody}")
    assert not_member.status_code == 404 and named_alike(not_member, no_one, cast.frank.name, nobody)
    assert cast.carol.call("GET", "/invitations").json() == []  # withdrawn
    assert cast.carol.call("POST", f"/invitations/{group}/accept").status_code == 404

    records = cast.alice.call("GET", "/audit", params={"limit": 1000}).json()["items"]
    mine = [(r["action"], r["detail"]) for r in records if f"group={group} " in (r["detail"] or "") + " "]
    for who in (cast.carol.name, nobody):
        assert ("group.invite", f"group={group} user={who} role=manager") in mine
        assert ("group.invite.withdraw", f"group={group} user={who}") in mine

    # A member's role changes at once (the manager sees the members: nothing to learn there).
    promoted = cast.alice.collection("PUT", f"/groups/{group}/members", user=cast.erin.name, role="manager")
    assert (promoted.status_code, promoted.json()["status"]) == (200, "member")
    members = {m["user"]: m["role"] for m in cast.alice.call("GET", f"/groups/{group}").json()["members"]}
    assert members[cast.erin.name] == "manager"


def test_declining_leaves_the_person_out_and_each_step_is_audited(
    stack: Stack, cast: Cast, shared: tuple[str, str, str]
) -> None:
    ref, group, _ = shared
    assert cast.alice.collection("PUT", f"/groups/{group}/members", user=cast.frank.name).status_code == 202
    assert cast.frank.call("DELETE", f"/invitations/{group}").status_code == 204
    assert cast.frank.call("GET", "/invitations").json() == []
    assert cast.frank.call("POST", f"/invitations/{group}/accept").status_code == 404
    assert ref not in cast.frank.listing()
    joined(cast.alice, group, cast.dave)
    with stack.client() as admin:
        records = admin.get(f"{API}/audit", params={"limit": 1000}).json()["items"]
    steps = {(r["actor"], r["action"], r["detail"]) for r in records}
    assert (cast.alice.name, "group.invite", f"group={group} user={cast.frank.name} role=member") in steps
    assert (cast.frank.name, "group.invite.decline", f"group={group}") in steps
    assert (cast.dave.name, "group.invite.accept", f"group={group} role=member") in steps


# --- projects -------------------------------------------------------------------------------------------


@pytest.fixture
def project(cast: Cast) -> str:
    name = unique("proj")
    assert cast.alice.collection("POST", "/projects", name=name).status_code == 201
    resp = cast.alice.collection("PUT", f"/projects/{name}/members", user=cast.bob.name)
    assert resp.status_code == 200, resp.text
    return name


def test_project_scoped_secret_goes_only_into_its_project_by_members(
    cast: Cast, project: str, value: Callable[[str], str]
) -> None:
    name, v = unique("proj-db"), value("project")
    created = cast.alice.add(name, v, project=project)
    assert created["project"] == project
    ref = f"{cast.alice.name}/{name}"
    cast.alice.share(name, "use", user=cast.bob.name)  # a member
    cast.alice.share(name, "use", user=cast.carol.name)  # not a member

    outside = cast.bob.launch(ref)
    assert (outside.status_code, outside.json()["code"]) == (403, "project_scope")
    other = unique("other-proj")
    assert cast.bob.collection("POST", "/projects", name=other).status_code == 201
    assert cast.bob.launch(ref, project=other).json()["code"] == "project_scope"
    assert cast.bob.value_of(ref, project=project) == [v]
    assert cast.alice.launch(name).json()["code"] == "project_scope"
    assert cast.alice.value_of(name, project=project) == [v]

    # A grantee who is not a member: not with the project, not without it.
    missing_project = cast.carol.launch(ref, project=unique("no-such-proj"))
    not_member = cast.carol.launch(ref, project=project)
    assert not_member.status_code == 404 and not_member.json() == missing_project.json()
    assert cast.carol.launch(ref).json()["code"] == "project_scope"

    # An unscoped secret may go into a project session; the project's list of members is private.
    plain = unique("plain")
    cast.alice.add(plain, value("plain"))
    assert len(cast.alice.value_of(plain, project=project)) == 1
    assert (
        cast.carol.call("GET", f"/projects/{project}").json()
        == cast.carol.call("GET", f"/projects/{unique('no-such-proj')}").json()
    )
    members = {m["user"]: m["role"] for m in cast.bob.call("GET", f"/projects/{project}").json()["members"]}
    assert members == {cast.alice.name: "owner", cast.bob.name: "member"}


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_projects_example_in_the_docs_runs_as_written(
    stack: Stack, tmp_path: Path, value: Callable[[str], str]
) -> None:
    """Issue 12, new-user finding 5: docs/sharing.md's project example, command by command, as the
    users it names (alice, bob; carol, a member without a grant, for the claim after it). Only the
    program after `--` is swapped for one that checks the file's hash."""
    text = (DOCS / "sharing.md").read_text()
    block = text[text.index("alice$ sealbox project create") :].split("```")[0]
    steps = [line.split("$ ", 1) for line in block.strip().splitlines()]
    assert [who for who, _ in steps] == ["alice", "alice", "alice", "alice", "bob"]
    people = {}
    for who in ("alice", "bob", "carol"):
        with stack.client() as admin:
            created = admin.post(f"{API}/users", json={"name": who})
        assert created.status_code == 201, created.text
        people[who] = logged_in(Person(stack=stack, name=who, token=created.json()["token"]), tmp_path)
    key = value("warehouse-key")
    digest = hashlib.sha256(key.encode()).hexdigest()
    for who, command in steps:
        argv = shlex.split(command)
        assert argv[0] == "sealbox"
        if "--" in argv:
            argv = [*argv[: argv.index("--") + 1], sys.executable, "-c", CHECK_FILE, "warehouse_key", digest]
        people[who].ok(*argv[1:], stdin=key)  # only `secret add` reads stdin: the value
    # The claims after the example: no project, no run; a member without a grant, no run either.
    bob_elsewhere = people["bob"].run("run", "--secret", "alice/warehouse_key", "--", "true")
    assert bob_elsewhere.returncode != 0 and "project_scope" in bob_elsewhere.stderr, bob_elsewhere.stderr
    people["alice"].ok("project", "add", "churn-model", "carol")
    carols = people["carol"].run(
        "run", "--project", "churn-model", "--secret", "alice/warehouse_key", "--", "true"
    )
    assert carols.returncode != 0 and "not_found" in carols.stderr, carols.stderr


def test_only_members_create_secrets_in_a_project(
    cast: Cast, project: str, value: Callable[[str], str]
) -> None:
    v = value("not-member")
    into_project = cast.frank.call(
        "POST", "/secrets", json={"name": unique("x"), "value": v, "project": project}
    )
    into_nowhere = cast.frank.call(
        "POST", "/secrets", json={"name": unique("x"), "value": v, "project": unique("no-such-proj")}
    )
    assert into_project.status_code == 404
    assert into_project.json() == into_nowhere.json()  # a non-member cannot tell the project exists
    assert "owner" not in cast.frank.listing().values()  # nothing was created
    member = cast.bob.call("POST", "/secrets", json={"name": unique("x"), "value": v, "project": project})
    assert member.status_code == 201 and member.json()["project"] == project
    # Only owners change a project's members; members get 403, strangers 404.
    assert cast.bob.collection("PUT", f"/projects/{project}/members", user=cast.frank.name).status_code == 403
    assert (
        cast.frank.collection("PUT", f"/projects/{project}/members", user=cast.frank.name).status_code == 404
    )


def test_removing_a_member_from_the_project_stops_the_next_redemption(
    cast: Cast, project: str, value: Callable[[str], str]
) -> None:
    """Like a revoked grant: a session credential issued before the member left is refused afterwards."""
    name, v = unique("proj-db"), value("project-leaver")
    cast.alice.add(name, v, project=project)
    ref = f"{cast.alice.name}/{name}"
    cast.alice.share(name, "use", user=cast.bob.name)
    session = cast.bob.launched(ref, project=project)
    assert cast.alice.call("DELETE", f"/projects/{project}/members/{cast.bob.name}").status_code == 204
    assert cast.bob.launch(ref, project=project).status_code == 404
    err = refused(cast.bob, session)
    assert (err.status_code, err.code) == (403, "access_revoked")


# --- the CLI --------------------------------------------------------------------------------------------


@dataclass
class CliUser:
    person: Person
    config: Path

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            sealbox_cmd(*args),
            input=stdin,
            text=True,
            capture_output=True,
            env=base_env(SEALBOX_CONFIG=str(self.config)),
            timeout=120,
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert find_in_bytes((proc.stdout + proc.stderr).encode(), VALUES) == []
        return proc

    def ok(self, *args: str, stdin: str = "") -> str:
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout


def logged_in(person: Person, root: Path) -> CliUser:
    cli = CliUser(person=person, config=root / person.name / "config.toml")
    out = cli.run("login", person.stack.url, "--token", "-", stdin=person.token + "\n")
    assert out.returncode == 0, out.stderr
    return cli


CHECK_FILE = (
    "import hashlib, os, sys; "
    "p = os.path.join(os.environ['SEALBOX_SECRETS_DIR'], sys.argv[1]); "
    "sys.exit(0 if hashlib.sha256(open(p, 'rb').read()).hexdigest() == sys.argv[2] else 3)"
)


def together(*calls: Callable[[], str]) -> list[str]:
    """Independent CLI commands side by side: each `python -m sealbox` costs about a second."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_cli_share_unshare_grants_groups_and_projects(
    cast: Cast, tmp_path: Path, value: Callable[[str], str]
) -> None:
    name, group, project, v = unique("cli-db"), unique("cli-team"), unique("cli-proj"), value("cli")
    cast.alice.add(name, v)
    ref = f"{cast.alice.name}/{name}"
    with ThreadPoolExecutor(2) as pool:
        alice, bob = pool.map(lambda p: logged_in(p, tmp_path), (cast.alice, cast.bob))

    assert "you are its manager" in alice.ok("group", "create", group)
    assert "they join when they accept" in alice.ok("group", "add", group, cast.bob.name)
    pending = json.loads(bob.ok("group", "invitations", "--json"))
    assert [(i["group"], i["role"], i["invited_by"]) for i in pending] == [(group, "member", cast.alice.name)]
    assert f"you are now a member of group {group}" in bob.ok("group", "accept", group)
    listed, shown = together(
        lambda: bob.ok("group", "ls", "--json"), lambda: alice.ok("group", "show", group, "--json")
    )
    assert {"name": group, "role": "member"} in json.loads(listed)
    assert {m["user"]: m["role"] for m in json.loads(shown)["members"]} == {
        cast.alice.name: "manager",
        cast.bob.name: "member",
    }

    together(
        lambda: alice.ok("secret", "share", name, "--group", group, "--level", "use"),
        lambda: alice.ok("secret", "share", name, "--user", cast.carol.name, "--level", "write"),
    )
    grants = json.loads(alice.ok("secret", "grants", name, "--json"))
    assert {(g["grantee_type"], g["grantee"], g["level"]) for g in grants} == {
        ("group", group, "use"),
        ("user", cast.carol.name, "write"),
    }
    # `sealbox run --secret alice/NAME` works for bob, through the group; the child checks the value's hash.
    digest = hashlib.sha256(v.encode()).hexdigest()
    bob.ok("run", "--secret", ref, "--", sys.executable, "-c", CHECK_FILE, name, digest)

    alice.ok("group", "rm", group, cast.bob.name)
    denied, unshared = together(
        lambda: bob.run("run", "--secret", ref, "--", sys.executable, "-c", "pass").stderr,
        lambda: alice.ok("secret", "unshare", name, "--user", cast.carol.name),
    )
    assert denied.startswith("error:"), denied
    assert "revoked" in unshared
    assert ref not in cast.carol.listing() and ref not in cast.bob.listing()

    assert "you are its owner" in alice.ok("project", "create", project)
    alice.ok("project", "add", project, cast.bob.name, "--role", "member")
    listed, shown = together(
        lambda: bob.ok("project", "ls", "--json"), lambda: bob.ok("project", "show", project, "--json")
    )
    assert {"name": project, "role": "member"} in json.loads(listed)
    assert {m["user"] for m in json.loads(shown)["members"]} == {cast.alice.name, cast.bob.name}
    alice.ok("project", "rm", project, cast.bob.name)
    assert project not in {p["name"] for p in cast.bob.call("GET", "/projects").json()}
