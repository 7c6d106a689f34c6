"""Signing in to the web pages with OpenID Connect (authorization code, PKCE, state, nonce) in a real browser.

A real issuer runs beside the stack (`tests/browser/issuer_app.py`, a Starlette app under uvicorn with
its own RSA key) and the sealbox server is started with SEALBOX_OIDC_ISSUER / _CLIENT_ID. The issuer
calls itself http://localhost:PORT while sealbox is http://127.0.0.1:PORT: two different sites, as
with a real issuer on its own domain, so the SameSite rules of the cookies are exercised for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import scan_logs
from tests.browser.web import Watch, who
from tests.support.issuer import restart_server
from tests.support.processes import Stack, base_env, free_port, running_stack, wait_for

CLIENT_ID = "sealbox-web"
REPO_ROOT = Path(__file__).resolve().parents[2]
REFUSED = "single sign-on did not succeed; try again"
SSO_LINK = "Sign in with single sign-on"

NewContext = Callable[..., tuple[BrowserContext, Watch]]


@dataclass
class Issuer:
    url: str  # what it calls itself (its iss): http://localhost:PORT
    local: str  # the same, by address: http://127.0.0.1:PORT
    proc: subprocess.Popen[bytes]

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(f"{self.local}/stats", timeout=5).json()
        return found

    def mode(self, mode: str) -> None:
        httpx.post(f"{self.local}/settings", json={"mode": mode}, timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    port = free_port()
    log = tmp_path_factory.mktemp("issuer") / "issuer.log"
    env = base_env(PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.browser.issuer_app", "--port", str(port)),
                *("--url", f"http://localhost:{port}", "--client-id", CLIENT_ID),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Issuer(url=f"http://localhost:{port}", local=f"http://127.0.0.1:{port}", proc=proc)
    try:
        wait_for(lambda: httpx.get(f"{running.local}/healthz", timeout=1).status_code == 200, proc, "issuer")
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def oidc_stack(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("oidc")) as stack:
        restart_server(
            stack,
            SEALBOX_OIDC_ISSUER=issuer.url,
            SEALBOX_OIDC_AUDIENCE="sealbox-api",
            SEALBOX_OIDC_CLIENT_ID=CLIENT_ID,
        )
        yield stack
        scan_logs(stack)


@pytest.fixture(autouse=True)
def _issuer_redirects(issuer: Issuer) -> Iterator[None]:
    yield
    issuer.mode("redirect")


def _way_back(page: Page, base: str, issuer: Issuer) -> str:
    """Start signing in, and stop at the issuer's answer: the callback URL with its code and state."""
    issuer.mode("link")
    page.goto(f"{base}/web/login")
    page.get_by_role("link", name=SSO_LINK).click()
    expect(page.locator("#back")).to_have_count(1)
    back = page.locator("#back").get_attribute("href")
    assert back is not None and back.startswith(f"{base}/web/login/callback?"), back
    return back


def _with_state(url: str, state: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["state"] = state
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _signed_out(page: Page, base: str) -> None:
    page.goto(f"{base}/web/")
    expect(page).to_have_url(f"{base}/web/login")


def test_single_sign_on_lands_signed_in_as_dana(
    oidc_stack: Stack, issuer: Issuer, page: Page, context: BrowserContext, watch: Watch
) -> None:
    base = oidc_stack.url
    before = issuer.stats()
    page.goto(f"{base}/web/login")
    page.get_by_role("link", name=SSO_LINK).click()
    expect(page).to_have_url(f"{base}/web/")
    assert who(page) == "dana"
    after = issuer.stats()
    assert after["issued"] == before["issued"] + 1
    assert after["exchanged"] == before["exchanged"] + 1  # code, client id, redirect_uri and PKCE all checked
    assert after["refused"] == before["refused"]

    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["sealbox_session"]["httpOnly"] is True
    assert cookies["sealbox_session"]["sameSite"] == "Strict"
    assert "sealbox_oidc" not in cookies  # the flow cookie is spent
    # The issuer's groups claim made dana a member of analysts: a secret shared with it shows up.
    with oidc_stack.client() as api:
        assert "dana" in str(api.get("/api/v1/groups/analysts").json())
        made = api.post("/api/v1/secrets", json={"name": "team-report", "value": "report-value"})
        assert made.status_code == 201, made.text
        shared = api.post("/api/v1/secrets/team-report/grants", json={"group": "analysts", "level": "use"})
        assert shared.status_code == 201, shared.text
    page.reload()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="admin/team-report"))
    expect(row.locator(".tag")).to_have_text("use")
    watch.check()


