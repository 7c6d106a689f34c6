"""Every kind of session dies with the credential behind it (TEST-PLAN T28; issue 12, finding 2).

Before: a web session signed in with a token outlived the token (revoked or expired) for 12 hours and
could, for example, share a secret at `manage`; there was no way to disable a user. Here the credential
behind each kind of session is revoked, expires, or its user is disabled, and then EVERY route of the
running server (the API routes from its OpenAPI document, the /web routes from the app) is tried with
what is left: each must answer exactly as it answers somebody with no credential at all, right after the
revocation is acknowledged. Kinds: a web session (token revoked, token expired, user disabled), an API
token (revoked, expired, user disabled), a service account's sessions (its token revoked, it disabled,
the user it acts for disabled) and a launch (session ended, owner disabled).

On SQLite and on PostgreSQL. The stack runs with a high failure limit: this module sends hundreds of
refused credentials on purpose.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sealbox.config import ServerSettings
from tests.support.issuer import restart_server
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack, sealbox_cmd

API = "/api/v1"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')
SIGNED_IN: list[httpx.Client] = []


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def rstack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with contextlib.ExitStack() as stacks:
        url = stacks.enter_context(fresh_database()) if request.param == "postgres" else None
        stack = stacks.enter_context(running_stack(tmp_path_factory.mktemp("revocation"), database_url=url))
        restart_server(stack, SEALBOX_AUTH_FAILURE_LIMIT="10000")
        yield stack


@pytest.fixture(scope="module")
def admin(rstack: Stack) -> Iterator[httpx.Client]:
    with rstack.client() as client:
        yield client


@dataclass
class Person:
    """A user with a token, a secret, a group, a project and a live session: objects for every route."""

    name: str
    token: str = field(repr=False)
    token_id: str
    secret: str
    group: str
    project: str
    session_id: str
    credential: str = field(repr=False)


def person(stack: Stack, admin: httpx.Client) -> Person:
    name = unique("p")
    created = admin.post(f"{API}/users", json={"name": name})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    with stack.client(token) as me:
        secret, group, project = unique("s"), unique("g"), unique("pr")
        me.post(f"{API}/secrets", json={"name": secret, "value": "v-" + secret}).raise_for_status()
        me.post(f"{API}/groups", json={"name": group}).raise_for_status()
        me.post(f"{API}/projects", json={"name": project}).raise_for_status()
        launch = me.post(f"{API}/sessions", json={"secrets": [{"name": secret, "file": "f"}]})
        assert launch.status_code == 201, launch.text
        token_id = me.get(f"{API}/tokens").json()[0]["id"]
    return Person(
        name=name,
        token=token,
        token_id=token_id,
        secret=secret,
        group=group,
        project=project,
        session_id=launch.json()["session"]["id"],
        credential=launch.json()["session_credential"],
    )


def new_token(stack: Stack, token: str, **extra: Any) -> dict[str, Any]:
    with stack.client(token) as me:
        issued = me.post(f"{API}/tokens", json={"name": unique("t"), **extra})
    assert issued.status_code == 201, issued.text
    found: dict[str, Any] = issued.json()
    return found


# --- every route ------------------------------------------------------------------------------------------


def api_routes(stack: Stack) -> list[tuple[str, str]]:
    doc = httpx.get(f"{stack.url}{API}/openapi.json", timeout=30).json()
    return sorted((m.upper(), p) for p, ops in doc["paths"].items() for m in ops if m.upper() != "HEAD")


def web_routes(stack: Stack) -> list[tuple[str, str]]:
    """The /web routes of an app built in-process on the stack's data dir (they are not in the document)."""
    from sealbox.server.app import create_app

    settings = ServerSettings(
        data_dir=stack.data_dir, keeper_url=stack.keeper.url, database_url=stack.database_url
    )
    app = create_app(settings, convert=False)
    try:
        try:
            from fastapi.routing import iter_route_contexts

            routes: list[Any] = list(iter_route_contexts(app.routes))
        except ImportError:  # older FastAPI: app.routes is already flat
            routes = list(app.routes)
        found = {
            (method, r.path)
            for r in routes
            if getattr(r, "path", "").startswith("/web/") and getattr(r, "methods", None)
            for method in r.methods
            if method != "HEAD"
        }
    finally:
        app.state.sealbox.db.dispose()
    assert len(found) >= 15, found
    return sorted(found)


