"""Service accounts (issue 5, "Service accounts"), against real server and keeper processes.

An admin gives a platform service a token and a list of purposes (kinds and/or secret names). The
service fetches a secret's value on behalf of a user who may use it, through its own endpoint, and
puts the value together itself from the server's half and the keeper's half (`Client.fetch_secret`).
Anything the user may not use is 404, exactly like a secret that does not exist; anything outside the
service's purposes is 403; a person's token is refused there. Every fetch is audited with the service
as the actor and the user it acted for.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from sealbox import Client
from sealbox.errors import ClientError
from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import Stack, sealbox_cmd

API = "/api/v1"
AWS_KEY_ID = "AKIA" + "0123456789ABCDEF"
VALUES: list[str] = []


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Account:
    stack: Stack
    name: str
    token: str = field(repr=False)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.stack.client(self.token) as api:
            resp = api.request(method, f"{API}{path}", **kwargs)
        assert find_in_bytes(resp.content, VALUES) == [], (method, path)
        return resp

    def fetch(self, ref: str, *, on_behalf_of: str, field: str | None = None) -> str:
        with Client(self.stack.url, self.token) as client:
            return client.fetch_secret(
                ref, on_behalf_of=on_behalf_of, field=field, keeper_url=self.stack.keeper.url
            )

    def refused(self, ref: str, *, on_behalf_of: str, field: str | None = None) -> httpx.Response:
        """The service endpoint's answer to a fetch that must be refused (nothing to redeem)."""
        resp = self.call(
            "POST",
            "/service/sessions",
            json={"on_behalf_of": on_behalf_of, "secrets": [{"name": ref, "field": field}]},
        )
        assert resp.status_code >= 400, resp.text
        assert "session_credential" not in resp.json()
        return resp


def new_user(stack: Stack, prefix: str) -> Account:
    name = unique(prefix)
    with stack.client() as admin:
        resp = admin.post(f"{API}/users", json={"name": name})
    assert resp.status_code == 201, resp.text
    return Account(stack=stack, name=name, token=resp.json()["token"])


def new_service(stack: Stack, prefix: str, *, kinds: list[str], names: list[str] | None = None) -> Account:
    name = unique(prefix)
    with stack.client() as admin:
        resp = admin.post(
            f"{API}/service-accounts", json={"name": name, "kinds": kinds, "names": names or []}
        )
    assert resp.status_code == 201, resp.text
    return Account(stack=stack, name=name, token=resp.json()["token"])


@dataclass
class World:
    alice: Account  # owns the secrets
    bob: Account  # may use alice's aws secret
    carol: Account  # may use nothing of alice's
    s3: Account  # a service for aws secrets
    gitsvc: Account  # a service for one named token secret
    aws: str  # alice's aws secret (name)
    aws_secret_key: str
    generic: str  # alice's generic secret (name)
    generic_value: str


@pytest.fixture(scope="module", autouse=True)
def no_value_in_logs(stack: Stack) -> Iterator[None]:
    yield
    assert find_in_bytes(stack.logs(), VALUES) == []


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    alice, bob, carol = (new_user(stack, n) for n in ("alice", "bob", "carol"))
    aws, generic = unique("aws"), unique("gh")
    key, value = make_canary("svc-aws"), make_canary("svc-generic")
    VALUES.extend([key, value])
    for body in (
        {"name": aws, "kind": "aws", "fields": {"access_key_id": AWS_KEY_ID, "secret_access_key": key}},
        {"name": generic, "kind": "generic", "value": value},
    ):
        assert alice.call("POST", "/secrets", json=body).status_code == 201
    resp = alice.call("POST", f"/secrets/{aws}/grants", json={"user": bob.name, "level": "use"})
    assert resp.status_code == 201, resp.text
    return World(
        alice=alice,
        bob=bob,
        carol=carol,
        s3=new_service(stack, "s3-gateway", kinds=["aws"]),
        gitsvc=new_service(stack, "git-sync", kinds=[], names=[generic]),
        aws=aws,
        aws_secret_key=key,
        generic=generic,
        generic_value=value,
    )


def test_allowed_kind_fetches_the_value_for_the_owner_and_for_a_grantee(world: World) -> None:
    ref = f"{world.alice.name}/{world.aws}"
    owner_view = world.s3.fetch(world.aws, on_behalf_of=world.alice.name, field="secret_access_key")
    assert owner_view == world.aws_secret_key
    assert world.s3.fetch(ref, on_behalf_of=world.bob.name, field="access_key_id") == AWS_KEY_ID
    assert world.s3.fetch(ref, on_behalf_of=world.bob.name, field="secret_access_key") == world.aws_secret_key


def test_allowed_name_fetches_that_secret_only(world: World) -> None:
    assert world.gitsvc.fetch(world.generic, on_behalf_of=world.alice.name) == world.generic_value
    resp = world.gitsvc.refused(world.aws, on_behalf_of=world.alice.name, field="secret_access_key")
    assert (resp.status_code, resp.json()["code"]) == (403, "purpose_not_allowed")


def test_kind_not_allowed_is_403(world: World) -> None:
    resp = world.s3.refused(world.generic, on_behalf_of=world.alice.name)
    assert (resp.status_code, resp.json()["code"]) == (403, "purpose_not_allowed")
    with pytest.raises(ClientError) as caught:
        world.s3.fetch(world.generic, on_behalf_of=world.alice.name)
    assert caught.value.status_code == 403


