"""Bad input to the API: 4xx with a stable code, never a 500, never an echo (TEST-PLAN T7, T12, T16).

Every string the tests submit is a canary (also as JSON keys, including keys inside `fields`); no
response body or header may contain any of them, and the `stack` fixture scans the server and keeper
logs for them when the module ends.
"""

from __future__ import annotations

import json
import secrets
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest

from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack

API = "/api/v1"
Canary = Callable[[str], str]


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def elsewhere(stack: Stack) -> httpx.Client:
    """A client without a token on a loopback address of its own.

    Failed sign-ins are rate-limited per address (20 a minute), and a limited address is refused even
    with a good token; anonymous requests therefore come from elsewhere, keeping 127.0.0.1 clean.
    """
    address = f"127.{secrets.randbelow(254) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    return httpx.Client(base_url=stack.url, timeout=30, transport=httpx.HTTPTransport(local_address=address))


def secret_of(token: str) -> str:
    """The secret part of `sbx_<id>_<secret>` (the secret may itself hold underscores)."""
    prefix, token_id, secret = token.split("_", 2)
    assert prefix == "sbx" and len(token_id) == 16 and len(secret) >= 43, "not a sealbox token"
    return secret


def raw_response(resp: httpx.Response) -> bytes:
    head = "".join(f"{k}: {v}\n" for k, v in resp.headers.multi_items())
    return f"{resp.status_code}\n{head}\n".encode() + resp.content


def checked(resp: httpx.Response, hidden: Sequence[str] = ()) -> httpx.Response:
    """What every answer must satisfy: no 5xx, no-store, JSON errors, none of `hidden` in it."""
    assert resp.status_code < 500, (resp.request.method, resp.request.url.path, resp.text)
    assert resp.headers.get("cache-control") == "no-store", resp.request.url.path
    if resp.status_code >= 400 and resp.request.method != "HEAD":
        assert resp.headers["content-type"].startswith("application/json"), resp.text
        body = resp.json()
        assert set(body) == {"code", "message", "errors"}, body
        assert isinstance(body["code"], str) and body["code"]
    hits = find_in_bytes(raw_response(resp), list(hidden))
    assert hits == [], f"{resp.request.method} {resp.request.url.path} echoed input: {hits}"
    return resp


def secret_count(api: httpx.Client) -> int:
    resp = api.get(f"{API}/secrets", params={"limit": 500})
    assert resp.status_code == 200
    return len(resp.json()["items"])


# --- size limits ------------------------------------------------------------------------------------------


def test_body_over_one_mib_with_content_length_is_413(
    stack: Stack, api: httpx.Client, canary: Canary
) -> None:
    value = canary("big")
    body = json.dumps({"name": "big", "value": value + "x" * (1024 * 1024)}).encode()
    before = secret_count(api)
    resp = checked(
        api.post(f"{API}/secrets", content=body, headers={"content-type": "application/json"}), [value]
    )
    assert resp.status_code == 413
    assert resp.json()["code"] == "payload_too_large"
    # Also for every other route that takes a body, and before authentication.
    with elsewhere(stack) as anonymous:
        for method, path in (("PUT", "/secrets/big/value"), ("PATCH", "/secrets/big"), ("POST", "/tokens")):
            big = anonymous.request(
                method, API + path, content=body, headers={"content-type": "application/json"}
            )
            assert checked(big, [value]).status_code == 413
    assert secret_count(api) == before


def test_lying_content_length_is_refused(stack: Stack) -> None:
    for length in (b"abc", b"-1", b"99999999999999999999"):
        with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/secrets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n{}"
            )
            status = _read_status(sock)
        assert 400 <= status < 500, (length, status)
    assert httpx.get(f"{stack.url}/healthz", timeout=5).status_code == 200


def _read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    line = data.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1."), data[:200]
    return int(line.split()[1])


