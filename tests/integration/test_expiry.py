"""A secret past its `expires_at` (issue 12, new-user finding 4), against real server and keeper processes.

Such a secret is delivered nowhere: a launch by its owner or a grantee, a redemption of a session created
before it expired, a refresh of a live session, a service's fetch and `sealbox run` are all refused with
409 `secret_expired`, naming the secret as the caller wrote it. Its metadata still reads; `secret ls` and
`secret show` mark it, and so does the web page's list. Its owner moves or removes the expiry and it
works again. The expiry is set in the past in the SQLite file beside the running server (the API refuses
an expiry in the past), so no test waits for a clock.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealbox.errors import ClientError
from sealbox.launcher.redeem import Delivery, redeem
from sealbox.sdk.client import Client
from sealbox.transport import HTTPClient
from tests.support.processes import Stack, base_env, sealbox_cmd

API = "/api/v1"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Person:
    stack: Stack
    name: str
    token: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.stack.client(self.token) as api:
            return api.request(method, f"{API}{path}", **kwargs)

    def launch(self, ref: str) -> httpx.Response:
        return self.call("POST", "/sessions", json={"secrets": [{"name": ref, "file": "f"}]})

    def redeem(self, session_id: str, credential: str) -> Delivery:
        with HTTPClient(self.stack.url) as anonymous:
            return redeem(
                anonymous, session_id=session_id, credential=credential, keeper_url=self.stack.keeper.url
            )


def person(stack: Stack, prefix: str) -> Person:
    name = unique(prefix)
    with stack.client() as admin:
        resp = admin.post(f"{API}/users", json={"name": name})
    assert resp.status_code == 201, resp.text
    return Person(stack=stack, name=name, token=resp.json()["token"])


def expire(stack: Stack, secret_id: str) -> None:
    """Move the expiry into the past, in the database file (UTC, as the server stores it)."""
    with closing(sqlite3.connect(stack.data_dir / "sealbox.db", timeout=10)) as conn, conn:
        changed = conn.execute(
            "UPDATE secrets SET expires_at = ? WHERE id = ?", ("2001-02-03 04:05:00.000000", secret_id)
        ).rowcount
    assert changed == 1


def failed_redemptions(stack: Stack, session_id: str) -> list[str]:
    with closing(sqlite3.connect(f"file:{stack.data_dir / 'sealbox.db'}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT detail FROM audit_events WHERE action = 'session.redeem' AND outcome = 'failed'"
            " AND session_id = ?",
            (session_id,),
        )
        return [str(r[0]) for r in rows]


def refused_as_expired(resp: httpx.Response, ref: str) -> None:
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["code"] == "secret_expired"
    assert body["message"].startswith(f'secret "{ref}" expired at 2001-02-03 04:05 UTC'), body["message"]


@pytest.fixture
def expired(stack: Stack, canary: Callable[[str], str]) -> dict[str, Any]:
    """alice's secret, shared with bob at `use`, with sessions made before it expired; then expired."""
    alice, bob = person(stack, "alice"), person(stack, "bob")
    name, value = unique("expiring"), canary("expiring")
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    created = alice.call("POST", "/secrets", json={"name": name, "value": value, "expires_at": later})
    assert created.status_code == 201, created.text
    share = alice.call("POST", f"/secrets/{name}/grants", json={"user": bob.name, "level": "use"})
    assert share.status_code == 201, share.text
    running = alice.launch(name).json()  # redeemed now: a live session that will try to refresh
    assert [
        i.value.decode() for i in alice.redeem(running["session"]["id"], running["session_credential"]).items
    ] == [value]
    pending = bob.launch(f"{alice.name}/{name}").json()  # created now, redeemed after the expiry
    expire(stack, created.json()["id"])
    return {"alice": alice, "bob": bob, "name": name, "value": value, "running": running, "pending": pending}


