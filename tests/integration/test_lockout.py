"""A flood of bad credentials locks nobody out (TEST-PLAN T30; issue 12, finding 4).

Before: twenty made-up tokens from one address made that address answer 429 to valid tokens for a
minute (behind an ingress or a trusted proxy, that is everyone), and twenty wrong secrets under
somebody's token id (a token id is no secret) locked that person out. Now the credential is checked
first: a valid one is never refused by a count, and failures past the limit are answered 429.

The flood runs against real server processes on SQLite and on PostgreSQL, from one loopback address,
while valid users on the same address use the hot reads, FastAPI routes, a write and the web sign-in.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.support.processes import Stack

API = "/api/v1"
FLOOD = 1000
LIMIT = 20  # SEALBOX_AUTH_FAILURE_LIMIT's default
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture(params=["stack", "pg_stack"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    found: Stack = request.getfixturevalue(request.param)
    return found


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def shared_address() -> str:
    """The address everybody comes from (an ingress, a proxy): one of loopback's own."""
    return f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(256)}.{secrets.randbelow(250) + 2}"


def client(stack: Stack, address: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.Client(
        base_url=stack.url,
        timeout=60,
        headers=headers,
        follow_redirects=False,
        transport=httpx.HTTPTransport(local_address=address),
    )


@pytest.fixture
def people(any_stack: Stack) -> Iterator[list[tuple[str, str, str]]]:
    """Three users, each with a token and a secret of their own: (name, token, secret name)."""
    found = []
    with any_stack.client() as admin:
        for _ in range(3):
            name = unique("crowd")
            created = admin.post(f"{API}/users", json={"name": name})
            assert created.status_code == 201, created.text
            token = created.json()["token"]
            secret = unique("s")
            with any_stack.client(token) as own:
                own.post(f"{API}/secrets", json={"name": secret, "value": "v"}).raise_for_status()
            found.append((name, token, secret))
    yield found


def _bad_credentials(victim_token: str) -> list[dict[str, str]]:
    """What an attacker sends: garbage, well-formed unknown tokens, wrong secrets under a real token's id
    (to lock its owner out), no credentials at all."""
    victim_id = victim_token.split("_")[1]
    return [
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer sbx_{'a' * 16}_{secrets.token_urlsafe(32)}"},
        {"Authorization": f"Bearer sbx_{victim_id}_{secrets.token_urlsafe(32)}"},
        {"Authorization": f"Bearer sbx_{victim_id.upper()}_{secrets.token_urlsafe(32)}"},
        {},
    ]


def _web_sign_in(web: httpx.Client, token: str) -> int:
    page = web.get("/web/login")
    match = CSRF.search(page.text)
    assert page.status_code == 200 and match, page.status_code
    return web.post("/web/login", data={"csrf": match.group(1), "token": token}).status_code


def test_a_flood_of_bad_credentials_from_a_shared_address_locks_no_valid_user_out(
    any_stack: Stack, people: list[tuple[str, str, str]]
) -> None:
    address = shared_address()
    victim_token = people[0][1]
    flood: Counter[int] = Counter()
    valid: list[tuple[str, int]] = []
    done = threading.Event()
    started = time.time()

    def attack() -> None:
        try:
            with client(any_stack, address) as attacker:
                for i in range(FLOOD):
                    bad = _bad_credentials(victim_token)[i % 5]
                    path = (f"{API}/me", f"{API}/secrets", f"{API}/tokens")[i % 3]
                    flood[attacker.get(path, headers=bad).status_code] += 1
                    if i % 100 == 0:  # and the web sign-in form, with a made-up token
                        flood[_web_sign_in(attacker, f"sbx_{'b' * 16}_{'c' * 43}")] += 1
        finally:
            done.set()

    def use(name: str, token: str, secret: str) -> None:
        with client(any_stack, address, token) as me, client(any_stack, address) as web:
            while True:
                last = done.is_set()
                for path in (f"{API}/me", f"{API}/secrets", f"{API}/secrets/{secret}", f"{API}/tokens"):
                    valid.append((path, me.get(path).status_code))
                valid.append(("POST /tokens", me.post(f"{API}/tokens", json={"name": "t"}).status_code))
                valid.append(("web sign-in", _web_sign_in(web, token)))
                if last:
                    return

    attacker = threading.Thread(target=attack)
    users = [threading.Thread(target=use, args=person) for person in people]
    attacker.start()
    for thread in users:
        thread.start()
    attacker.join(timeout=600)
    for thread in users:
        thread.join(timeout=120)
    assert done.is_set() and not attacker.is_alive() and not any(t.is_alive() for t in users)
    minutes = int(time.time() // 60) - int(started // 60) + 1  # failure counts start afresh each minute

    # Valid users on the flooded address: 0 refusals.
    refused = [(path, status) for path, status in valid if status not in (200, 201, 303)]
    assert refused == [], refused[:20]
    assert len(valid) >= 3 * 6
    # The flood: at most the limit's worth of 401s a minute; every other attempt slowed with 429.
    assert sum(flood.values()) >= FLOOD and set(flood) <= {401, 429}, flood
    assert flood[401] <= LIMIT * minutes, flood
    assert flood[429] >= sum(flood.values()) - LIMIT * minutes, flood
    # Wrong secrets under the victim's token id are slowed from anywhere once that id's bucket is full;
    # the victim, from anywhere, is not.
    victim_id = victim_token.split("_")[1]
    if time.time() % 60 > 40:  # the next 21 guesses in one counting minute
        time.sleep(60 - time.time() % 60 + 0.3)
    for _ in range(LIMIT):
        with client(any_stack, shared_address(), f"sbx_{victim_id}_{secrets.token_urlsafe(32)}") as guess:
            guess.get(f"{API}/me")
    with client(any_stack, shared_address(), f"sbx_{victim_id}_{secrets.token_urlsafe(32)}") as guess:
        assert guess.get(f"{API}/me").status_code == 429
    with client(any_stack, shared_address(), victim_token) as victim:
        assert victim.get(f"{API}/me").json()["name"] == people[0][0]
    with client(any_stack, address, victim_token) as victim:
        assert victim.get(f"{API}/me").json()["name"] == people[0][0]


def _redeem_body(credential: str) -> dict[str, str]:
    return {"credential": credential, "public_key": base64.b64encode(b"\x09" * 32).decode()}


def test_made_up_session_credentials_add_a_bounded_number_of_records_and_lock_no_launch_out(
    any_stack: Stack, people: list[tuple[str, str, str]]
) -> None:
    """Refused redemptions were each an audit record, with no bound: now a refusal past the limit (per
    address and minute) is a 429 with no record, and a valid credential from that address still works."""
    _, token, secret = people[0]
    with any_stack.client(token) as own:
        made = own.post(f"{API}/sessions", json={"secrets": [{"name": secret, "file": "f"}]})
    assert made.status_code == 201, made.text
    session_id, credential = made.json()["session"]["id"], made.json()["session_credential"]
    address = shared_address()
    started = time.time()
    statuses: Counter[int] = Counter()
    with client(any_stack, address) as anonymous:
        for i in range(200):
            target = session_id if i % 2 else uuid.uuid4().hex
            made_up = f"sbl_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
            resp = anonymous.post(f"{API}/sessions/{target}/redeem", json=_redeem_body(made_up))
            statuses[resp.status_code] += 1
            if resp.status_code == 429:
                assert int(resp.headers["Retry-After"]) >= 0
        # The valid credential, from the same address, in the same minute: redeemed.
        valid = anonymous.post(f"{API}/sessions/{session_id}/redeem", json=_redeem_body(credential))
    assert valid.status_code == 200, valid.text
    minutes = int(time.time() // 60) - int(started // 60) + 1
    assert set(statuses) <= {401, 429} and statuses[401] <= LIMIT * minutes, statuses
    assert statuses[429] >= 200 - LIMIT * minutes
    # The record holds the refusals that were answered 401, and nothing for the 429s.
    refused = 0
    cursor: int | None = None
    with any_stack.client() as admin:
        while True:
            since = datetime.fromtimestamp(started - 5, UTC).isoformat()
            params: dict[str, str | int] = {"limit": 500, "since": since}
            if cursor is not None:
                params["cursor"] = cursor
            page = admin.get(f"{API}/audit", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            refused += sum(
                1
                for r in body["items"]
                if r["action"] == "session.redeem"
                and r["outcome"] == "denied"
                and r["client_addr"] == address
            )
            cursor = body["next_cursor"]
            if cursor is None:
                break
    assert refused == statuses[401], (refused, statuses)