def test_chunked_upload_of_100_mib_is_cut_off_with_413(stack: Stack) -> None:
    """A streamed body without Content-Length: the server answers 413 once it passes 1 MiB."""
    chunk = b"a" * 65536
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    total = 100 * 1024 * 1024
    sent = 0
    with socket.create_connection(("127.0.0.1", stack.port), timeout=15) as sock:
        sock.sendall(
            b"POST /api/v1/secrets HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {stack.admin_token}\r\n".encode()
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered before the upload ended
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break  # the server stopped reading or closed the connection: also a refusal
            sent += len(chunk)
        response = b""
        try:
            while b"\r\n\r\n" not in response:
                data = sock.recv(65536)
                if not data:
                    break
                response += data
        except (ConnectionResetError, TimeoutError):
            pass
    assert response.startswith(b"HTTP/1.1 413"), (sent, response[:300])
    head = response.split(b"\r\n\r\n", 1)[0].lower()
    assert b"cache-control: no-store" in head
    assert sent < total, "the server read the whole 100 MiB before refusing"
    # The server still serves everyone else.
    with stack.client() as api:
        assert api.get("/healthz").status_code == 200
        assert api.get(f"{API}/secrets").status_code == 200


# --- malformed and mistyped bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "x", "value": ',
        b'{"name": "x", "value": "v",}',
        b"\xff\xfe\x00{",
        b"{'name': 'x'}",
        b'{"name": "x", "value": "v"} trailing',
        b"",
        b"null",
        b"[1, 2]",
        b'"just a string"',
        b"{" * 10000 + b"}" * 10000,
        b"[" * 10000 + b"]" * 10000,
    ],
    ids=[
        "truncated",
        "trailing-comma",
        "bad-utf8",
        "single-quotes",
        "trailing-text",
        "empty",
        "null",
        "array",
        "string",
        "deep-objects",
        "deep-arrays",
    ],
)
def test_malformed_json_is_a_4xx(api: httpx.Client, body: bytes) -> None:
    resp = checked(api.post(f"{API}/secrets", content=body, headers={"content-type": "application/json"}))
    assert resp.status_code in (400, 422), resp.text


def test_bad_json_is_400_invalid_json_without_echo(api: httpx.Client, canary: Canary) -> None:
    value = canary("badjson")
    body = f'{{"name": "x", "value": "{value}", '.encode()
    resp = checked(
        api.post(f"{API}/secrets", content=body, headers={"content-type": "application/json"}), [value]
    )
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_json"
    bad_utf8 = b'{"name": "x", "value": "' + value.encode() + b'\xff\xfe"}'
    resp = checked(
        api.post(f"{API}/secrets", content=bad_utf8, headers={"content-type": "application/json"}), [value]
    )
    assert resp.status_code in (400, 422)


def test_object_with_many_keys_is_a_4xx(api: httpx.Client) -> None:
    body = json.dumps({f"{i:x}": 0 for i in range(100_000)}, separators=(",", ":")).encode()
    assert len(body) < 1024 * 1024
    resp = checked(api.post(f"{API}/secrets", content=body, headers={"content-type": "application/json"}))
    assert resp.status_code == 422
    assert len(resp.json()["errors"]) <= 20


