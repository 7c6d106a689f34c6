"""TEST-PLAN T32: every parameter at the ends of its range, on every route, on SQLite and PostgreSQL.

Issue 12, security finding 5: `GET /api/v1/audit?since=0001-01-01T00:00:00%2B01:00` (and
`9999-12-31T23:59:59-01:00`, also on /web/audit) and `?cursor=9223372036854775808` (on PostgreSQL
already `2147483648`) answered 500. Here each operation of the live OpenAPI document gets, one parameter
at a time, times at both ends of the calendar, integers around 2^31 and 2^63, cursors of every shape and
strings that are empty, huge, binary or path-like, in its path, query, headers and body; every answer
must be below 500 and a JSON error with a code, and the finding's own requests answer as the document
says (a time past an end is that end; a cursor past 32 bits is a 422).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.processes import Stack

API = "/api/v1"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')

EDGE_INTEGERS = [0, -1, 1, 59, 60, 900, 901, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40]
EDGE_TIMES = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00+23:59",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999999-23:59",
    "9999-12-31T23:59:60Z",
    "1970-01-01T00:00:00Z",
    "2030-02-30T00:00:00Z",
    "+10000-01-01T00:00:00Z",
    "0.0",
    "1e308",
]
EDGE_STRINGS = [
    "",
    "a",
    ".",
    "..",
    "a/b",
    "Z/x",
    "a" * 64 + "/" + "b" * 128,
    "a" * 65 + "/b",
    "%",
    "\x00",
    "\u00e9\u2028",
    "x" * 129,
    "x" * 4000,
    "9223372036854775808",
    "2147483648",
    "-1",
    "*",
    'W/"3"',
    '"1234567890"',
]


def _strings_for(schema: dict[str, Any]) -> list[Any]:
    """What to try for one parameter or field: by its type, plus strings of every shape."""
    types = {s.get("type") for s in [schema, *schema.get("anyOf", [])]}
    values: list[Any] = list(EDGE_STRINGS)
    if "integer" in types:
        values += EDGE_INTEGERS + [str(i) for i in EDGE_INTEGERS] + [1.5, True]
    if schema.get("format") == "date-time" or any(
        s.get("format") == "date-time" for s in schema.get("anyOf", [])
    ):
        values += EDGE_TIMES
    if "boolean" in types:
        values += [0, 1, "true", None]
    return values


@pytest.fixture(params=["stack", "pg_stack"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    found: Stack = request.getfixturevalue(request.param)
    return found


class World:
    """A user with a secret, a session, a token, a group and a project: real objects for path parameters."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.name = f"edges-{uuid.uuid4().hex[:8]}"
        self.token = stack.add_user(self.name)
        self.http = stack.client(self.token)
        self.fresh()

    def fresh(self) -> None:
        """New objects for the next operation (the one before may have deleted or ended them)."""
        tag = uuid.uuid4().hex[:8]
        self.secret, self.group, self.project = f"s-{tag}", f"g-{tag}", f"p-{tag}"
        self.call("POST", "/secrets", json={"name": self.secret, "value": "v"})
        self.call("POST", "/groups", json={"name": self.group})
        self.call("POST", "/projects", json={"name": self.project})
        self.session = self.call("POST", "/sessions", json={"secrets": [{"name": self.secret, "file": "f"}]})
        self.token_id = self.call("POST", "/tokens", json={"name": f"t-{tag}"})["id"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.http.request(method, API + path, **kwargs)
        assert resp.status_code < 300, (method, path, resp.text)
        return resp.json()

    def path_values(self) -> dict[str, str]:
        return {
            "name": self.secret,
            "session_id": self.session["session"]["id"],
            "token_id": self.token_id,
            "grantee_type": "user",
            "grantee": self.name,
            "user": self.name,
            "group": self.group,
        }

    def body(self, operation: str) -> dict[str, Any] | None:
        """A valid body for each operation that takes one (its fields are then varied one at a time)."""
        bodies: dict[str, dict[str, Any]] = {
            "POST /api/v1/secrets": {"name": f"n-{uuid.uuid4().hex[:8]}", "value": "v", "expires_at": None},
            "PUT /api/v1/secrets/{name}/value": {"value": "v2"},
            "PATCH /api/v1/secrets/{name}": {"description": "d", "expires_at": None},
            "POST /api/v1/secrets/{name}/grants": {"user": self.name, "level": "use"},
            "POST /api/v1/sessions": {
                "secrets": [{"name": self.secret, "file": "f"}],
                "ttl_seconds": 3600,
                "credential_ttl_seconds": 60,
            },
            "POST /api/v1/sessions/{session_id}/credentials": {"credential_ttl_seconds": 60},
            "POST /api/v1/sessions/{session_id}/redeem": {
                "credential": self.session["session_credential"],
                "public_key": "A" * 43 + "=",
            },
            "POST /api/v1/sessions/{session_id}/failures": {
                "credential": self.session["session_credential"],
                "code": "launch_refused",
            },
            "POST /api/v1/tokens": {"name": "edge", "expires_at": None},
            "POST /api/v1/groups": {"name": f"g-{uuid.uuid4().hex[:8]}"},
            "POST /api/v1/projects": {"name": f"p-{uuid.uuid4().hex[:8]}"},
            "PUT /api/v1/groups/{name}/members": {"user": self.name, "role": "member"},
            "PUT /api/v1/projects/{name}/members": {"user": self.name, "role": "member"},
            "POST /api/v1/users": {"name": f"u-{uuid.uuid4().hex[:8]}", "is_admin": False},
            "POST /api/v1/service-accounts": {"name": f"svc-{uuid.uuid4().hex[:8]}", "kinds": ["aws"]},
            "POST /api/v1/service/sessions": {
                "on_behalf_of": self.name,
                "secrets": [{"name": self.secret}],
                "ttl_seconds": 3600,
            },
        }
        return bodies.get(operation)


def checked(resp: httpx.Response, what: str) -> httpx.Response:
    assert resp.status_code < 500, (what, resp.status_code, resp.text[:300])
    if resp.status_code >= 400 and resp.request.method != "HEAD":
        assert resp.headers["content-type"].startswith("application/json"), (what, resp.text[:300])
        body = resp.json()
        assert set(body) == {"code", "message", "errors"} and body["code"], (what, body)
    return resp


def _operations(http: httpx.Client) -> Iterator[tuple[str, str, dict[str, Any]]]:
    document = http.get(f"{API}/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith(API):
                yield method.upper(), path, operation


@pytest.fixture
def world(any_stack: Stack) -> Iterator[World]:
    made = World(any_stack)
    yield made
    made.http.close()


def test_every_parameter_at_its_edges_is_below_500(any_stack: Stack, world: World) -> None:
    with any_stack.client() as first:
        body = {"name": f"svc-{uuid.uuid4().hex[:8]}", "kinds": ["generic"]}
        made = first.post(f"{API}/service-accounts", json=body)
    assert made.status_code == 201, made.text
    admin, service = any_stack.client(), any_stack.client(made.json()["token"])
    sent = 0
    with admin, service:
        operations = list(_operations(world.http))
        # The ones that take something away last, so that the others still find what they name.
        operations.sort(key=lambda o: o[0] == "DELETE")
        for method, template, operation in operations:
            label = f"{method} {template}"
            http = world.http
            if template.startswith((f"{API}/users", f"{API}/service-accounts")):
                http = admin
            elif template.startswith(f"{API}/service/"):
                http = service  # a platform service acting for the user
            params = operation.get("parameters", [])
            base_path = {p["name"]: world.path_values()[p["name"]] for p in params if p["in"] == "path"}
            base_body = world.body(label)
            cases: list[tuple[str, str, Any]] = [
                (p["in"], p["name"], value) for p in params for value in _strings_for(p["schema"])
            ]
            if base_body is not None:
                props = operation["requestBody"]["content"]["application/json"]["schema"]
                schema = _resolve(world.http, props)
                cases += [
                    ("body", field, value)
                    for field, field_schema in schema.get("properties", {}).items()
                    for value in _strings_for(_resolve(world.http, field_schema))
                ]
            for where, name, value in cases:
                path_values = dict(base_path)
                query: dict[str, Any] = {}
                headers: dict[str, str] = {}
                body = dict(base_body) if base_body is not None else None
                if where == "path":
                    path_values[name] = str(value)
                elif where == "query":
                    query[name] = str(value)
                elif where == "header":
                    if isinstance(value, str) and ("\x00" in value or "\u2028" in value):
                        continue  # not a header any client can send
                    headers[name] = str(value)
                elif body is not None:
                    body[name] = value
                url = template.format(**{k: quote(v, safe="") for k, v in path_values.items()})
                resp = http.request(method, url, params=query, headers=headers, json=body)
                checked(resp, f"{label} {where} {name}={str(value)[:40]!r}")
                sent += 1
            world.fresh()
    assert sent > 1500, sent  # every operation was asked (about 2000 requests)


_DOCUMENT: dict[str, Any] = {}


def _resolve(http: httpx.Client, schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in schema:
        return schema
    if not _DOCUMENT:
        _DOCUMENT.update(http.get(f"{API}/openapi.json").json())
    found: dict[str, Any] = _DOCUMENT
    for part in schema["$ref"].removeprefix("#/").split("/"):
        found = found[part]
    return found


# --- the finding's own requests -----------------------------------------------------------------------


def test_the_audit_at_the_ends_of_the_calendar(any_stack: Stack) -> None:
    with any_stack.client() as admin:
        everything = checked(admin.get(f"{API}/audit", params={"limit": 5}), "audit").json()["items"]
        assert everything
        for since in ("0001-01-01T00:00:00+01:00", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59"):
            resp = checked(admin.get(f"{API}/audit", params={"since": since, "limit": 5}), since)
            assert resp.status_code == 200 and resp.json()["items"] == everything, since
        for since in ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999999-23:59"):
            resp = checked(admin.get(f"{API}/audit", params={"since": since}), since)
            assert (resp.status_code, resp.json()["items"]) == (200, []), since
        # The exact bytes of the finding: `+` sent as %2B.
        resp = admin.get(f"{API}/audit?since=0001-01-01T00:00:00%2B01:00&limit=5")
        assert resp.status_code == 200 and resp.json()["items"] == everything
        for not_a_time in ("0.0", "4102444800", "2030-01-01", "2030-01-01T00:00:00", "yesterday"):
            resp = checked(admin.get(f"{API}/audit", params={"since": not_a_time}), not_a_time)
            assert resp.status_code == 422, not_a_time


def test_audit_cursors_past_32_and_64_bits(any_stack: Stack) -> None:
    with any_stack.client() as admin:
        newest = admin.get(f"{API}/audit", params={"limit": 1}).json()["items"][0]["id"]
        top = checked(admin.get(f"{API}/audit", params={"cursor": 2**31 - 1, "limit": 1}), "2^31-1")
        assert top.status_code == 200 and top.json()["items"][0]["id"] == newest
        for cursor in (2**31, 2**63 - 1, 2**63, 2**64, 10**40, 0, -1, -(2**63) - 1):
            resp = checked(admin.get(f"{API}/audit", params={"cursor": cursor}), str(cursor))
            assert resp.status_code == 422, cursor
            assert resp.json()["errors"][0]["field"] == "cursor"
        for cursor in ("1.5", "1e3", "0x10", "", "one"):
            assert checked(admin.get(f"{API}/audit", params={"cursor": cursor}), cursor).status_code == 422


def test_secrets_cursors_of_every_shape(any_stack: Stack) -> None:
    with any_stack.client() as admin:
        for cursor in ("a/b", "zzzz/zzzz", "0/0", "a" * 64 + "/" + "b" * 128):
            resp = checked(admin.get(f"{API}/secrets", params={"cursor": cursor}), cursor)
            assert resp.status_code == 200, cursor
        for cursor in ("", "a", "A/b", "a/..", "a/b/c", "a/b c", "a" * 65 + "/b", "9223372036854775808"):
            resp = checked(admin.get(f"{API}/secrets", params={"cursor": cursor}), cursor)
            assert (resp.status_code, resp.json()["code"]) == (400, "invalid_cursor"), cursor
        assert (
            checked(admin.get(f"{API}/secrets", params={"cursor": "a/" + "b" * 200}), "long").status_code
            == 422
        )


def test_the_web_audit_page_at_the_ends_of_the_calendar(any_stack: Stack) -> None:
    with httpx.Client(base_url=any_stack.url, timeout=30, follow_redirects=False) as web:
        page = web.get("/web/login")
        match = CSRF.search(page.text)
        assert match
        assert (
            web.post("/web/login", data={"csrf": match.group(1), "token": any_stack.admin_token}).status_code
            == 303
        )
        for since in (
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00",
            "2030-01-01",
        ):
            resp = web.get("/web/audit", params={"since": since})
            assert resp.status_code == 200, (since, resp.status_code)
        resp = web.get("/web/audit", params={"since": "not a date"})
        assert resp.status_code == 200 and "not a date" in resp.text  # the form says so, next to the field


def test_a_422_says_what_the_schema_allows_never_what_was_sent(
    any_stack: Stack, canary: Callable[[str], str]
) -> None:
    """New-user finding 10: `--kind nosuch` answered `kind: enum`. The problem now lists the kinds, from
    the schema; nothing of the request comes back."""
    sent = canary("kind")
    with any_stack.client() as admin:
        resp = checked(admin.post(f"{API}/secrets", json={"name": "k", "kind": sent, "value": "v"}), "kind")
        assert resp.status_code == 422 and sent not in resp.text
        assert {
            "field": "kind",
            "problem": "enum: one of 'generic', 'aws', 'database', 'token', 'ssh-key', 'gcp' or 'aws-role'",
        } in (resp.json()["errors"])
        resp = checked(admin.get(f"{API}/secrets", params={"limit": 501}), "limit")
        assert resp.json()["errors"] == [{"field": "limit", "problem": "less_than_equal: at most 500"}]
        resp = checked(admin.post(f"{API}/users", json={"name": "x", "is_admin": sent}), "is_admin")
        assert resp.status_code == 422 and sent not in resp.text
        resp = checked(admin.get(f"{API}/audit", params={"since": sent}), "since")
        assert resp.status_code == 422 and sent not in resp.text
        assert resp.json()["errors"][0]["problem"].startswith("value_error: an RFC 3339 time")
