"""Personal access tokens and the audit trail, as a user relies on them (TEST-PLAN T8, T14 single-user, T16).

Tokens are shown once, stored only as hashes, stop working the moment they are revoked or expire, and
never appear in the database file or the audit log. Every change leaves an audit row without a value.
"""

from __future__ import annotations

import base64
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack

API = "/api/v1"
Canary = Callable[[str], str]

# Every token this module sees: none may show up in the database file, the audit rows or the logs.
ISSUED: list[str] = []


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def issue(api: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    resp = api.post(f"{API}/tokens", json={"name": name, **extra})
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    ISSUED.append(data["token"])
    return data


def secret_of(token: str) -> str:
    """The secret part of `sbx_<id>_<secret>` (the secret may itself hold underscores)."""
    prefix, token_id, secret = token.split("_", 2)
    assert prefix == "sbx" and len(token_id) == 16 and len(secret) >= 43, "not a sealbox token"
    return secret


def fresh_address() -> str:
    """A loopback address of its own (all of 127/8 reaches the server)."""
    return f"127.{secrets.randbelow(254) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def elsewhere(stack: Stack, authorization: bytes | None = None, address: str | None = None) -> httpx.Client:
    """A client on its own loopback address.

    Failed sign-ins are rate-limited per client address (20 a minute, T16), and a limited address is
    refused even with a good token; so every request expected to fail authentication comes from an
    address of its own, and 127.0.0.1, which the other tests use, stays clean.
    """
    headers = [] if authorization is None else [(b"Authorization", authorization)]
    return httpx.Client(
        base_url=stack.url,
        timeout=10,
        headers=headers,
        transport=httpx.HTTPTransport(local_address=address or fresh_address()),
    )


def me(stack: Stack, token: str) -> httpx.Response:
    with elsewhere(stack, f"Bearer {token}".encode()) as client:
        return client.get(f"{API}/me")


def db_path(stack: Stack) -> Path:
    return stack.data_dir / "sealbox.db"


def read_only(stack: Stack) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db_path(stack)}?mode=ro", uri=True)


def db_bytes(stack: Stack) -> bytes:
    """The database file with its WAL and shared-memory files: everything a copy of the data dir holds."""
    parts = [p for p in sorted(stack.data_dir.iterdir()) if p.name.startswith("sealbox.db") and p.is_file()]
    return b"".join(p.read_bytes() for p in parts)


# --- authentication ---------------------------------------------------------------------------------------


def test_missing_garbage_or_malformed_authorization_is_401_alike(stack: Stack, api: httpx.Client) -> None:
    token = issue(api, unique("malformed-base"))["token"]
    token_id, secret_part = token.removeprefix("sbx_").split("_", 1)
    wrong_secret = secret_part[:-1] + ("A" if secret_part[-1] != "A" else "B")
    values: list[bytes | None] = [
        None,
        b"",
        b"Bearer",
        b"Bearer garbage",
        b"Basic YWRtaW46cGFzc3dvcmQ=",
        f"Basic {token}".encode(),
        token.encode(),
        f"Bearer {token}x".encode(),
        f"Bearer {token[:-1]}".encode(),
        f"Bearer sbx_{token_id}_{wrong_secret}".encode(),
        f"Bearer sbx_{'a' * 16}_{secret_part}".encode(),
        f"Bearer {token.upper()}".encode(),
        f"Bearer {token} {token}".encode(),
        f"Bearer {'x' * 8000}".encode(),
        "Bearer sbx_\u00e9\u00e9".encode(),
        b"Bearer \xff\xfe",
    ]
    answers = set()
    for value in values:
        with elsewhere(stack, value) as anonymous:
            for method, path in (("GET", f"{API}/secrets"), ("GET", f"{API}/me"), ("POST", f"{API}/tokens")):
                resp = anonymous.request(method, path, json={"name": "x"} if method == "POST" else None)
                assert resp.status_code == 401, (value, path, resp.text)
                assert resp.headers["www-authenticate"] == "Bearer"
                assert resp.headers["cache-control"] == "no-store"
                assert token not in resp.text and secret_part not in resp.text
                answers.add(resp.content)
    assert len(answers) == 1, answers
    with elsewhere(stack, f"bearer {token}".encode()) as lower_scheme:
        assert lower_scheme.get(f"{API}/me").status_code == 200