_FAR = "9999-12-31T23:59:59-23:59"  # valid ISO 8601, but year 10000 in UTC


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "/secrets", b'{"name": "sur1", "value": "\\ud800"}', id="value"),
        pytest.param(
            "POST",
            "/secrets",
            b'{"name": "sur2", "value": "ok\\udfffok"}',
            id="value-mid",
        ),
        pytest.param("POST", "/secrets", b'{"name": "sur\\ud800", "value": "v"}', id="name"),
        pytest.param(
            "POST", "/secrets", b'{"name": "sur3", "value": "v", "description": "\\ud800"}', id="description"
        ),
        pytest.param("POST", "/tokens", b'{"name": "\\ud800"}', id="token-name"),
        pytest.param("POST", "/secrets", b'{"name": "sur4", "value": "v\\u0000"}', id="nul-value"),
        pytest.param(
            "POST",
            "/secrets",
            b'{"name": "far1", "value": "v", "expires_at": "' + _FAR.encode() + b'"}',
            id="far-expiry-create",
        ),
        pytest.param(
            "POST",
            "/tokens",
            b'{"name": "far", "expires_at": "' + _FAR.encode() + b'"}',
            id="far-expiry-token",
        ),
        pytest.param(
            "POST",
            "/secrets",
            b'{"name": "far2", "value": "v", "expires_at": "0001-01-01T00:00:00+23:59"}',
            id="ancient-expiry",
        ),
        pytest.param(
            "POST",
            "/secrets",
            b'{"name": "far3", "value": "v", "expires_at": 1e308}',
            id="huge-number-expiry",
        ),
        pytest.param(
            "POST",
            "/secrets",
            b'{"name": "far4", "value": "v", "expires_at": "2030-02-30T00:00:00Z"}',
            id="impossible-date",
        ),
    ],
)
def test_edge_strings_and_times_are_4xx_not_500(
    api: httpx.Client, method: str, path: str, body: bytes
) -> None:
    resp = checked(
        api.request(method, API + path, content=body, headers={"content-type": "application/json"})
    )
    assert resp.status_code < 500


