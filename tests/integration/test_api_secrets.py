"""The secrets API as a user relies on it, on SQLite and on PostgreSQL (TEST-PLAN T7, T14 single-user, T15).

Values go in and never come back: every response body and header is scanned for the submitted value
in any common encoding. A secret that belongs to someone else answers exactly like one that does not
exist.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.canaries import find_in_bytes, ssh_key_shaped
from tests.support.processes import Stack

API = "/api/v1/secrets"
Canary = Callable[[str], str]

# One extra user per running stack, made once through the real admin CLI (a subprocess costs ~1 s).
_OTHER_USERS: dict[str, str] = {}


@pytest.fixture(params=["stack", "pg_stack"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    """The module's SQLite stack, then its PostgreSQL stack."""
    found: Stack = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def api(any_stack: Stack) -> Iterator[httpx.Client]:
    with any_stack.client() as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def other_user_token(stack: Stack) -> str:
    if stack.url not in _OTHER_USERS:
        _OTHER_USERS[stack.url] = stack.add_user(unique("other").lower())
    return _OTHER_USERS[stack.url]


def raw_response(resp: httpx.Response) -> bytes:
    """Everything a client sees: status line, headers and body."""
    head = "".join(f"{k}: {v}\n" for k, v in resp.headers.multi_items())
    return f"{resp.status_code}\n{head}\n".encode() + resp.content


def assert_hidden(resp: httpx.Response, values: list[str]) -> None:
    hits = find_in_bytes(raw_response(resp), values)
    assert hits == [], f"{resp.request.method} {resp.request.url.path} returned a value: {hits}"


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["cache-control"] == "no-store"
    body: dict[str, Any] = resp.json()
    assert set(body) == {"code", "message", "errors"}
    if code is not None:
        assert body["code"] == code, body
    return body


def create(api: httpx.Client, name: str, **body: Any) -> httpx.Response:
    return api.post(API, json={"name": name, **body})


def all_names(api: httpx.Client, *, limit: int = 500, prefix: str | None = None) -> list[str]:
    names: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if prefix is not None:
            params["prefix"] = prefix
        page = api.get(API, params=params)
        assert page.status_code == 200, page.text
        data = page.json()
        names.extend(item["name"] for item in data["items"])
        cursor = data["next_cursor"]
        if cursor is None:
            return names


