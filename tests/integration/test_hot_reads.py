"""The hot reads (server/hot.py: one secret's metadata, the list, /me), each served by one handler,
on SQLite and PostgreSQL.

An unknown query parameter is ignored (as FastAPI's routes of these paths did before the one handler
replaced them): each case is asked twice, plain and with `x=1`, and the two answers must match in
status, JSON body and every header but the date. Cases: own, shared (`?owner=`) and foreign secrets,
missing ones, a bad name, no token, a malformed, a revoked and an expired token, list pages with cursor
and prefix, /me, and a service account. The answers to bad parameters are pinned as FastAPI gave them
(422 bodies, the last of a repeated parameter counting, authentication first), and so are the methods
these paths take.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.processes import Stack

API = "/api/v1"


@pytest.fixture(params=["stack", "pg_stack"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    found: Stack = request.getfixturevalue(request.param)
    return found


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def both(
    http: httpx.Client, path: str, params: dict[str, str] | None = None
) -> tuple[httpx.Response, httpx.Response]:
    hot = http.get(path, params=params)
    slow = http.get(path, params={**(params or {}), "x": "1"})
    return hot, slow


def assert_same(hot: httpx.Response, slow: httpx.Response) -> None:
    assert hot.status_code == slow.status_code, (hot.status_code, slow.status_code, hot.text, slow.text)
    assert hot.json() == slow.json()
    skip = {"date", "content-length", "x-request-id"}  # the request id is each request's own
    hot_headers = sorted((k, v) for k, v in hot.headers.multi_items() if k not in skip)
    slow_headers = sorted((k, v) for k, v in slow.headers.multi_items() if k not in skip)
    assert hot_headers == slow_headers
    assert hot.headers["cache-control"] == "no-store"


@pytest.fixture
def world(any_stack: Stack) -> Iterator[dict[str, object]]:
    other_name = unique("hot").lower()
    other = any_stack.add_user(other_name)
    with any_stack.client() as admin, any_stack.client(other) as guest:
        names = [unique("hot") for _ in range(3)]
        for n in names:
            admin.post(
                f"{API}/secrets", json={"name": n, "value": "v-" + n, "description": "é ✓"}
            ).raise_for_status()
        admin.put(f"{API}/secrets/{names[0]}/value", json={"value": "second"}).raise_for_status()
        admin.post(
            f"{API}/secrets/{names[1]}/grants", json={"user": other_name, "level": "use"}
        ).raise_for_status()
        yield {"stack": any_stack, "admin": admin, "guest": guest, "names": names, "other": other_name}


def test_metadata_reads_match(world: dict[str, object]) -> None:
    admin, guest = world["admin"], world["guest"]
    names = world["names"]
    assert isinstance(admin, httpx.Client) and isinstance(guest, httpx.Client) and isinstance(names, list)
    me = admin.get(f"{API}/me").json()["name"]
    cases = [
        (admin, f"{API}/secrets/{names[0]}", None, 200),
        (admin, f"{API}/secrets/{names[1]}", {"owner": me}, 200),
        (guest, f"{API}/secrets/{names[1]}", {"owner": me}, 200),  # shared: access "use"
        (guest, f"{API}/secrets/{names[2]}", {"owner": me}, 404),  # not shared: as if missing
        (guest, f"{API}/secrets/{names[0]}", None, 404),  # a name of someone else's, as one's own
        (admin, f"{API}/secrets/missing-{uuid.uuid4().hex}", None, 404),
        (admin, f"{API}/secrets/bad name", None, 400),
        (admin, f"{API}/secrets/{names[0]}", {"owner": "no such user!"}, 400),
    ]
    for client, path, params, status in cases:
        hot, slow = both(client, path, params)
        assert hot.status_code == status, (path, params, hot.text)
        assert_same(hot, slow)
    ok = admin.get(f"{API}/secrets/{names[0]}")
    assert ok.headers["etag"] == '"2"'
    assert [v["version"] for v in ok.json()["versions"]] == [2, 1]
    assert guest.get(f"{API}/secrets/{names[1]}", params={"owner": me}).json()["access"] == "use"


def test_lists_and_me_match(world: dict[str, object]) -> None:
    admin, guest = world["admin"], world["guest"]
    assert isinstance(admin, httpx.Client) and isinstance(guest, httpx.Client)
    for client in (admin, guest):
        assert_same(*both(client, f"{API}/me"))
        assert_same(*both(client, f"{API}/secrets"))
        first, slow = both(client, f"{API}/secrets", {"limit": "1", "prefix": "hot-"})
        assert_same(first, slow)
        cursor = first.json()["next_cursor"]
        if cursor:
            assert_same(*both(client, f"{API}/secrets", {"limit": "2", "cursor": cursor}))
        assert_same(*both(client, f"{API}/secrets", {"cursor": "%%%not-a-cursor"}))  # 400 from the service
    shared = guest.get(f"{API}/secrets").json()["items"]
    assert any(item["access"] == "use" for item in shared)


def test_parameters_at_their_edges_match(world: dict[str, object]) -> None:
    """TEST-PLAN T32 on the hot path: cursors of every shape, limits and prefixes at and past their
    bounds, owners of every shape; both paths answer alike, never a 5xx."""
    admin, names = world["admin"], world["names"]
    assert isinstance(admin, httpx.Client) and isinstance(names, list)
    cursors = ["", "a/b", "zzzz/zzzz", "A/b", "a/..", "a/b/c", "a" * 64 + "/" + "b" * 128, "a/" + "b" * 200]
    cursors += ["9223372036854775808", "2147483648", "%00", "\x00", "\u00e9/x", "a" * 65 + "/b"]
    limits = ["0", "1", "500", "501", "999", "1000", "-1", "1.0", "0100", "9" * 30, "", "2147483648"]
    prefixes = ["", "hot-", "a/b", "x" * 128, "x" * 129, "\x00", "é"]
    for cursor in cursors:
        hot, slow = both(admin, f"{API}/secrets", {"cursor": cursor})
        assert hot.status_code in (200, 400, 422), (cursor, hot.text)
        assert_same(hot, slow)
    for limit in limits:
        hot, slow = both(admin, f"{API}/secrets", {"limit": limit})
        assert hot.status_code in (200, 422), (limit, hot.text)
        assert_same(hot, slow)
    for prefix in prefixes:
        hot, slow = both(admin, f"{API}/secrets", {"prefix": prefix})
        assert hot.status_code in (200, 422), (prefix, hot.text)
        assert_same(hot, slow)
    for owner in ["", "a" * 64, "a" * 65, "A", "\x00", "é", "9223372036854775808"]:
        hot, slow = both(admin, f"{API}/secrets/{names[0]}", {"owner": owner})
        assert hot.status_code in (200, 400, 404, 422), (owner, hot.text)
        assert_same(hot, slow)


def _problems(resp: httpx.Response) -> list[dict[str, str | None]]:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert (body["code"], body["message"]) == ("invalid_request", "the request does not match the schema")
    problems: list[dict[str, str | None]] = body["errors"]
    return problems


def test_bad_parameters_answer_as_fastapi_did(world: dict[str, object]) -> None:
    """What FastAPI's routes of these paths answered, pinned for the one handler."""
    stack, admin, names = world["stack"], world["admin"], world["names"]
    assert isinstance(stack, Stack) and isinstance(admin, httpx.Client) and isinstance(names, list)
    secrets = f"{API}/secrets"
    for limit, problem in [
        ("0", "greater_than_equal: at least 1"),
        ("-1", "greater_than_equal: at least 1"),
        ("501", "less_than_equal: at most 500"),
        ("9" * 30, "less_than_equal: at most 500"),
        ("", "int_parsing"),
        ("0x10", "int_parsing"),
        ("1e2", "int_parsing"),
    ]:
        assert _problems(admin.get(secrets, params={"limit": limit})) == [
            {"field": "limit", "problem": problem}
        ]
    for limit in ("1.0", " 5", "+5", "1_0", "0100"):  # pydantic's lax integers, as before
        assert admin.get(secrets, params={"limit": limit}).status_code == 200, limit
    assert _problems(admin.get(secrets, params={"prefix": "a/b"})) == [
        {"field": "prefix", "problem": "string_pattern_mismatch"}
    ]
    assert _problems(admin.get(secrets, params={"limit": "0", "cursor": "a" * 300, "prefix": "x" * 129})) == [
        {"field": "limit", "problem": "greater_than_equal: at least 1"},
        {"field": "cursor", "problem": "string_too_long: at most 193 characters"},
        {"field": "prefix", "problem": "string_too_long: at most 128 characters"},
    ]
    assert admin.get(secrets, params=[("limit", "0"), ("limit", "5")]).status_code == 200  # the last counts
    assert admin.get(secrets, params=[("limit", "5"), ("limit", "0")]).status_code == 422
    assert _problems(admin.get(f"{secrets}/{names[0]}", params={"owner": "a" * 65})) == [
        {"field": "owner", "problem": "string_too_long: at most 64 characters"}
    ]
    assert admin.get(f"{API}/me", params={"limit": "0"}).status_code == 200  # /me takes no parameter
    with httpx.Client(base_url=stack.url, timeout=30) as anonymous:  # authentication first
        assert anonymous.get(secrets, params={"limit": "0"}).status_code == 401
        assert anonymous.get(f"{secrets}/{names[0]}", params={"owner": "a" * 65}).status_code == 401