def test_an_expiry_past_the_calendar_is_its_last_instant(api: httpx.Client) -> None:
    """Valid RFC 3339 (what the OpenAPI document allows), with no UTC equivalent before year 10000: it
    means "never", and is kept as the last instant a store holds, not refused and never a 500."""
    name = f"far-{uuid.uuid4().hex[:8]}"
    assert api.post(f"{API}/secrets", json={"name": name, "value": "v"}).status_code == 201
    resp = checked(api.patch(f"{API}/secrets/{name}", json={"expires_at": _FAR}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["expires_at"].startswith("9999-12-31T23:59:59.999999")


def _poisoned(canary: Canary) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, JSON body) with a canary in every string, as values and as keys."""

    def c(label: str) -> str:
        return canary(label)

    return [
        (
            "POST",
            "/secrets",
            {
                "name": 12345,
                "value": [c("value-in-list")],
                "kind": c("kind"),
                "description": {c("desc-key"): c("desc-val")},
                "expires_at": c("expires"),
                "fields": {c("field-key"): 5, c("field-key2"): [c("field-val")]},
                c("extra-key"): c("extra-val"),
            },
        ),
        ("POST", "/secrets", {"name": {c("name-key"): c("name-val")}, "value": c("value")}),
        ("POST", "/secrets", {"name": "ok", "value": c("v2"), "fields": [c("fields-as-list")]}),
        ("POST", "/secrets", {"name": "ok", "fields": {c("fk3"): c("fv3")}, "kind": "aws", c("ek3"): 1}),
        ("POST", "/secrets", {"name": "ok", "value": c("v4"), "description": "x" * 2000 + c("long-desc")}),
        ("POST", "/secrets", {"name": c("name") + "x" * 300, "value": c("v5")}),
        ("POST", "/secrets", {"name": True, "value": None, "value_base64": 7, c("ek4"): {c("nk"): c("nv")}}),
        (
            "POST",
            "/secrets",
            {"name": "ok", "value": c("v6"), "expires_at": "2030-13-45T99:99:99" + c("bad-date")},
        ),
        (
            "PUT",
            "/secrets/whatever/value",
            {"value": {c("pk"): c("pv")}, "fields": "x" + c("fs"), c("pe"): 1},
        ),
        ("PUT", "/secrets/whatever/value", {"fields": {c("pfk"): None}}),
        (
            "PATCH",
            "/secrets/whatever",
            {"description": [c("pd")], "expires_at": c("pexp"), "clear_expiry": c("pce")},
        ),
        ("PATCH", "/secrets/whatever", {c("patch-extra"): c("patch-extra-val")}),
        ("POST", "/tokens", {"name": [c("tn")], "expires_at": c("texp"), c("tk"): c("tv")}),
        ("POST", "/tokens", {"name": "", c("tk2"): c("tv2")}),
        ("POST", "/users", {"name": {c("un"): 1}, "is_admin": c("ua"), c("uk"): c("uv")}),
    ]


def test_wrong_types_give_422_without_any_submitted_input(api: httpx.Client, canary: Canary) -> None:
    before = secret_count(api)
    for method, path, body in _poisoned(canary):
        hidden = [s for s in _strings(body) if s.startswith("cnry-")]
        assert hidden, body
        resp = checked(api.request(method, API + path, json=body), hidden)
        assert resp.status_code in (400, 404, 422), (method, path, resp.text)
        if resp.status_code == 422:
            assert resp.json()["code"] == "invalid_request"
            for err in resp.json()["errors"]:
                assert set(err) == {"field", "problem"}
    assert secret_count(api) == before


def test_canaries_in_query_path_and_headers_are_not_echoed(
    stack: Stack, api: httpx.Client, canary: Canary
) -> None:
    q = canary("query")
    h = canary("header")
    # A name in the URL is a locator, and the access log may name it; it must not come back, though.
    p = f"name{uuid.uuid4().hex}"
    checks = [
        api.get(f"{API}/secrets", params={"limit": q}),
        api.get(f"{API}/secrets", params={"prefix": q + "/"}),
        api.get(f"{API}/secrets", params={"cursor": q * 20}),
        api.get(f"{API}/secrets/{p}!"),
        api.get(f"{API}/secrets/{p}"),
        api.put(f"{API}/secrets/{p}/value", json={"value": "x"}, headers={"If-Match": h}),
        api.put(f"{API}/secrets/{p}/value", json={"value": "x"}, headers={"If-Match": h * 5}),
        api.delete(f"{API}/tokens/{p}"),
    ]
    with elsewhere(stack) as anonymous:
        checks.append(anonymous.get(f"{API}/secrets", headers={"Authorization": f"Bearer {h}"}))
        checks.append(anonymous.get(f"{API}/secrets", headers={"Authorization": h}))
    for resp in checks:
        assert 400 <= checked(resp, [q, h, p]).status_code < 500
    # Unknown query parameters are ignored, and not echoed either.
    checked(api.get(f"{API}/secrets", params={"unknown": q}), [q])


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


# --- routes, docs, headers --------------------------------------------------------------------------------


def test_unknown_route_and_method_are_json(api: httpx.Client) -> None:
    for path in ("/nope", f"{API}/nope", f"{API}/secrets/a/b/c", "/api/v2/secrets"):
        resp = checked(api.get(path))
        assert resp.status_code == 404
        assert resp.json()["code"] == "not_found"
    wrong = checked(api.request("PUT", f"{API}/secrets", json={}))
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
    checked(api.delete(f"{API}/me"))


def test_openapi_and_docs_are_served(api: httpx.Client) -> None:
    doc = checked(api.get(f"{API}/openapi.json"))
    assert doc.status_code == 200
    spec = doc.json()
    assert spec["openapi"].startswith("3.")
    assert f"{API}/secrets" in spec["paths"]
    assert f"{API}/secrets/{{name}}" in spec["paths"]
    assert f"{API}/tokens" in spec["paths"]
    # No response schema has a field that could carry a value.
    for name, schema in spec["components"]["schemas"].items():
        if name.endswith("Public") or name in ("SecretPage", "ErrorBody"):
            assert not {"value", "value_base64"} & set(schema.get("properties", {})), name
    docs = checked(api.get("/docs"))
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "openapi.json" in docs.text


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/web", "/web/"),
        ("/docs/", "/docs"),
        (f"{API}/secrets/", f"{API}/secrets"),
        (f"{API}/secrets/?limit=5&prefix=a", f"{API}/secrets?limit=5&prefix=a"),
        (f"{API}/secrets//", f"{API}/secrets"),
        ("/", "/web/"),
        ("/web/", "/web/login"),
        ("/web/sessions", "/web/login"),
        ("/web/login/oidc", "/web/login"),
    ],
)
def test_redirects_never_name_the_hosts_a_request_claims(stack: Stack, path: str, location: str) -> None:
    """Security finding 9: the trailing-slash redirect answered `Location: http://<Host header>/...`."""
    for host in ("evil.example", "evil.example:8443", "127.0.0.1.evil.example"):
        with httpx.Client(base_url=stack.url, timeout=30, headers={"Host": host}) as client:
            resp = client.get(path, headers={"Authorization": f"Bearer {stack.admin_token}"})
        assert 300 <= resp.status_code < 400, (path, resp.status_code, resp.text)
        assert resp.headers["location"] == location, (host, path)
    with stack.client() as api:  # and where it points is really there
        assert api.get(location).status_code < 400


def test_no_slash_redirect_leads_to_another_site(api: httpx.Client) -> None:
    for path in ("//evil.example/", "//evil.example/web/", "/\\evil.example/web", "///evil.example//"):
        resp = api.get(path)
        location = resp.headers.get("location", "")
        assert not location.startswith("//") and "evil" not in location, (path, location)


def test_every_answer_has_no_store_and_safety_headers(stack: Stack) -> None:
    with elsewhere(stack) as anonymous:
        answers = [
            anonymous.get("/healthz"),
            anonymous.get(f"{API}/secrets"),
            anonymous.get(f"{API}/openapi.json"),
            anonymous.get("/docs"),
            anonymous.get("/missing"),
            anonymous.options(f"{API}/secrets"),
            anonymous.head(f"{API}/secrets"),
        ]
    with stack.client() as api:
        name = f"hdr-{uuid.uuid4().hex[:8]}"
        answers += [
            api.post(f"{API}/secrets", json={"name": name, "value": "v"}),
            api.get(f"{API}/secrets/{name}"),
            api.get(f"{API}/secrets"),
            api.patch(f"{API}/secrets/{name}", json={"description": "d"}),
            api.put(f"{API}/secrets/{name}/value", json={"value": "w"}),
            api.delete(f"{API}/secrets/{name}"),
            api.get(f"{API}/me"),
            api.get(f"{API}/tokens"),
        ]
    for resp in answers:
        checked(resp)
        assert resp.headers.get("x-content-type-options") == "nosniff"


def wait_for_log_flush(stack: Stack) -> None:
    """The access log line is written after the answer is sent: wait until a marker request shows up."""
    marker = f"/flush-{uuid.uuid4().hex}"
    assert httpx.get(stack.url + marker, timeout=10).status_code == 404
    deadline = time.monotonic() + 10
    while marker.encode() not in stack.logs():
        assert time.monotonic() < deadline, "the server's access log did not show the marker"
        time.sleep(0.02)


# --- tokens in URLs ---------------------------------------------------------------------------------------


def test_token_in_query_string_is_not_auth_and_not_logged(stack: Stack, canary: Canary) -> None:
    with stack.client() as api:
        issued = api.post(f"{API}/tokens", json={"name": "for-url-test"})
        assert issued.status_code == 201
        token = issued.json()["token"]
    with elsewhere(stack) as anonymous:
        unauth = anonymous.get(f"{API}/secrets")
    assert unauth.status_code == 401
    with elsewhere(stack) as anonymous:
        for params in ({"token": token}, {"access_token": token}, {"api_key": token}):
            for path in (f"{API}/secrets", f"{API}/me", f"{API}/tokens"):
                resp = checked(anonymous.get(path, params=params), [token])
                assert resp.status_code == 401
                assert resp.json() == unauth.json()
    wait_for_log_flush(stack)
    secret_part = secret_of(token)
    assert find_in_bytes(stack.logs(), [token, secret_part]) == []
    # The same token in the header works: it was a valid token all along.
    with stack.client(token) as api:
        assert api.get(f"{API}/me").status_code == 200