def test_failed_sign_ins_are_rate_limited_per_address_and_identity(stack: Stack, api: httpx.Client) -> None:
    # Stay inside one rate-limit minute.
    if time.time() % 60 > 57:
        time.sleep(60 - time.time() % 60 + 0.1)
    victim = issue(api, unique("limited"))["token"]
    address = fresh_address()
    for _ in range(20):
        with elsewhere(stack, b"Bearer garbage", address) as client:
            assert client.get(f"{API}/me").status_code == 401
    with elsewhere(stack, b"Bearer garbage", address) as client:
        limited = client.get(f"{API}/me")
    assert limited.status_code == 429, limited.text
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["cache-control"] == "no-store"
    # Other addresses are not affected.
    assert me(stack, victim).status_code == 200

    # Per identity: guesses at one token id from many addresses, in upper and lower case, share a bucket.
    token_id, secret_part = victim.removeprefix("sbx_").split("_", 1)
    for i in range(20):
        guessed = f"sbx_{token_id.upper() if i % 2 else token_id}_{'Z' * 43}"
        with elsewhere(stack, f"Bearer {guessed}".encode()) as client:
            assert client.get(f"{API}/me").status_code == 401
    with elsewhere(stack, f"Bearer sbx_{token_id}_{'Y' * 43}".encode()) as client:
        assert client.get(f"{API}/me").status_code == 429
    assert secret_part not in stack.logs().decode(errors="replace")


# --- issue, list, use, revoke -----------------------------------------------------------------------------


def test_token_is_shown_once_works_and_dies_when_revoked(stack: Stack, api: httpx.Client) -> None:
    name = unique("laptop")
    issued = issue(api, name)
    token = issued["token"]
    assert token.startswith("sbx_")
    assert set(issued) == {"id", "name", "created_at", "expires_at", "revoked_at", "token"}
    assert issued["name"] == name and issued["revoked_at"] is None and issued["expires_at"] is None
    assert issued["id"] in token

    listed = api.get(f"{API}/tokens")
    assert listed.status_code == 200
    assert token not in listed.text and secret_of(token) not in listed.text
    mine = [t for t in listed.json() if t["id"] == issued["id"]]
    assert len(mine) == 1 and "token" not in mine[0] and mine[0]["name"] == name

    works = me(stack, token)
    assert works.status_code == 200
    assert works.json()["name"] == "admin"
    with stack.client(token) as as_new:
        secret = unique("via-new-token")
        assert as_new.post(f"{API}/secrets", json={"name": secret, "value": "v"}).status_code == 201
        assert api.get(f"{API}/secrets/{secret}").status_code == 200  # the same user

    revoked = api.delete(f"{API}/tokens/{issued['id']}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert "token" not in revoked.json()
    # At once: the very next request with it fails.
    gone = me(stack, token)
    assert gone.status_code == 401
    assert gone.json()["code"] == "unauthenticated"
    # Revoking again changes nothing; the token stays dead; the list shows it revoked.
    again = api.delete(f"{API}/tokens/{issued['id']}")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert me(stack, token).status_code == 401
    listed_after = {t["id"]: t for t in api.get(f"{API}/tokens").json()}
    assert listed_after[issued["id"]]["revoked_at"] is not None
    # The token used to revoke keeps working.
    assert api.get(f"{API}/me").status_code == 200


def test_a_token_can_revoke_itself(stack: Stack, api: httpx.Client) -> None:
    issued = issue(api, unique("self"))
    with elsewhere(stack, f"Bearer {issued['token']}".encode()) as own:
        assert own.delete(f"{API}/tokens/{issued['id']}").status_code == 200
        assert own.get(f"{API}/me").status_code == 401


@pytest.fixture(scope="module")
def expired_tokens(stack: Stack) -> list[str]:
    """Tokens issued to expire two seconds later, once that time has passed (the one wait here).

    Several, because failed attempts are also limited per token id (20 a minute).
    """
    with stack.client() as api:
        expires = datetime.now(UTC) + timedelta(seconds=2)
        issued = [issue(api, unique("short"), expires_at=expires.isoformat()) for _ in range(8)]
        assert datetime.fromisoformat(issued[0]["expires_at"]) == expires
        assert me(stack, issued[0]["token"]).status_code == 200
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.3)
    return [str(t["token"]) for t in issued]


def test_expired_token_is_401(stack: Stack, expired_tokens: list[str]) -> None:
    expired = me(stack, expired_tokens[0])
    assert expired.status_code == 401
    assert expired.json() == me(stack, "sbx_" + "a" * 16 + "_" + "b" * 43).json()