def test_the_methods_of_the_read_paths(world: dict[str, object]) -> None:
    """GET only (no HEAD); other methods of the same paths are the other routes', 405 lists them all."""
    admin, names = world["admin"], world["names"]
    assert isinstance(admin, httpx.Client) and isinstance(names, list)
    allowed = {
        f"{API}/me": "GET, OPTIONS",
        f"{API}/secrets": "GET, POST, OPTIONS",
        f"{API}/secrets/{names[2]}": "DELETE, GET, PATCH, OPTIONS",
    }
    for path, allow in allowed.items():
        assert admin.options(path).headers["allow"] == allow
        head = admin.head(path)
        assert (head.status_code, head.headers["allow"]) == (405, allow)
        wrong = admin.put(path)
        assert (wrong.status_code, wrong.headers["allow"]) == (405, allow)
        assert wrong.json()["code"] == "method_not_allowed"
    assert admin.post(f"{API}/me").status_code == 405


def test_refusals_match(world: dict[str, object]) -> None:
    """401 for each kind of bad token, then 429 with Retry-After once the failure limit (20 a minute per
    address) is reached: the limit counts failures on both paths alike, and on both a valid token from
    the limited address still works (issue 12, finding 4). Last in the module: the stack's address stays
    limited for bad tokens for the rest of the minute."""
    stack, admin, names = world["stack"], world["admin"], world["names"]
    assert isinstance(stack, Stack) and isinstance(admin, httpx.Client) and isinstance(names, list)
    revoked = admin.post(f"{API}/tokens", json={"name": unique("revoked")}).json()
    admin.delete(f"{API}/tokens/{revoked['id']}").raise_for_status()
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    expiring = admin.post(f"{API}/tokens", json={"name": unique("expiring"), "expires_at": soon}).json()
    with stack.client(expiring["token"]) as short:
        assert short.get(f"{API}/me").status_code == 200
        time.sleep(2.5)
        assert_same(*both(short, f"{API}/me"))  # 2 failures
    bad = ({}, {"Authorization": "Bearer sbx_garbage"}, {"Authorization": f"Bearer {revoked['token']}"})
    for header in bad:
        with httpx.Client(base_url=stack.url, headers=header, timeout=30) as anon:
            for path in (f"{API}/secrets", f"{API}/secrets/{names[0]}"):  # 4 failures a header
                hot, slow = both(anon, path)
                assert hot.status_code == 401
                assert hot.headers["www-authenticate"] == "Bearer"
                assert hot.json()["code"] == "unauthenticated"
                assert_same(hot, slow)
    with httpx.Client(base_url=stack.url, headers=bad[1], timeout=30) as anon:
        statuses = [anon.get(f"{API}/me").status_code for _ in range(25)]
        assert statuses[-1] == 429 and set(statuses) == {401, 429}
        hot, slow = both(anon, f"{API}/secrets/{names[0]}")
        assert hot.status_code == slow.status_code == 429
        assert hot.json() == slow.json()
        assert abs(int(hot.headers["retry-after"]) - int(slow.headers["retry-after"])) <= 1
        assert "www-authenticate" not in hot.headers
    with stack.client() as good:  # a valid token from the limited address is not refused, on either path
        for path in (f"{API}/me", f"{API}/secrets/{names[0]}"):
            hot, slow = both(good, path)
            assert hot.status_code == slow.status_code == 200, (hot.text, slow.text)