def fill(path: str, p: Person) -> str:
    """A path template with the person's own objects: what a live credential of theirs could reach."""
    values = {
        "{grantee_type}": "user",
        "{grantee}": p.name,
        "{session_id}": p.session_id,
        "{token_id}": p.token_id,
        "{user}": p.name,
        "{owner}": p.name,
    }
    if "/groups/" in path:
        values["{name}"] = p.group
    elif "/projects/" in path:
        values["{name}"] = p.project
    elif "/users/" in path:
        values["{name}"] = p.name
    else:
        values["{name}"] = p.secret
    for key, value in values.items():
        path = path.replace(key, value)
    return re.sub(r"\{[^}]+\}", "x", path)


def _api_call(stack: Stack, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body: dict[str, Any] | None = None if method in ("GET", "DELETE") else {}
    with httpx.Client(base_url=stack.url, timeout=30, headers=headers) as client:
        return client.request(method, path, json=body)


def assert_worthless_on_the_api(stack: Stack, token: str, p: Person) -> None:
    """Every API route answers the token exactly as it answers no credential at all: never a 2xx but on
    the public routes (/healthz), which answer anybody."""
    wrong = []
    for method, template in api_routes(stack):
        path = fill(template, p)
        anonymous = _api_call(stack, method, path, None)
        answer = _api_call(stack, method, path, token)
        public = 200 <= anonymous.status_code < 300
        if (200 <= answer.status_code < 300 and not public) or answer.status_code != anonymous.status_code:
            wrong.append((method, template, answer.status_code, anonymous.status_code))
    assert wrong == []


@pytest.fixture(autouse=True)
def _close_web_clients() -> Iterator[None]:
    yield
    while SIGNED_IN:
        SIGNED_IN.pop().close()


def web_sign_in(stack: Stack, token: str) -> tuple[httpx.Client, str]:
    """A client with a fresh web session's cookie, and that session's CSRF token (closed after the test)."""
    web = httpx.Client(base_url=stack.url, timeout=30, follow_redirects=False)
    SIGNED_IN.append(web)
    page = web.get("/web/login")
    match = CSRF.search(page.text)
    assert match, page.text[:300]
    resp = web.post("/web/login", data={"csrf": match.group(1), "token": token})
    assert resp.status_code == 303, resp.text[:300]
    home = web.get("/web/")
    found = CSRF.search(home.text)
    assert home.status_code == 200 and found, home.text[:300]
    return web, found.group(1)


def assert_worthless_on_the_web(stack: Stack, web: httpx.Client, csrf: str, p: Person) -> None:
    """Every /web route answers the cookie as it answers no cookie (the sign-in page), and forms do
    nothing, sharing at `manage` included."""
    stranger = unique("stranger")  # a user name, a secret name and a value no one ever uses
    form = {"csrf": csrf, "grantee_type": "user", "grantee": stranger, "level": "manage", "confirm": p.secret}
    form |= {"value": "never-" + stranger, "name": stranger, "kind": "generic", "description": "changed"}
    wrong = []
    with httpx.Client(base_url=stack.url, timeout=30, follow_redirects=False) as nobody:
        for method, template in web_routes(stack):
            path = fill(template, p)
            data = form if method == "POST" else None
            answer = web.request(method, path, data=data)
            anonymous = nobody.request(method, path, data=data)
            same = (answer.status_code, answer.headers.get("location")) == (
                anonymous.status_code,
                anonymous.headers.get("location"),
            )
            public = 200 <= anonymous.status_code < 300  # the sign-in page answers anybody
            if (200 <= answer.status_code < 300 and not public) or not same:
                wrong.append((method, template, answer.status_code, answer.headers.get("location")))
    assert wrong == []
    assert web.get("/web/").headers.get("location") == "/web/login"


def assert_untouched(stack: Stack, token: str, p: Person) -> None:
    """What the stale cookie's forms tried did not happen: no grant, no new secret, nothing replaced."""
    with stack.client(token) as me:
        assert me.get(f"{API}/secrets/{p.secret}/grants").json() == []
        assert me.get(f"{API}/secrets/{p.secret}").json()["current_version"] == 1
        assert [s["name"] for s in me.get(f"{API}/secrets").json()["items"]] == [p.secret]


# --- web sessions -----------------------------------------------------------------------------------------


def test_revoking_a_token_ends_its_web_sessions_at_once(rstack: Stack, admin: httpx.Client) -> None:
    p = person(rstack, admin)
    other = new_token(rstack, p.token)
    web, csrf = web_sign_in(rstack, p.token)
    web_twice, _ = web_sign_in(rstack, p.token)
    kept, _ = web_sign_in(rstack, other["token"])  # signed in with another token of theirs
    with rstack.client(other["token"]) as me:
        revoked = me.delete(f"{API}/tokens/{p.token_id}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["web_sessions_ended"] == 2
    assert_worthless_on_the_web(rstack, web, csrf, p)
    assert web_twice.get("/web/").headers.get("location") == "/web/login"
    assert_worthless_on_the_api(rstack, p.token, p)
    assert kept.get("/web/").status_code == 200
    assert_untouched(rstack, other["token"], p)
    with rstack.client(other["token"]) as me:
        assert me.get(f"{API}/sessions/{p.session_id}").json()["status"] != "ended"


def test_a_web_session_ends_when_its_token_expires(rstack: Stack, admin: httpx.Client) -> None:
    p = person(rstack, admin)
    soon = datetime.now(UTC) + timedelta(seconds=4)
    short = new_token(rstack, p.token, expires_at=soon.isoformat())
    web, csrf = web_sign_in(rstack, short["token"])
    assert web.get("/web/sessions").status_code == 200
    while datetime.now(UTC) < soon + timedelta(seconds=0.5):
        time.sleep(0.2)
    assert_worthless_on_the_web(rstack, web, csrf, p)
    assert_worthless_on_the_api(rstack, short["token"], p)
    assert_untouched(rstack, p.token, p)


def test_a_service_account_cannot_sign_in_to_the_web_pages(rstack: Stack, admin: httpx.Client) -> None:
    created = admin.post(f"{API}/service-accounts", json={"name": unique("svc"), "kinds": ["generic"]})
    assert created.status_code == 201, created.text
    with httpx.Client(base_url=rstack.url, timeout=30, follow_redirects=False) as web:
        page = web.get("/web/login")
        match = CSRF.search(page.text)
        assert match
        resp = web.post("/web/login", data={"csrf": match.group(1), "token": created.json()["token"]})
        assert resp.status_code == 403
        assert "service account" in resp.text
        assert "sealbox_session" not in resp.cookies and "sealbox_session" not in web.cookies
        assert web.get("/web/").headers.get("location") == "/web/login"


# --- users disabled ---------------------------------------------------------------------------------------


def _redeem(stack: Stack, p: Person) -> httpx.Response:
    key = base64.b64encode(os.urandom(32)).decode()
    return httpx.post(
        f"{stack.url}{API}/sessions/{p.session_id}/redeem",
        json={"credential": p.credential, "public_key": key},
        timeout=30,
    )


def test_disabling_a_user_ends_their_tokens_web_sessions_and_sessions(
    rstack: Stack, admin: httpx.Client
) -> None:
    p = person(rstack, admin)
    second = new_token(rstack, p.token)
    web, csrf = web_sign_in(rstack, p.token)
    disabled = admin.post(f"{API}/users/{p.name}/disable")
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["web_sessions_ended"] == 1 and disabled.json()["sessions_ended"] == 1
    assert disabled.json()["user"]["disabled_at"] is not None
    for token in (p.token, second["token"]):
        assert_worthless_on_the_api(rstack, token, p)
    assert_worthless_on_the_web(rstack, web, csrf, p)
    refused = _redeem(rstack, p)  # the launch it had started
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_credential"
    listed = {u["name"]: u for u in admin.get(f"{API}/users").json()}
    assert listed[p.name]["disabled_at"] is not None
    # Enabled again: the tokens work again; what ended stays ended.
    assert admin.post(f"{API}/users/{p.name}/enable").json()["disabled_at"] is None
    with rstack.client(p.token) as me:
        assert me.get(f"{API}/me").json()["name"] == p.name
        assert me.get(f"{API}/sessions/{p.session_id}").json()["status"] == "ended"
    assert web.get("/web/").headers.get("location") == "/web/login"
    assert_untouched(rstack, p.token, p)
    # An admin cannot lock themselves out through the API; an unknown name is a 404.
    assert admin.post(f"{API}/users/admin/disable").status_code == 409
    assert admin.post(f"{API}/users/{unique('nobody')}/disable").status_code == 404


def test_sealbox_admin_user_disable_works_on_a_running_server(rstack: Stack, admin: httpx.Client) -> None:
    p = person(rstack, admin)
    web, csrf = web_sign_in(rstack, p.token)
    done = subprocess.run(
        sealbox_cmd("admin", "user", "disable", p.name), env=rstack.env(), capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == f"disabled {p.name}; ended 1 web session and 1 session"
    assert_worthless_on_the_api(rstack, p.token, p)
    assert_worthless_on_the_web(rstack, web, csrf, p)
    listing = subprocess.run(sealbox_cmd("admin", "user", "ls"), env=rstack.env(), capture_output=True)
    row = next(line for line in listing.stdout.decode().splitlines() if line.startswith(p.name + " "))
    assert row.split()[-1].startswith(str(datetime.now(UTC).year))  # the DISABLED column
    again = subprocess.run(
        sealbox_cmd("admin", "user", "enable", p.name), env=rstack.env(), capture_output=True, check=False
    )
    assert again.returncode == 0 and again.stdout.decode().strip() == f"enabled {p.name}"
    with rstack.client(p.token) as me:
        assert me.get(f"{API}/me").status_code == 200
    actions = [r["action"] for r in admin.get(f"{API}/audit", params={"limit": 50}).json()["items"]]
    assert "user.disable" in actions and "user.enable" in actions


# --- service accounts -------------------------------------------------------------------------------------


def _service(admin: httpx.Client) -> tuple[str, str]:
    created = admin.post(f"{API}/service-accounts", json={"name": unique("svc"), "kinds": ["generic"]})
    assert created.status_code == 201, created.text
    return created.json()["user"]["name"], created.json()["token"]


def _service_session(stack: Stack, token: str, p: Person) -> httpx.Response:
    with stack.client(token) as service:
        return service.post(
            f"{API}/service/sessions",
            json={"on_behalf_of": p.name, "secrets": [{"name": p.secret, "file": "f"}], "mount_path": "/s"},
        )


def test_service_sessions_end_with_the_service_or_the_user_it_acts_for(
    rstack: Stack, admin: httpx.Client
) -> None:
    p = person(rstack, admin)
    name, token = _service(admin)
    started = _service_session(rstack, token, p)
    assert started.status_code == 201, started.text
    launch = replace(
        p, session_id=started.json()["session"]["id"], credential=started.json()["session_credential"]
    )

    # The user it acts for is disabled: the service can no longer act for them, and the session it
    # started for them has ended.
    assert admin.post(f"{API}/users/{p.name}/disable").json()["sessions_ended"] == 2
    assert _service_session(rstack, token, p).status_code == 404
    with rstack.client(token) as service:
        assert service.get(f"{API}/service/users/{p.name}/secrets").status_code == 404
    assert _redeem(rstack, launch).status_code == 401
    admin.post(f"{API}/users/{p.name}/enable").raise_for_status()

    # The service's token is revoked (by the service itself): worthless everywhere.
    with rstack.client(token) as service:
        own = service.get(f"{API}/tokens").json()[0]["id"]
        assert service.delete(f"{API}/tokens/{own}").status_code == 200
    assert_worthless_on_the_api(rstack, token, p)

    # Another service account is disabled: the same.
    other_name, other = _service(admin)
    assert _service_session(rstack, other, p).status_code == 201
    assert admin.post(f"{API}/users/{other_name}/disable").status_code == 200
    assert_worthless_on_the_api(rstack, other, p)
    users = {u["name"]: u for u in admin.get(f"{API}/users").json()}
    assert users[other_name]["disabled_at"] is not None and users[name]["disabled_at"] is None


# --- launches and API tokens ----------------------------------------------------------------------------


def test_an_ended_session_takes_its_session_credential_and_refresh_with_it(
    rstack: Stack, admin: httpx.Client
) -> None:
    p = person(rstack, admin)
    with rstack.client(p.token) as me:
        assert me.delete(f"{API}/sessions/{p.session_id}").json()["status"] == "ended"
        assert me.post(f"{API}/sessions/{p.session_id}/credentials").status_code == 404
    refused = _redeem(rstack, p)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_credential"


def test_a_revoked_api_token_is_worthless_on_every_route(rstack: Stack, admin: httpx.Client) -> None:
    p = person(rstack, admin)
    spare = new_token(rstack, p.token)
    with rstack.client(p.token) as me:
        assert me.get(f"{API}/secrets/{p.secret}").status_code == 200  # the hot path, before
        assert me.delete(f"{API}/tokens/{spare['id']}").json()["web_sessions_ended"] == 0
    assert_worthless_on_the_api(rstack, spare["token"], p)