# Routes anyone may call, and routes that take a one-time credential in the body instead of a bearer
# token. Every other route the server serves (also ones added later) must refuse a dead identity.
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
BODY_CREDENTIAL = {
    ("POST", "/api/v1/sessions/{session_id}/redeem"),
    ("POST", "/api/v1/sessions/{session_id}/failures"),
    ("POST", "/api/v1/sessions/{session_id}/roles"),
}
# A made-up session credential with every field those routes may ask for: it must buy nothing.
JUNK_CREDENTIAL = {
    "credential": "junk-" + "x" * 40,
    "public_key": base64.b64encode(b"\x01" * 32).decode(),
    "code": "integrity_error",
    "secret": "alice/role",
    "role_arn": "arn:aws:iam::123456789012:role/junk",
    "duration_seconds": 900,
}
ADMIN = {("GET", "/api/v1/users"), ("POST", "/api/v1/users")}
CORE = {
    ("POST", "/api/v1/secrets"),
    ("GET", "/api/v1/secrets"),
    ("GET", "/api/v1/secrets/{name}"),
    ("PATCH", "/api/v1/secrets/{name}"),
    ("DELETE", "/api/v1/secrets/{name}"),
    ("PUT", "/api/v1/secrets/{name}/value"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
}


def served_routes(api: httpx.Client) -> set[tuple[str, str]]:
    spec = api.get(f"{API}/openapi.json").json()
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "a" * 16, path.replace("{name}", "some-name"))


def test_route_matrix_refuses_every_dead_identity(
    stack: Stack, api: httpx.Client, expired_tokens: list[str]
) -> None:
    routes = served_routes(api)
    assert routes >= CORE | ADMIN | PUBLIC, sorted((CORE | ADMIN | PUBLIC) - routes)
    bearer_routes = sorted(routes - PUBLIC - BODY_CREDENTIAL)
    per_token = 10  # attempts per dead token id, well under the limit of 20 a minute
    assert len(bearer_routes) <= per_token * len(expired_tokens), "issue more expired tokens"
    revoked = [issue(api, unique("matrix-revoked")) for _ in range(len(bearer_routes) // per_token + 1)]
    for item in revoked:
        assert api.delete(f"{API}/tokens/{item['id']}").status_code == 200

    for i, (method, path) in enumerate(bearer_routes):
        identities: dict[str, bytes | None] = {
            "anonymous": None,
            "garbage": b"Bearer garbage",
            "expired": f"Bearer {expired_tokens[i // per_token]}".encode(),
            "revoked": f"Bearer {revoked[i // per_token]['token']}".encode(),
        }
        bodies = set()
        with elsewhere(stack) as client:  # four failures from this address, well under its limit
            for who, authorization in identities.items():
                headers = [] if authorization is None else [(b"Authorization", authorization)]
                resp = client.request(method, concrete(path), json={}, headers=headers)
                assert resp.status_code == 401, (who, method, path, resp.text)
                bodies.add(resp.content)
        assert len(bodies) == 1, (method, path, bodies)
    for method, path in sorted(routes & BODY_CREDENTIAL):
        with elsewhere(stack) as client:
            for body in ({}, JUNK_CREDENTIAL):
                resp = client.request(method, concrete(path), json=body)
                assert 400 <= resp.status_code < 500, (method, path, resp.text)
    with elsewhere(stack) as client:
        for method, path in sorted(routes & PUBLIC):
            assert client.request(method, path).status_code == 200

    # A user who is not an admin is refused the admin routes.
    plain = stack.add_user(unique("plain").lower())
    ISSUED.append(plain)
    with stack.client(plain) as user:
        for method, path in sorted(routes & ADMIN):
            resp = user.request(method, path, json={"name": unique("nope").lower()})
            assert resp.status_code == 403, (method, path, resp.text)
            assert resp.json()["code"] == "forbidden"
        assert user.get(f"{API}/me").json()["is_admin"] is False
    users = api.get(f"{API}/users")
    assert users.status_code == 200
    assert all("token" not in u for u in users.json())


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "expires_at": "2000-01-01T00:00:00Z"},
        {"name": "x", "expires_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()},
        {"name": "x", "expires_at": "2099-01-01T00:00:00"},
        {"name": ""},
        {"name": "   "},
        {"name": "a\nb"},
        {"name": "x" * 129},
        {"name": "x", "token": "sbx_chosen_by_me"},
        {},
    ],
    ids=["long-past", "just-past", "naive", "empty", "blank", "newline", "too-long", "own-value", "no-name"],
)
def test_bad_token_requests_are_4xx_and_issue_nothing(api: httpx.Client, body: dict[str, Any]) -> None:
    before = api.get(f"{API}/tokens").json()
    resp = api.post(f"{API}/tokens", json=body)
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["code"] in ("invalid_expiry", "invalid_name", "invalid_request")
    assert api.get(f"{API}/tokens").json() == before


