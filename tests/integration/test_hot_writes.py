"""The hot writes (server/hot_writes.py): create and replace answered ahead of FastAPI's routing.

Two apps are built in-process with `create_app` on a running stack's data dir (SQLite, then PostgreSQL; its
keeper): one as the server builds it, one without the `WriteFront`, where FastAPI's routes answer. Each
case is asked of both and the answers must match: status, every header but the volatile ones, and the
JSON body (for a success, the body with its per-secret fields set aside). Cases: creates of each shape,
a name taken, bad values, a bad expiry, no token and a bad one (with and without a valid body: the 401
comes first), bodies that are not JSON or do not match the schema, a wrong content type; replaces with
and without If-Match (good, stale, malformed), of a missing secret, with a bad `?owner=`.

And the front itself, with an inner app that records what reaches it: a plainly valid create is written
(with its audit record) without reaching the inner app; anything else reaches it with its body intact.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from sealbox.config import ServerSettings
from sealbox.server.app import create_app
from sealbox.server.hot_writes import WriteFront
from tests.support.processes import Stack

VOLATILE_HEADERS = {"date", "content-length", "x-request-id", "location", "etag"}
VOLATILE_FIELDS = {"id", "name", "ref", "created_at", "updated_at", "versions", "current_version"}


class AppClient:
    """Requests to an app in this process (httpx's ASGI transport, one event loop per request)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", params=["stack", "pg_stack"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    found: Stack = request.getfixturevalue(request.param)
    return found


@pytest.fixture(scope="module")
def apps(any_stack: Stack) -> Iterator[tuple[AppClient, AppClient]]:
    stack = any_stack
    settings = ServerSettings(
        data_dir=stack.data_dir, keeper_url=stack.keeper.url, database_url=stack.database_url
    )
    front = create_app(settings, convert=False)
    plain = create_app(settings, convert=False)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not WriteFront]  # type: ignore[comparison-overlap]
    assert len(plain.user_middleware) == len(front.user_middleware) - 1
    yield AppClient(front), AppClient(plain)
    for app in (front, plain):
        app.state.sealbox.db.dispose()


def headers(response: Any) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.multi_items() if k not in VOLATILE_HEADERS)


def assert_same(a: Any, b: Any) -> None:
    assert a.status_code == b.status_code, (a.status_code, b.status_code, a.text, b.text)
    assert headers(a) == headers(b)
    body_a, body_b = a.json(), b.json()
    if a.status_code < 300:
        assert set(body_a) == set(body_b)
        body_a = {k: v for k, v in body_a.items() if k not in VOLATILE_FIELDS}
        body_b = {k: v for k, v in body_b.items() if k not in VOLATILE_FIELDS}
        assert (a.headers["etag"], a.headers.get("location") is None) == (
            b.headers["etag"],
            b.headers.get("location") is None,
        )
    assert body_a == body_b


def auth(stack: Stack, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or stack.admin_token}"}


CREATES: list[tuple[str, dict[str, Any] | str, dict[str, str]]] = [
    ("plain", {"value": "v1"}, {}),
    ("a kind", {"kind": "token", "value": "t", "description": "d", "scopes": ["ci/*"]}, {}),
    ("unknown kind", {"kind": "postgres", "fields": {"host": "h", "user": "u", "password": "p"}}, {}),
    ("base64", {"value_base64": "AAEC"}, {}),
    ("bad base64", {"value_base64": "!!"}, {}),
    ("two values", {"value": "v", "value_base64": "AAEC"}, {}),
    ("past expiry", {"value": "v", "expires_at": "2001-01-01T00:00:00Z"}, {}),
    ("bad expiry", {"value": "v", "expires_at": "tomorrow"}, {}),
    ("unknown field", {"value": "v", "colour": "red"}, {}),
    ("bad name", {"value": "v", "name": "no spaces allowed"}, {}),
    ("not json", "{not json", {}),
    ("text body", "value=v", {"Content-Type": "text/plain"}),
]


@pytest.mark.parametrize("case", CREATES, ids=[c[0] for c in CREATES])
def test_create_answers_as_fastapi_did(
    any_stack: Stack, apps: tuple[AppClient, AppClient], case: tuple[str, Any, dict[str, str]]
) -> None:
    stack = any_stack
    _, body, extra = case
    answers = []
    for client in apps:
        if isinstance(body, dict):
            sent = {"name": unique("hw"), **body}
            answers.append(client.post("/api/v1/secrets", json=sent, headers={**auth(stack), **extra}))
        else:
            hdrs = {"Content-Type": "application/json", **auth(stack), **extra}
            answers.append(client.post("/api/v1/secrets", content=body, headers=hdrs))
    assert_same(*answers)