def test_single_sign_on_from_the_issuers_own_page(oidc_stack: Stack, issuer: Issuer, page: Page) -> None:
    """Like a real issuer's sign-in page: the way back to sealbox starts with a form on the issuer's site
    (another site), and still ends signed in (the SameSite=Strict cookie must reach /web/)."""
    base = oidc_stack.url
    issuer.mode("consent")
    page.goto(f"{base}/web/login")
    page.get_by_role("link", name=SSO_LINK).click()
    page.get_by_role("button", name="Continue as dana").click()
    expect(page).to_have_url(f"{base}/web/")
    assert who(page) == "dana"


def test_disabling_the_user_ends_a_single_sign_on_web_session(
    oidc_stack: Stack, issuer: Issuer, page: Page
) -> None:
    """Issue 12, finding 2: a web session from single sign-on (it names no token) ends when its user is
    disabled, at the next page; signing in again through the issuer is refused until the user is enabled."""
    base = oidc_stack.url
    page.goto(f"{base}/web/login")
    page.get_by_role("link", name=SSO_LINK).click()
    expect(page).to_have_url(f"{base}/web/")
    assert who(page) == "dana"
    with oidc_stack.client() as api:
        done = api.post("/api/v1/users/dana/disable")
        assert done.status_code == 200 and done.json()["web_sessions_ended"] >= 1, done.text
        try:
            page.reload()
            expect(page).to_have_url(f"{base}/web/login")
            page.get_by_role("link", name=SSO_LINK).click()
            expect(page.get_by_role("alert")).to_have_text(REFUSED)
            _signed_out(page, base)
        finally:
            api.post("/api/v1/users/dana/enable").raise_for_status()
    page.goto(f"{base}/web/login")
    page.get_by_role("link", name=SSO_LINK).click()
    expect(page).to_have_url(f"{base}/web/")
    assert who(page) == "dana"


def test_tampered_state_refused(oidc_stack: Stack, issuer: Issuer, page: Page) -> None:
    base = oidc_stack.url
    back = _way_back(page, base, issuer)
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))["state"]
    before = issuer.stats()

    for forged in (_with_state(back, state[:-1] + ("A" if state[-1] != "A" else "B")), _with_state(back, "")):
        answer = page.goto(forged)
        assert answer is not None and answer.status == 401
        expect(page.get_by_role("alert")).to_have_text(REFUSED)
    _signed_out(page, base)
    # Refused before the code was even presented to the issuer.
    assert issuer.stats()["exchanged"] == before["exchanged"]

    # The untouched answer still works: only the state was wrong.
    page.goto(back)
    expect(page).to_have_url(f"{base}/web/")
    assert who(page) == "dana"


def test_code_replayed_or_used_in_another_browser_refused(
    oidc_stack: Stack, issuer: Issuer, page: Page, new_context: NewContext
) -> None:
    base = oidc_stack.url
    back = _way_back(page, base, issuer)

    # Another browser (no flow cookie: state, nonce and PKCE verifier are not its own) is refused.
    other, _ = new_context()
    stolen = other.new_page()
    answer = stolen.goto(back)
    assert answer is not None and answer.status == 401
    expect(stolen.get_by_role("alert")).to_have_text(REFUSED)
    _signed_out(stolen, base)

    page.goto(back)
    expect(page).to_have_url(f"{base}/web/")
    assert who(page) == "dana"

    # The same answer again, in a browser signed out since: the flow is spent, the code used.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/web/login")
    answer = page.goto(back)
    assert answer is not None and answer.status == 401
    _signed_out(page, base)


def test_sign_in_page_offers_both_ways(oidc_stack: Stack, page: Page) -> None:
    base = oidc_stack.url
    page.goto(f"{base}/web/login")
    expect(page.get_by_label("Personal access token")).to_be_visible()
    expect(page.get_by_role("link", name=SSO_LINK)).to_be_visible()
    page.get_by_label("Personal access token").fill("sbx_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_be_visible()
    # After a mistyped token, single sign-on is still offered.
    expect(page.get_by_role("link", name=SSO_LINK)).to_be_visible()