def test_someone_elses_token_cannot_be_revoked(stack: Stack, api: httpx.Client) -> None:
    other = stack.add_user(unique("tokenowner").lower())
    ISSUED.append(other)
    with stack.client(other) as theirs:
        their_ids = [t["id"] for t in theirs.get(f"{API}/tokens").json()]
    assert len(their_ids) == 1
    attempt = api.delete(f"{API}/tokens/{their_ids[0]}")
    missing = api.delete(f"{API}/tokens/{'a' * 16}")
    assert attempt.status_code == missing.status_code == 404
    assert attempt.json() == missing.json()
    assert me(stack, other).status_code == 200
    # Nor seen: each user lists only their own tokens.
    assert their_ids[0] not in api.get(f"{API}/tokens").text
    with stack.client(other) as theirs:
        admin_ids = {t["id"] for t in api.get(f"{API}/tokens").json()}
        assert not admin_ids & {t["id"] for t in theirs.get(f"{API}/tokens").json()}
        for admin_id in admin_ids:
            assert theirs.delete(f"{API}/tokens/{admin_id}").status_code == 404
    assert api.get(f"{API}/me").status_code == 200


# --- at rest: hashes only; the audit log ------------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes(stack: Stack, api: httpx.Client) -> None:
    issue(api, unique("at-rest"))
    tokens = [stack.admin_token, *ISSUED]
    secret_parts = [secret_of(t) for t in tokens]
    with read_only(stack) as conn:
        rows = conn.execute("SELECT * FROM tokens").fetchall()
        columns = [d[0] for d in conn.execute("SELECT * FROM tokens").description]
    assert len(rows) >= len(tokens)
    assert "secret_hash" in columns
    for row in rows:
        text = repr(row).encode()
        assert find_in_bytes(text, tokens + secret_parts) == []
        for cell in row:
            if isinstance(cell, bytes):
                assert len(cell) == 32  # a SHA-256, not the secret part
                assert find_in_bytes(cell, secret_parts) == []
    assert find_in_bytes(db_bytes(stack), tokens + secret_parts) == []


def test_every_change_is_audited_without_values(stack: Stack, api: httpx.Client, canary: Canary) -> None:
    name = unique("audited")
    first, second = canary("audit1"), canary("audit2")
    created = api.post(f"{API}/secrets", json={"name": name, "value": first})
    assert created.status_code == 201
    secret_id = created.json()["id"]
    assert api.put(f"{API}/secrets/{name}/value", json={"value": second}).status_code == 200
    assert api.patch(f"{API}/secrets/{name}", json={"description": "rotated"}).status_code == 200
    assert api.delete(f"{API}/secrets/{name}").status_code == 204
    issued = issue(api, unique("audit-token"))
    assert api.delete(f"{API}/tokens/{issued['id']}").status_code == 200

    with read_only(stack) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM audit_events ORDER BY id")]
    for_secret = [r for r in rows if r["secret_id"] == secret_id]
    assert [(r["action"], r["version"]) for r in for_secret] == [
        ("secret.create", 1),
        ("secret.replace", 2),
        ("secret.update", 2),
        ("secret.delete", 2),
    ]
    admin_token_id = stack.admin_token.removeprefix("sbx_").split("_", 1)[0]
    for r in for_secret:
        assert r["actor_name"] == "admin"
        assert r["outcome"] == "success"
        assert r["token_id"] == admin_token_id
        assert r["client_addr"] == "127.0.0.1"
        assert r["at"]
        # The name as typed, or qualified by its owner ("admin/name").
        assert r["secret_name"] in (name, f"admin/{name}"), r["secret_name"]

    token_rows = [r for r in rows if r["action"].startswith("token.") and issued["id"] in (r["detail"] or "")]
    assert [r["action"] for r in token_rows] == ["token.create", "token.revoke"]
    assert all(r["actor_name"] == "admin" for r in token_rows)

    tokens = [stack.admin_token, *ISSUED]
    secret_parts = [secret_of(t) for t in tokens]
    leaked = find_in_bytes(repr(rows).encode(), [first, second, *tokens, *secret_parts])
    assert leaked == [], leaked


def test_issued_tokens_never_reach_the_logs(stack: Stack, api: httpx.Client) -> None:
    issued = issue(api, unique("log"))
    assert me(stack, issued["token"]).status_code == 200
    assert api.delete(f"{API}/tokens/{issued['id']}").status_code == 200
    assert me(stack, issued["token"]).status_code == 401
    marker = f"/flush-{uuid.uuid4().hex}"
    httpx.get(stack.url + marker, timeout=10)
    deadline = time.monotonic() + 10
    while marker.encode() not in stack.logs():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    secret_parts = [secret_of(t) for t in ISSUED]
    assert find_in_bytes(stack.logs(), ISSUED + secret_parts) == []