def test_create_taken_name_and_no_token(any_stack: Stack, apps: tuple[AppClient, AppClient]) -> None:
    stack = any_stack
    name = unique("taken")
    front = apps[0]
    assert (
        front.post("/api/v1/secrets", json={"name": name, "value": "v"}, headers=auth(stack)).status_code
        == 201
    )
    for body in ({"name": name, "value": "v"}, {"name": name, "value": "v", "kind": "token"}):
        assert_same(*(c.post("/api/v1/secrets", json=body, headers=auth(stack)) for c in apps))
    for hdrs in ({}, auth(stack, "sbx_garbage")):
        bodies: list[dict[str, Any]] = [{"name": unique("n"), "value": "v"}, {"name": 5}]
        for body in bodies:  # 401 before the body's problem
            a, b = (c.post("/api/v1/secrets", json=body, headers=hdrs) for c in apps)
            assert a.status_code == 401
            assert_same(a, b)


def test_replace_answers_as_fastapi_did(any_stack: Stack, apps: tuple[AppClient, AppClient]) -> None:
    stack = any_stack
    names = []
    for client in apps:
        name = unique("rp")
        assert (
            client.post("/api/v1/secrets", json={"name": name, "value": "v"}, headers=auth(stack)).status_code
            == 201
        )
        names.append(name)
    cases: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("", {"value": "v2"}, {}),
        ("", {"value": "v3"}, {"If-Match": '"2"'}),  # current: 2 after the first replace
        ("", {"value": "v4"}, {"If-Match": '"1"'}),  # stale: 409
        ("", {"value": "v4"}, {"If-Match": "*"}),
        ("", {"value": "v5"}, {"If-Match": "W/x"}),  # the header's pattern: 422
        ("", {"value": "v"}, {"If-Match": '"12345678901"'}),  # a number too long: 400 or 422 alike
        ("?owner=bad%20owner", {"value": "v"}, {}),
        ("?owner=admin", {"value": "v6"}, {}),
        ("", {"vaule": "typo"}, {}),
        ("", {"value_base64": "%%"}, {}),
    ]
    for query, body, extra in cases:
        a, b = (
            c.put(f"/api/v1/secrets/{n}/value{query}", json=body, headers={**auth(stack), **extra})
            for c, n in zip(apps, names, strict=True)
        )
        assert_same(a, b)
    for path in ("/api/v1/secrets/missing-one/value", "/api/v1/secrets/bad%20name/value"):
        assert_same(*(c.put(path, json={"value": "v"}, headers=auth(stack)) for c in apps))


class Inner:
    """An inner app that records the requests reaching it (and their bodies) and answers 418."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        self.bodies.append(message.get("body", b""))
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(front: WriteFront, method: str, path: str, body: bytes, hdrs: list[tuple[bytes, bytes]]) -> Message:
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(b"content-type", b"application/json"), *hdrs],
        "client": ("127.0.0.1", 5000),
    }
    chunks = [body[:3], body[3:]]  # in two parts, as a client may send it
    sent: list[Message] = []

    async def receive() -> Message:
        part = chunks.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(front(scope, receive, send))
    return {"status": sent[0]["status"], "body": sent[1]["body"]}


def test_the_front_writes_plain_requests_and_hands_on_the_rest(
    any_stack: Stack, apps: tuple[AppClient, AppClient]
) -> None:
    stack = any_stack
    app = apps[0].app
    ctx = app.state.sealbox
    inner = Inner()
    front = WriteFront(inner, ctx=ctx, routes_of=app, known_fields=frozenset())
    token = [(b"authorization", f"Bearer {stack.admin_token}".encode())]
    name = unique("front")
    answer = call(front, "POST", "/api/v1/secrets", json.dumps({"name": name, "value": "v"}).encode(), token)
    assert answer["status"] == 201 and json.loads(answer["body"])["name"] == name
    assert inner.bodies == []
    audit = apps[1].get("/api/v1/audit", params={"secret": name}, headers=auth(stack)).json()
    assert [e["action"] for e in audit["items"]] == ["secret.create"]
    for method, path, body in (
        ("POST", "/api/v1/secrets", b'{"name": 5}'),
        ("POST", "/api/v1/secrets", b"{nope"),
        ("PUT", f"/api/v1/secrets/{name}/value", b'{"value": 5}'),
        ("PUT", f"/api/v1/secrets/{name}/value?owner={'o' * 65}", b'{"value": "v"}'),  # too long
    ):
        got = call(front, method, path, body, token)
        assert got["status"] == 418, (method, path, body, got)
        assert inner.bodies[-1] == body