def test_on_behalf_of_a_user_who_may_not_use_it_is_404_like_a_missing_secret(world: World) -> None:
    ref, nowhere = f"{world.alice.name}/{world.aws}", f"{world.alice.name}/{unique('aws')}"
    denied = world.s3.refused(ref, on_behalf_of=world.carol.name, field="secret_access_key")
    missing = world.s3.refused(nowhere, on_behalf_of=world.carol.name, field="secret_access_key")
    assert denied.status_code == 404
    # Alike but for the name each asked for, which the answer repeats as written (issue 12).
    assert denied.json()["message"] == f'no such secret "{ref}", or not one you may use'
    assert denied.text.replace(ref, "NAME") == missing.text.replace(nowhere, "NAME")
    # Bob's access, not the service's, decides: after a revoke the same fetch is 404 too.
    secret_name = world.aws
    resp = world.alice.call(
        "POST", f"/secrets/{secret_name}/grants", json={"user": world.carol.name, "level": "use"}
    )
    assert resp.status_code == 201
    assert world.s3.fetch(ref, on_behalf_of=world.carol.name, field="access_key_id") == AWS_KEY_ID
    assert (
        world.alice.call("DELETE", f"/secrets/{secret_name}/grants/user/{world.carol.name}").status_code
        == 200
    )
    revoked = world.s3.refused(ref, on_behalf_of=world.carol.name, field="secret_access_key")
    assert revoked.status_code == 404 and revoked.json() == denied.json()
    # Unknown users and service accounts are nobody to act for.
    for who in (unique("nobody"), world.gitsvc.name):
        resp = world.s3.refused(ref, on_behalf_of=who, field="access_key_id")
        assert resp.status_code == 404


def test_person_tokens_get_403_on_the_service_endpoint(stack: Stack, world: World) -> None:
    for person in (world.alice, world.bob, Account(stack=stack, name="admin", token=stack.admin_token)):
        resp = person.refused(world.aws, on_behalf_of=world.alice.name, field="secret_access_key")
        assert (resp.status_code, resp.json()["code"]) == (403, "not_a_service_account")
        with pytest.raises(ClientError) as caught, Client(stack.url, person.token) as client:
            client.fetch_secret(world.aws, on_behalf_of=world.alice.name, keeper_url=stack.keeper.url)
        assert caught.value.status_code == 403


def test_only_admins_create_service_accounts(stack: Stack, world: World) -> None:
    resp = world.alice.call("POST", "/service-accounts", json={"name": unique("svc"), "kinds": ["aws"]})
    assert resp.status_code == 403
    resp = world.s3.call("POST", "/service-accounts", json={"name": unique("svc"), "kinds": ["aws"]})
    assert resp.status_code == 403


def test_cli_adds_a_service_account_that_can_fetch(stack: Stack, world: World) -> None:
    name = unique("spawner")
    out = subprocess.run(
        sealbox_cmd("admin", "service", "add", name, "--kind", "aws", "--secret", world.generic),
        env=stack.env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    svc = Account(stack=stack, name=name, token=out.stdout.strip())
    assert svc.fetch(world.generic, on_behalf_of=world.alice.name) == world.generic_value
    ref = f"{world.alice.name}/{world.aws}"
    assert svc.fetch(ref, on_behalf_of=world.bob.name, field="secret_access_key") == world.aws_secret_key


def test_every_fetch_is_audited_with_the_service_and_the_user(stack: Stack, world: World) -> None:
    ref = f"{world.alice.name}/{world.aws}"
    resp = world.s3.call(  # the first half of fetch_secret, to learn the session id
        "POST",
        "/service/sessions",
        json={"on_behalf_of": world.bob.name, "secrets": [{"name": ref, "field": "access_key_id"}]},
    )
    assert resp.status_code == 201, resp.text
    launch = resp.json()
    session_id = launch["session"]["id"]
    assert launch["session"]["owner"] == world.bob.name
    with HTTPClient(stack.url) as anonymous:
        delivered = redeem(
            anonymous,
            session_id=session_id,
            credential=launch["session_credential"],
            keeper_url=stack.keeper.url,
        )
    assert delivered.items[0].selected().decode() == AWS_KEY_ID

    with stack.client() as admin:
        rows = admin.get(f"{API}/audit", params={"session": session_id}).json()["items"]
    by_action = {r["action"]: r for r in rows}
    created = by_action["session.create"]
    assert (created["actor"], created["on_behalf_of"], created["outcome"]) == (
        world.s3.name,
        world.bob.name,
        "success",
    )
    assert created["secret"] == world.aws and created["version"] == 1
    assert "service-fetch" in (created["detail"] or "")
    redeemed = by_action["session.redeem"]
    assert (redeemed["on_behalf_of"], redeemed["outcome"], redeemed["secret"]) == (
        world.bob.name,
        "success",
        world.aws,
    )
    # The user sees what was fetched on their behalf; the secret's owner sees it too.
    for who in (world.bob, world.alice):
        mine = who.call("GET", "/audit", params={"session": session_id}).json()["items"]
        assert {r["action"] for r in mine} >= {"session.create", "session.redeem"}
        assert all(r["on_behalf_of"] == world.bob.name for r in mine)
    # Someone else sees nothing of it.
    assert world.carol.call("GET", "/audit", params={"session": session_id}).json()["items"] == []