def snapshot(api: httpx.Client, name: str) -> dict[str, Any] | None:
    """A secret's full metadata, or None when it does not exist."""
    resp = api.get(f"{API}/{name}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _aws_key_id() -> str:
    return "AKIA" + secrets.token_hex(8).upper()


def _kind_cases(canary: Canary) -> list[tuple[str, dict[str, Any], list[str], list[str]]]:
    """(kind label, request body, values that must never come back, expected field names)."""
    text = canary("generic")
    in_bytes = canary("bytes")
    raw = b"\x00\xff\xfe" + in_bytes.encode() + b"\x80\n"
    tok = canary("token")
    ssh = canary("ssh")
    ssh_value = ssh_key_shaped(ssh)
    key_id, aws_secret, aws_session = _aws_key_id(), canary("awssecret"), canary("awssession")
    db_pw, db_url_pw = canary("dbpw"), canary("dburl")
    return [
        ("generic", {"value": text}, [text], []),
        (
            "bytes",
            {"value_base64": base64.b64encode(raw).decode()},
            [in_bytes],
            [],
        ),
        ("token", {"kind": "token", "value": tok}, [tok], []),
        ("ssh-key", {"kind": "ssh-key", "value": ssh_value}, [ssh], []),
        (
            "aws",
            {
                "kind": "aws",
                "fields": {
                    "access_key_id": key_id,
                    "secret_access_key": aws_secret,
                    "session_token": aws_session,
                    "region": "eu-west-1",
                },
            },
            [key_id, aws_secret, aws_session],
            ["access_key_id", "region", "secret_access_key", "session_token"],
        ),
        (
            "database-url",
            {"kind": "database", "fields": {"url": f"postgresql://app:{db_url_pw}@db.internal:5432/prod"}},
            [db_url_pw],
            ["url"],
        ),
        (
            "database-parts",
            {
                "kind": "database",
                "fields": {
                    "host": "db.internal",
                    "port": "5432",
                    "user": "app",
                    "password": db_pw,
                    "dbname": "prod",
                },
            },
            [db_pw],
            ["dbname", "host", "password", "port", "user"],
        ),
    ]


# --- create, read, list: values never come back ---------------------------------------------------------


def test_every_kind_is_stored_and_its_value_never_comes_back(api: httpx.Client, canary: Canary) -> None:
    stored: list[tuple[str, list[str]]] = []
    for label, body, hidden, field_names in _kind_cases(canary):
        name = unique(label)
        created = create(api, name, description=f"a {label} secret", **body)
        assert created.status_code == 201, (label, created.text)
        assert_hidden(created, hidden)
        data = created.json()
        assert data["name"] == name
        assert data["kind"] == body.get("kind", "generic")
        assert data["fields"] == field_names
        assert data["current_version"] == 1
        assert [v["version"] for v in data["versions"]] == [1]
        assert data["versions"][0]["size"] > 0
        assert "value" not in data and "value_base64" not in data
        assert created.headers["etag"] == '"1"'
        assert created.headers["location"] == f"{API}/{name}"
        stored.append((name, hidden))

    everything = [v for _, hidden in stored for v in hidden]
    for name, _ in stored:
        shown = api.get(f"{API}/{name}")
        assert shown.status_code == 200
        assert_hidden(shown, everything)
    listed = api.get(API, params={"limit": 500})
    assert listed.status_code == 200
    assert_hidden(listed, everything)
    assert {n for n, _ in stored} <= {item["name"] for item in listed.json()["items"]}
    assert all(item["versions"] is None for item in listed.json()["items"])


def test_bytes_value_keeps_its_exact_size(api: httpx.Client) -> None:
    raw = bytes(range(256)) * 3
    name = unique("bin")
    created = create(api, name, value_base64=base64.b64encode(raw).decode())
    assert created.status_code == 201, created.text
    assert created.json()["versions"][0]["size"] == len(raw)


# --- listing ----------------------------------------------------------------------------------------------


def test_list_pages_through_every_secret_once_in_name_order(any_stack: Stack) -> None:
    token = any_stack.add_user(unique("lister").lower())
    prefixes = ["app-", "app.", "app_", "App", "db-", "z"]
    names = [f"{prefixes[i % len(prefixes)]}{i:03d}" for i in range(250)]
    with any_stack.client(token) as api:

        def add(name: str) -> int:
            return create(api, name, value=f"v-{name}").status_code

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert set(pool.map(add, names)) == {201}

        seen: list[str] = []
        pages: list[int] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 100}
            if cursor is not None:
                params["cursor"] = cursor
            resp = api.get(API, params=params)
            assert resp.status_code == 200, resp.text
            page = resp.json()
            pages.append(len(page["items"]))
            seen.extend(item["name"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == [100, 100, 50]
        assert seen == sorted(names)
        assert len(set(seen)) == len(seen) == 250

        expected = sorted(n for n in names if n.startswith("app-"))
        assert all_names(api, limit=7, prefix="app-") == expected
        assert all_names(api, prefix="App") == sorted(n for n in names if n.startswith("App"))
        assert all_names(api, prefix="nothing-here") == []
        # Case matters: "app" is not "App".
        assert not any(n.startswith("App") for n in all_names(api, prefix="app"))

        assert_error(api.get(API, params={"limit": 0}), 422)
        assert_error(api.get(API, params={"limit": 501}), 422)
        assert_error(api.get(API, params={"prefix": "a/b"}), 422)
        # A cursor that does not decode to a name is refused, not a 500.
        assert_error(api.get(API, params={"cursor": "_w"}), 400, "invalid_cursor")
        long_cursor = base64.urlsafe_b64encode(b"x" * 200).decode().rstrip("=")
        assert_error(api.get(API, params={"cursor": long_cursor}), 422)  # longer than any OWNER/NAME
        for bad in ("", "Alice/x", "alice/..", "alice", "alice/b/c"):
            assert_error(api.get(API, params={"cursor": bad}), 400, "invalid_cursor")
        # Any OWNER/NAME is a position in (owner, name) order, whether or not such a secret exists.
        assert api.get(API, params={"cursor": "zzzz/zzzz"}).json() == {"items": [], "next_cursor": None}


# --- versions, replace, If-Match --------------------------------------------------------------------------


def test_replace_makes_a_new_version_with_an_etag(api: httpx.Client, canary: Canary) -> None:
    name = unique("rep")
    first, second = canary("v1"), canary("v2")
    assert create(api, name, value=first).status_code == 201
    shown = api.get(f"{API}/{name}")
    assert shown.headers["etag"] == '"1"'
    assert [v["version"] for v in shown.json()["versions"]] == [1]

    replaced = api.put(f"{API}/{name}/value", json={"value": second}, headers={"If-Match": '"1"'})
    assert replaced.status_code == 200, replaced.text
    assert_hidden(replaced, [first, second])
    assert replaced.headers["etag"] == '"2"'
    data = replaced.json()
    assert data["current_version"] == 2
    assert [v["version"] for v in data["versions"]] == [2, 1]
    assert data["versions"][0]["size"] == len(second)

    again = api.get(f"{API}/{name}")
    assert again.headers["etag"] == '"2"'
    assert_hidden(again, [first, second])
    assert again.json()["current_version"] == 2

    # Without If-Match, or with "*", the replace is unconditional.
    assert api.put(f"{API}/{name}/value", json={"value": canary("v3")}).status_code == 200
    star = api.put(f"{API}/{name}/value", json={"value": canary("v4")}, headers={"If-Match": "*"})
    assert star.status_code == 200
    assert star.headers["etag"] == '"4"'


def test_stale_if_match_is_a_conflict_and_changes_nothing(api: httpx.Client, canary: Canary) -> None:
    name = unique("lost")
    assert create(api, name, value=canary("a")).status_code == 201
    assert api.put(f"{API}/{name}/value", json={"value": canary("b")}).status_code == 200
    before = snapshot(api, name)

    stale = api.put(f"{API}/{name}/value", json={"value": canary("c")}, headers={"If-Match": '"1"'})
    assert_error(stale, 409, "version_conflict")
    future = api.put(f"{API}/{name}/value", json={"value": canary("d")}, headers={"If-Match": "99"})
    assert_error(future, 409, "version_conflict")
    assert snapshot(api, name) == before

    for bad in ("abc", '"1", "2"', "-1", "1.5"):
        assert_error(api.put(f"{API}/{name}/value", json={"value": "x"}, headers={"If-Match": bad}), 400)
    assert snapshot(api, name) == before

    weak = api.put(f"{API}/{name}/value", json={"value": canary("e")}, headers={"If-Match": 'W/"2"'})
    assert weak.status_code == 200, weak.text
    assert weak.json()["current_version"] == 3


def test_only_the_last_ten_versions_are_kept(api: httpx.Client, canary: Canary) -> None:
    name = unique("keep")
    assert create(api, name, value=canary("k0")).status_code == 201
    for i in range(12):
        resp = api.put(f"{API}/{name}/value", json={"value": canary(f"k{i + 1}")})
        assert resp.status_code == 200, resp.text
    data = snapshot(api, name)
    assert data is not None
    assert data["current_version"] == 13
    assert [v["version"] for v in data["versions"]] == list(range(13, 3, -1))


def test_replace_validates_the_value_for_the_kind(api: httpx.Client, canary: Canary) -> None:
    name = unique("awsrep")
    body = {"access_key_id": _aws_key_id(), "secret_access_key": canary("s1")}
    assert create(api, name, kind="aws", fields=body).status_code == 201
    before = snapshot(api, name)
    assert_error(api.put(f"{API}/{name}/value", json={"value": canary("plain")}), 400, "invalid_value")
    assert_error(
        api.put(f"{API}/{name}/value", json={"fields": {**body, "bogus": "x"}}), 400, "invalid_field"
    )
    assert_error(api.put(f"{API}/{name}/value", json={}), 400, "invalid_value")
    assert snapshot(api, name) == before
    ok = api.put(f"{API}/{name}/value", json={"fields": {**body, "region": "us-east-1"}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["fields"] == ["access_key_id", "region", "secret_access_key"]


# --- metadata ---------------------------------------------------------------------------------------------


def test_update_description_and_expiry(api: httpx.Client, canary: Canary) -> None:
    name = unique("meta")
    assert create(api, name, value=canary("m"), description="old").status_code == 201

    described = api.patch(f"{API}/{name}", json={"description": "new words"})
    assert described.status_code == 200, described.text
    assert described.json()["description"] == "new words"
    assert described.json()["current_version"] == 1
    assert described.json()["expires_at"] is None

    when = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    expiring = api.patch(f"{API}/{name}", json={"expires_at": when.isoformat()})
    assert expiring.status_code == 200, expiring.text
    assert datetime.fromisoformat(expiring.json()["expires_at"]) == when
    assert expiring.json()["description"] == "new words"

    before = snapshot(api, name)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert_error(api.patch(f"{API}/{name}", json={"expires_at": past}), 400, "invalid_expiry")
    naive = (datetime.now() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    # RFC 3339 needs an offset: the OpenAPI format date-time, refused as the schema says (422).
    assert_error(api.patch(f"{API}/{name}", json={"expires_at": naive}), 422)
    assert_error(api.patch(f"{API}/{name}", json={"description": "x" * 1025}), 422)
    assert snapshot(api, name) == before

    cleared = api.patch(f"{API}/{name}", json={"clear_expiry": True})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["expires_at"] is None
    assert cleared.json()["description"] == "new words"
    assert cleared.json()["current_version"] == 1


def test_create_with_expiry(api: httpx.Client, canary: Canary) -> None:
    name = unique("exp")
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    created = create(api, name, value=canary("e"), expires_at=when.isoformat())
    assert created.status_code == 201, created.text
    assert datetime.fromisoformat(created.json()["expires_at"]) == when

    past_name = unique("past")
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    assert_error(create(api, past_name, value=canary("p"), expires_at=past), 400, "invalid_expiry")
    assert snapshot(api, past_name) is None


def test_delete_then_gone(api: httpx.Client, canary: Canary) -> None:
    name = unique("del")
    assert create(api, name, value=canary("d")).status_code == 201
    deleted = api.delete(f"{API}/{name}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    never = unique("never")
    cases: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", "", None),
        ("DELETE", "", None),
        ("PUT", "/value", {"value": "x"}),
        ("PATCH", "", {"description": "x"}),
    ]
    for method, suffix, body in cases:
        gone = api.request(method, f"{API}/{name}{suffix}", json=body)
        assert_error(gone, 404, "not_found")
        # A deleted secret answers exactly like one that never existed.
        assert _comparable(gone) == _comparable(api.request(method, f"{API}/{never}{suffix}", json=body))
    assert name not in all_names(api, prefix=name)
    # In its recovery window the name stays taken; purged, it is free again and starts over at version 1.
    assert_error(create(api, name, value=canary("d2")), 409, "name_held_by_deleted_secret")
    assert api.delete(f"{API}/{name}", params={"purge": "true"}).status_code == 204
    again = create(api, name, value=canary("d2"))
    assert again.status_code == 201
    assert again.json()["current_version"] == 1
    assert [v["version"] for v in again.json()["versions"]] == [1]


# --- another user's secret is indistinguishable from a missing one ----------------------------------------


def _comparable(resp: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted(
        (k, v) for k, v in resp.headers.multi_items() if k not in ("date", "server", "x-request-id")
    )
    return resp.status_code, resp.content, headers


def test_another_users_secret_answers_like_a_missing_one(any_stack: Stack, canary: Canary) -> None:
    owner_value = canary("owned")
    name, missing = unique("mine"), unique("missing")
    with any_stack.client() as owner, any_stack.client(other_user_token(any_stack)) as other:
        assert create(owner, name, value=owner_value, description="owner's").status_code == 201
        before = snapshot(owner, name)

        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "{}", {}),
            ("PUT", "{}/value", {"json": {"value": canary("steal")}}),
            ("PUT", "{}/value", {"json": {"value": canary("steal")}, "headers": {"If-Match": '"1"'}}),
            ("PATCH", "{}", {"json": {"description": "mine now"}}),
            ("PATCH", "{}", {"json": {"clear_expiry": True}}),
            ("DELETE", "{}", {}),
            ("DELETE", "{}", {"params": {"purge": "true"}}),
            ("POST", "{}/restore", {}),
        ]
        for method, path, kwargs in requests:
            foreign = other.request(method, f"{API}/" + path.format(name), **kwargs)
            absent = other.request(method, f"{API}/" + path.format(missing), **kwargs)
            assert_error(foreign, 404, "not_found")
            assert _comparable(foreign) == _comparable(absent), (method, path)
            assert_hidden(foreign, [owner_value])

        assert name not in all_names(other)
        assert snapshot(owner, name) == before
        # Names are per owner: the other user may use the same name for their own secret.
        theirs = create(other, name, value=canary("theirs"))
        assert theirs.status_code == 201, theirs.text
        assert before is not None
        assert theirs.json()["owner"] != before["owner"]
        assert snapshot(owner, name) == before


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["", ".", "..", "a/b", "a b", "a\\b", "ünïcode", "a\x00b", "$(id)", "../etc", "x" * 129, "tab\t", "a:b"],
)
def test_bad_names_are_refused(api: httpx.Client, bad: str) -> None:
    assert_error(create(api, bad, value="v"), 400, "invalid_name")
    assert bad not in all_names(api)


def test_names_that_are_too_long_for_the_schema_are_a_4xx(api: httpx.Client) -> None:
    resp = api.post(API, json={"name": "x" * 5000, "value": "v"})
    assert resp.status_code in (400, 422), resp.text
    assert "x" * 129 not in resp.text


@pytest.mark.parametrize("good", ["a", "x" * 128, "...", "a..b", "-", "_", ".hidden", "UPPER.lower_09-x"])
def test_edge_names_are_accepted(api: httpx.Client, good: str) -> None:
    resp = create(api, good, value="v")
    assert resp.status_code == 201, resp.text
    shown = snapshot(api, good)
    assert shown is not None
    assert shown["name"] == good


def test_dot_names_in_the_path_are_refused(api: httpx.Client) -> None:
    for encoded in ("%2E", "%2E%2E", "%2e%2e"):
        resp = api.get(f"{API}/{encoded}")
        assert resp.status_code in (400, 404), resp.text
        assert resp.status_code != 200


def test_duplicate_name_is_a_conflict_and_keeps_the_first(api: httpx.Client, canary: Canary) -> None:
    name = unique("dup")
    assert create(api, name, value=canary("first"), description="first").status_code == 201
    before = snapshot(api, name)
    second = canary("second")
    dup = create(api, name, value=second, description="second")
    assert_error(dup, 409, "already_exists")
    assert_hidden(dup, [second])
    assert snapshot(api, name) == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"value": ""}, "invalid_value"),
        ({"value_base64": ""}, "invalid_value"),
        ({}, "invalid_value"),
        ({"value": "a", "value_base64": "YQ=="}, "invalid_value"),
        ({"value_base64": "not base64!"}, "invalid_value"),
        ({"value": "x" * (64 * 1024 + 1)}, "value_too_large"),
        ({"value_base64": base64.b64encode(b"\x01" * (64 * 1024 + 1)).decode()}, "value_too_large"),
        ({"kind": "token", "value": "two\nlines"}, "invalid_value"),
        ({"kind": "ssh-key", "value": "not a key"}, "invalid_value"),
        ({"kind": "generic", "fields": {"a": "b"}}, "invalid_value"),
        ({"kind": "aws", "value": "just one"}, "invalid_value"),
        ({"kind": "aws", "fields": {"access_key_id": "AKIA1234567890ABCDEF"}}, "missing_field"),
        (
            {"kind": "aws", "fields": {"access_key_id": "lower", "secret_access_key": "s"}},
            "invalid_field",
        ),
        (
            {
                "kind": "aws",
                "fields": {"access_key_id": "AKIA1234567890ABCDEF", "secret_access_key": "s", "bogus": "x"},
            },
            "invalid_field",
        ),
        (
            {
                "kind": "aws",
                "fields": {
                    "access_key_id": "AKIA1234567890ABCDEF",
                    "secret_access_key": "s",
                    "region": "mars",
                },
            },
            "invalid_field",
        ),
        ({"kind": "database", "fields": {"url": "nope"}}, "invalid_field"),
        ({"kind": "database", "fields": {"url": "pg://h/d", "host": "h"}}, "invalid_field"),
        ({"kind": "database", "fields": {"host": "h", "port": "70000"}}, "invalid_field"),
        ({"kind": "database", "fields": {"user": "u"}}, "missing_field"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_stored(
    api: httpx.Client, body: dict[str, Any], code: str
) -> None:
    name = unique("bad")
    assert_error(create(api, name, **body), 400, code)
    assert snapshot(api, name) is None


def test_value_of_exactly_the_limit_is_accepted(api: httpx.Client) -> None:
    name = unique("max")
    resp = create(api, name, value="x" * (64 * 1024))
    assert resp.status_code == 201, resp.text
    assert resp.json()["versions"][0]["size"] == 64 * 1024


@pytest.mark.parametrize("kind", ["nope", "GENERIC", "", "aws ", "ssh_key"])
def test_unknown_kind_is_a_4xx(api: httpx.Client, kind: str) -> None:
    name = unique("kind")
    resp = create(api, name, kind=kind, value="v")
    assert 400 <= resp.status_code < 500, resp.text
    assert_error(resp, resp.status_code)
    assert snapshot(api, name) is None