def test_an_expired_secret_is_delivered_nowhere_and_each_refusal_names_it(
    stack: Stack, expired: dict[str, Any]
) -> None:
    alice, bob, name = expired["alice"], expired["bob"], expired["name"]
    ref = f"{alice.name}/{name}"
    refused_as_expired(alice.launch(name), name)
    refused_as_expired(bob.launch(ref), ref)
    assert alice.launch(name).json()["errors"][0]["field"] == "secrets[0]"

    # A session created before the expiry: its first redemption is refused, on the record.
    sid = expired["pending"]["session"]["id"]
    with pytest.raises(ClientError) as caught:
        bob.redeem(sid, expired["pending"]["session_credential"])
    assert (caught.value.status_code, caught.value.code) == (409, "secret_expired")
    assert ref in caught.value.message
    assert failed_redemptions(stack, sid) == [f"session={sid} reason=secret_expired"]

    # A live session's refresh (a fresh credential, redeemed) is refused too.
    running = expired["running"]["session"]["id"]
    fresh = alice.call("POST", f"/sessions/{running}/credentials")
    assert fresh.status_code == 201, fresh.text
    with pytest.raises(ClientError) as caught:
        alice.redeem(running, fresh.json()["session_credential"])
    assert (caught.value.status_code, caught.value.code) == (409, "secret_expired")

    # A service's fetch on the owner's behalf.
    with stack.client() as admin:
        svc = admin.post(f"{API}/service-accounts", json={"name": unique("svc"), "kinds": ["generic"]})
    assert svc.status_code == 201, svc.text
    with Client(stack.url, svc.json()["token"]) as client, pytest.raises(ClientError) as caught:
        client.fetch_secret(name, on_behalf_of=alice.name, keeper_url=stack.keeper.url)
    assert (caught.value.status_code, caught.value.code) == (409, "secret_expired")

    # The metadata still reads, with the expiry in the past.
    meta = alice.call("GET", f"/secrets/{name}").json()
    assert datetime.fromisoformat(meta["expires_at"]) < datetime.now(UTC)


def test_the_owner_removes_the_expiry_and_it_is_delivered_again(
    stack: Stack, expired: dict[str, Any]
) -> None:
    alice, bob, name = expired["alice"], expired["bob"], expired["name"]
    moved = alice.call("PATCH", f"/secrets/{name}", json={"clear_expiry": True})
    assert moved.status_code == 200 and moved.json()["expires_at"] is None, moved.text
    launch = bob.launch(f"{alice.name}/{name}")
    assert launch.status_code == 201, launch.text
    delivered = bob.redeem(launch.json()["session"]["id"], launch.json()["session_credential"])
    assert [i.value.decode() for i in delivered.items] == [expired["value"]]


def test_the_cli_and_the_web_list_mark_it_and_run_refuses_it(
    stack: Stack, expired: dict[str, Any], tmp_path: Path
) -> None:
    alice, name = expired["alice"], expired["name"]
    config = tmp_path / "config.toml"
    env = base_env(SEALBOX_CONFIG=str(config))

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            sealbox_cmd(*args), input=stdin, text=True, capture_output=True, env=env, timeout=120, check=False
        )

    assert cli("login", stack.url, "--token", "-", stdin=alice.token + "\n").returncode == 0
    listed = cli("secret", "ls")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(name))
    assert "2001-02-03 04:05:00 (expired)" in row
    shown = cli("secret", "show", name)
    assert "expires:      2001-02-03 04:05:00 (expired)" in shown.stdout, shown.stdout
    run = cli("run", "--secret", name, "--", "true")
    assert run.returncode != 0
    assert f'secret "{name}" expired at 2001-02-03 04:05 UTC' in run.stderr, run.stderr
    assert expired["value"] not in run.stdout + run.stderr + listed.stdout + shown.stdout

    with httpx.Client(base_url=stack.url, timeout=30) as web:
        page = web.get("/web/login")
        csrf = CSRF.search(page.text)
        assert csrf is not None
        assert web.post("/web/login", data={"csrf": csrf.group(1), "token": alice.token}).status_code == 303
        listing = web.get("/web/")
        one = web.get(f"/web/s/{alice.name}/{name}")
    assert listing.status_code == 200 and one.status_code == 200
    row_html = listing.text[listing.text.index(f">{name}</a>") :].split("</tr>")[0]
    assert ">expired</span>" in row_html
    assert "expired: sessions do not get it" in one.text
