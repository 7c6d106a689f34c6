"""The web pages in a real browser (Debian's Chromium) against a real keeper and server.

Sign in and out, add each kind of secret and never see its value again (page sources, DOM, input
values, cookies, storage), the forms without JavaScript, errors next to their fields, a secret's page
(replace, share, revoke, delete), CSRF refusals, sessions, audit, keyboard use and labels, pages of
secrets, and the screenshots the README shows (docs/screenshots/).
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Locator, Page, expect

from sealbox.domain.kinds import SPECS, Kind
from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.browser.web import (
    CANARIES,
    Watch,
    csrf_of,
    exposure,
    fill_new_secret,
    meta,
    screenshot,
    sign_in,
    stored_size,
    submit,
    table_rows,
    unlabelled,
    who,
)
from tests.support.canaries import find_in_bytes, ssh_key_shaped
from tests.support.processes import Stack

NewContext = Callable[..., tuple[BrowserContext, Watch]]
Canary = Callable[[str], str]

BAD_TOKEN_MESSAGE = "that token is not valid (or has expired, or was revoked, or its user is disabled)"
NAME_RULE_TEXT = "1-128 letters, digits, '.', '_' or '-', and not '.' or '..'"
CSRF_MESSAGE = "the form expired or came from another site; reload the page"


def _api_secret(stack: Stack, name: str, token: str | None = None) -> dict[str, Any] | None:
    with stack.client(token) as api:
        found = api.get(f"/api/v1/secrets/{name}")
    if found.status_code == 404:
        return None
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def _api_create(stack: Stack, name: str, value: str, token: str | None = None, **extra: Any) -> None:
    with stack.client(token) as api:
        created = api.post("/api/v1/secrets", json={"name": name, "value": value, **extra})
    assert created.status_code == 201, created.text


def _api_session(stack: Stack, mappings: list[dict[str, str]], token: str | None = None, **extra: Any) -> Any:
    with stack.client(token) as api:
        created = api.post("/api/v1/sessions", json={"secrets": mappings, **extra})
    assert created.status_code == 201, created.text
    return created.json()["session"]


def _assert_next_to(field: Locator, error: Locator, *, within: float = 90) -> None:
    """The error is shown, in words, just below (or beside) the field it concerns."""
    expect(error).to_be_visible()
    assert error.inner_text().strip()
    f, e = field.bounding_box(), error.bounding_box()
    assert f is not None and e is not None
    assert -5 <= e["y"] - (f["y"] + f["height"]) <= within, (f, e)


def _ssh_key(marker: str) -> str:
    body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
    return ssh_key_shaped(body, marker)


def _access_key_id() -> str:
    value = "AKIA" + secrets.token_hex(10).upper()
    CANARIES.append(value)
    return value


# --- sign in and out ---------------------------------------------------------------------------------


def test_sign_in_errors_cookie_headers_and_sign_out(
    web_stack: Stack, page: Page, context: BrowserContext, watch: Watch, new_context: NewContext
) -> None:
    base = web_stack.url
    page.goto(f"{base}/web/")
    expect(page).to_have_url(f"{base}/web/login")
    # No issuer configured: no single sign-on button.
    expect(page.get_by_role("link", name="Sign in with single sign-on")).to_have_count(0)

    field = page.get_by_label("Personal access token")
    field.fill("sbx_" + "not-a-real-token-" + secrets.token_hex(8))
    assert submit(page, "Sign in", "/web/login") == 401
    error = page.locator("#token-error")
    expect(error).to_have_text(BAD_TOKEN_MESSAGE)
    _assert_next_to(field, error)
    expect(field).to_have_attribute("aria-invalid", "true")
    assert "token-error" in (field.get_attribute("aria-describedby") or "").split()
    expect(field).to_have_value("")  # what was typed is not sent back
    assert "not-a-real-token" not in page.content()

    field.fill(web_stack.admin_token)
    assert submit(page, "Sign in", "/web/login") == 303
    expect(page).to_have_url(f"{base}/web/")
    assert who(page) == "admin"

    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["sealbox_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["secure"] is False  # plain http on loopback; Secure over https
    assert session["path"] == "/"
    assert "sealbox_login_csrf" not in cookies  # spent
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it
    # The token is in no page, input or cookie.
    assert find_in_bytes(exposure(page, watch), [web_stack.admin_token]) == []

    old_cookie = session["value"]
    assert submit(page, "Sign out", "/web/logout") == 303
    expect(page).to_have_url(f"{base}/web/login")
    assert "sealbox_session" not in {c["name"] for c in context.cookies()}
    page.goto(f"{base}/web/")
    expect(page).to_have_url(f"{base}/web/login")

    # The old cookie, replayed from another browser, no longer works.
    other, _ = new_context()
    other.add_cookies([{"name": "sealbox_session", "value": old_cookie, "url": base}])
    replay = other.new_page()
    replay.goto(f"{base}/web/")
    expect(replay).to_have_url(f"{base}/web/login")

    # Every /web response (pages, redirects, errors, static files) carried the security headers.
    seen = watch.web()
    assert {s.status for s in seen} >= {200, 303, 401}
    assert any(s.path.startswith("/web/static/") for s in seen)
    watch.check()
    # Nothing came from anywhere but the server itself (no CDN, no fonts, nothing from the internet).
    hosts = {urllib.parse.urlsplit(s.url).netloc for s in watch.responses}
    assert hosts == {urllib.parse.urlsplit(base).netloc}


# --- adding secrets: the value never comes back ------------------------------------------------------


def test_add_each_kind_value_never_comes_back(
    web_stack: Stack, page: Page, watch: Watch, canary: Canary
) -> None:
    base = web_stack.url
    sign_in(page, base, web_stack.admin_token)
    key_id = _access_key_id()
    kinds: dict[str, tuple[str, dict[str, str]]] = {
        "generic": ("kind-generic", {"value": canary("generic")}),
        "token": ("kind-token", {"value": canary("token")}),
        "ssh-key": ("kind-ssh", {"value": _ssh_key(canary("ssh"))}),
        "aws": (
            "kind-aws",
            {
                "access_key_id": key_id,
                "secret_access_key": canary("awssecret"),
                "session_token": canary("awssession"),
                "region": "eu-west-1",
            },
        ),
        "database": (
            "kind-db",
            {"url": f"postgresql://analyst:{canary('dbpass')}@db.internal:5432/warehouse"},
        ),
    }
    values = [v for _, fields in kinds.values() for v in fields.values() if v != "eu-west-1"]

    for kind, (name, fields) in kinds.items():
        page.goto(f"{base}/web/new")
        fill_new_secret(page, name=name, kind=kind, values=fields, description=f"a {kind} secret")
        assert submit(page, "Save secret", "/web/new") == 303
        expect(page).to_have_url(f"{base}/web/s/admin/{name}?saved=1")
        expect(page.get_by_role("status")).to_have_text(
            "Saved. The value is encrypted and will not be shown again."
        )
        shown = meta(page)
        assert shown["Kind"].split(" ")[0] == kind
        assert shown["Version"] == "1"
        assert shown["Description"] == f"a {kind} secret"
        (row,) = table_rows(page, "main table")
        assert row[0] == "1" and row[3] == str(stored_size(kind, fields))
        assert page.locator(".secret-input").count() >= 1  # the Replace form, empty
        assert all(
            v == "" for v in page.locator(".secret-input").evaluate_all("els => els.map(e => e.value)")
        )
        watch.snap(page)
        found = _api_secret(web_stack, name)
        assert found is not None and found["kind"] == kind

    # Every page there is, afterwards.
    for path in ["/web/", "/web/?q=kind-", "/web/new", "/web/sessions", "/web/audit"]:
        page.goto(base + path)
        watch.snap(page)
    for _, (name, _) in kinds.items():
        page.goto(f"{base}/web/s/admin/{name}")
        watch.snap(page)
        page.goto(f"{base}/web/audit?secret={name}")
        watch.snap(page)
    assert table_rows(page)  # the audit page has records
    assert find_in_bytes(exposure(page, watch), values) == []


def test_ssh_key_keeps_its_line_breaks(web_stack: Stack, page: Page, watch: Watch, canary: Canary) -> None:
    """A <textarea> posts CRLF line breaks; the key is stored with LF, as it was typed (and as ssh needs)."""
    base = web_stack.url
    sign_in(page, base, web_stack.admin_token)
    first, second = _ssh_key(canary("sshone")), _ssh_key(canary("sshtwo"))
    assert first.count("\n") == 4
    page.goto(f"{base}/web/new")
    fill_new_secret(page, name="line-breaks", kind="ssh-key", values={"value": first})
    assert submit(page, "Save secret", "/web/new") == 303
    # Replacing it: the new value goes in a multi-line field too (an <input> would drop the line breaks).
    replace = page.get_by_label("New value")
    expect(replace).to_have_js_property("tagName", "TEXTAREA")
    replace.fill(second)
    assert submit(page, "Replace", "/replace") == 303
    found = _api_secret(web_stack, "line-breaks")
    assert found is not None
    sizes = {v["version"]: v["size"] for v in found["versions"]}
    assert sizes == {1: len(first.encode()), 2: len(second.encode())}
    assert find_in_bytes(exposure(page, watch), [first, second]) == []


def test_add_form_without_javascript(web_stack: Stack, new_context: NewContext, canary: Canary) -> None:
    base = web_stack.url
    context, watch = new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base, web_stack.admin_token)
    page.goto(f"{base}/web/new")
    # Without the script every kind's inputs show (and are posted); the show toggle stays hidden.
    expect(page.locator("fieldset.kind-fields")).to_have_count(len(Kind))
    for fieldset in page.locator("fieldset.kind-fields").all():
        expect(fieldset).to_be_visible()
    expect(page.get_by_role("button", name="Show value")).to_be_hidden()

    cases = {
        "database": ("nojs-db", {"url": f"postgresql://etl:{canary('nojsdb')}@warehouse:5432/etl"}),
        "token": ("nojs-token", {"value": canary("nojstoken")}),  # the second `value` input
        "ssh-key": ("nojs-ssh", {"value": _ssh_key(canary("nojsssh"))}),  # the third
    }
    for kind, (name, fields) in cases.items():
        page.goto(f"{base}/web/new")
        fill_new_secret(page, name=name, kind=kind, values=fields)
        with (
            page.expect_navigation(wait_until="load"),
            page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/web/new")) as sent,
        ):
            page.get_by_role("button", name="Save secret").click()
        expect(page).to_have_url(f"{base}/web/s/admin/{name}?saved=1")
        posted = urllib.parse.parse_qs(sent.value.post_data or "", keep_blank_values=True)
        # One `value` input for each kind of one value (generic, token, ssh-key, gcp's key file).
        assert len(posted["value"]) == len([k for k in Kind if not SPECS[k].multi_field])
        for f in ("access_key_id", "secret_access_key", "session_token", "region", "url", "host", "dbname"):
            assert f"field_{f}" in posted, f
        # The server kept the one that was filled in.
        (row,) = table_rows(page, "main table")
        assert row[3] == str(stored_size(kind, fields))
        found = _api_secret(web_stack, name)
        assert found is not None and found["kind"] == kind

    page.goto(f"{base}/web/")
    values = [v for _, fields in cases.values() for v in fields.values()]
    assert find_in_bytes(exposure(page, watch), values) == []


# --- errors next to their fields ---------------------------------------------------------------------


def test_name_checked_as_you_type(web_stack: Stack, page: Page, watch: Watch) -> None:
    base = web_stack.url
    sign_in(page, base, web_stack.admin_token)
    page.goto(f"{base}/web/new")
    already = len(watch.responses)
    name = page.get_by_label("Name", exact=True)
    error = page.locator("#name-error")
    expect(error).to_be_hidden()
    name.press_sequentially("my secret")
    _assert_next_to(name, error)
    expect(error).to_have_text(f"A secret name is {NAME_RULE_TEXT}.")
    expect(name).to_have_attribute("aria-invalid", "true")
    assert "name-error" in (name.get_attribute("aria-describedby") or "").split()
    name.fill("..")
    expect(error).to_be_visible()
    name.fill("x" * 129)
    expect(name).to_have_value("x" * 128)  # the field takes no more than the rule allows
    name.fill("my-secret_2.txt")
    expect(error).to_be_hidden()
    expect(name).to_have_attribute("aria-invalid", "false")
    assert not any(s.method == "POST" for s in watch.responses[already:])  # all of it before submitting


def test_server_errors_next_to_the_field_and_value_never_rerendered(
    web_stack: Stack, page: Page, watch: Watch, canary: Canary
) -> None:
    base = web_stack.url
    _api_create(web_stack, "taken", "x")
    sign_in(page, base, web_stack.admin_token)
    typed: list[str] = []

    def attempt(status: int, *, name: str, kind: str, values: dict[str, str], description: str = "") -> None:
        typed.extend(v for v in values.values() if v.startswith("cnry-"))
        page.goto(f"{base}/web/new")
        fill_new_secret(page, name=name, kind=kind, values=values, description=description)
        assert submit(page, "Save secret", "/web/new") == status
        expect(page).to_have_url(f"{base}/web/new")
        # What was typed comes back except the value: every value input is empty.
        expect(page.get_by_label("Name", exact=True)).to_have_value(name)
        expect(page.get_by_label("Kind")).to_have_value(kind)
        for value_input in page.locator(".secret-input").all():
            expect(value_input).to_have_value("")
        watch.snap(page)

    # Duplicate name: 409, next to the name.
    attempt(409, name="taken", kind="generic", values={"value": canary("dup")}, description="kept")
    name = page.get_by_label("Name", exact=True)
    _assert_next_to(name, page.locator("#name-error"))
    expect(page.locator("#name-error")).to_have_text("you already have a secret with that name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Description", exact=True)).to_have_value("kept")

    # An invalid name, sent anyway: the server's rule, next to the name.
    attempt(400, name="no spaces", kind="generic", values={"value": canary("badname")})
    expect(page.locator("#name-error")).to_have_text(f"a secret name is {NAME_RULE_TEXT}")

    # Empty value: next to the value input of that kind.
    attempt(400, name="empty-one", kind="token", values={})
    value_error = page.locator("p.error", has_text="the value is empty")
    _assert_next_to(page.locator("#value_token"), value_error)
    assert _api_secret(web_stack, "empty-one") is None

    # An ssh key that is not a key.
    attempt(400, name="not-a-key", kind="ssh-key", values={"value": canary("notakey")})
    _assert_next_to(
        page.locator("#value_ssh-key"),
        page.locator("p.error", has_text="must be a PEM or OpenSSH private key"),
    )

    # An invalid AWS access key id: next to that field, all fields empty again.
    attempt(
        400,
        name="bad-aws",
        kind="aws",
        values={
            "access_key_id": "not-a-key-id",
            "secret_access_key": canary("awsbad"),
            "region": "eu-west-1",
        },
    )
    field = page.locator("#field_aws_access_key_id")
    error = page.locator("#err_aws_access_key_id")
    expect(error).to_have_text("access_key_id must be 16-128 capital letters or digits")
    _assert_next_to(field, error)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "err_aws_access_key_id")

    # Both a database url and its parts: next to the url.
    attempt(
        400,
        name="bad-db",
        kind="database",
        values={"url": f"postgresql://u:{canary('dburl')}@h/d", "host": "h"},
    )
    _assert_next_to(page.locator("#field_database_url"), page.locator("#err_database_url"))

    for never_made in ("empty-one", "not-a-key", "bad-aws", "bad-db"):
        assert _api_secret(web_stack, never_made) is None
    assert find_in_bytes(exposure(page, watch), typed) == []


# --- a secret's page ---------------------------------------------------------------------------------


def test_secret_page_replace_share_revoke_delete(
    web_stack: Stack,
    page: Page,
    watch: Watch,
    new_context: NewContext,
    user_token: Callable[[str], str],
    canary: Canary,
) -> None:
    base = web_stack.url
    first, second = canary("v1"), canary("v2")
    _api_create(web_stack, "team-db", first, description="the team's database password")
    bob = user_token("bob")
    sign_in(page, base, web_stack.admin_token)
    page.goto(f"{base}/web/s/admin/team-db")
    expect(page.get_by_role("heading", level=1)).to_have_text("team-db")
    shown = meta(page)
    assert shown["Owner"] == "admin" and shown["Kind"] == "generic" and shown["Version"] == "1"
    assert shown["Description"] == "the team's database password"
    versions = page.locator("table").first
    expect(versions.locator("tbody tr")).to_have_count(1)

    # Replace value: version 2.
    page.get_by_label("New value").fill(second)
    assert submit(page, "Replace", "/replace") == 303
    expect(page).to_have_url(f"{base}/web/s/admin/team-db")
    assert meta(page)["Version"] == "2"
    rows = table_rows(page, "main table")
    assert [r[0] for r in rows[:2]] == ["2", "1"]  # newest first
    expect(page.get_by_label("New value")).to_have_value("")

    # Share with bob at level use: listed.
    page.get_by_label("Share with a").select_option("user")
    page.get_by_label("named").fill("bob")
    page.get_by_label("at level").select_option("use")
    assert submit(page, "Share", "/share") == 303
    share_rows = table_rows(page, "section.card:has(h2:text-is('Share')) table")
    assert share_rows == [["user bob", "use", "Revoke"]]
    page.goto(f"{base}/web/?q=team-db")
    (listed,) = table_rows(page)
    assert listed[0] == "team-db" and listed[5] == "bob (use)"

    # Bob, in his own browser: admin/team-db at level use, and no Replace (nor Delete, Share) form.
    bob_context, bob_watch = new_context()
    bob_page = bob_context.new_page()
    sign_in(bob_page, base, bob)
    assert who(bob_page) == "bob"
    bob_row = bob_page.get_by_role("row").filter(has=bob_page.get_by_role("link", name="admin/team-db"))
    expect(bob_row).to_have_count(1)
    expect(bob_row.locator(".tag")).to_have_text("use")
    bob_row.get_by_role("link", name="admin/team-db").click()
    expect(bob_page).to_have_url(f"{base}/web/s/admin/team-db")
    expect(bob_page.get_by_role("heading", level=1)).to_have_text("admin/team-db")
    expect(bob_page.locator(".bar .tag")).to_have_text("use")
    for heading in ("Replace value", "Share", "Delete", "Details"):
        expect(bob_page.get_by_role("heading", name=heading, exact=True)).to_have_count(0)
    expect(bob_page.locator("main form")).to_have_count(0)
    bob_watch.snap(bob_page)

    # Revoke: gone from bob's list and page.
    page.goto(f"{base}/web/s/admin/team-db")
    assert submit(page, "Revoke", "/unshare") == 303
    expect(page.get_by_text("Not shared.")).to_be_visible()
    bob_page.goto(f"{base}/web/")
    expect(bob_page.get_by_role("link", name="admin/team-db")).to_have_count(0)
    bob_page.goto(f"{base}/web/s/admin/team-db")
    expect(bob_page.get_by_role("alert")).to_be_visible()
    expect(bob_page.get_by_role("heading", name="Replace value")).to_have_count(0)

    # Usage: a session that received version 2 is listed, with its user and version.
    with web_stack.client() as api:
        launched = api.post("/api/v1/sessions", json={"secrets": [{"name": "team-db", "file": "team-db"}]})
    assert launched.status_code == 201, launched.text
    session = launched.json()["session"]
    with HTTPClient(web_stack.url) as anonymous:
        redeem(
            anonymous,
            session_id=session["id"],
            credential=launched.json()["session_credential"],
            keeper_url=web_stack.keeper.url,
        )
    page.goto(f"{base}/web/s/admin/team-db")
    (used,) = table_rows(page, "table.usage")
    assert used[:4] == [session["id"], "admin", "—", "2"] and used[7] == "active (holds v2)", used
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()

    # Delete: a live session mounts it, and the confirmation names it; without the box it is refused.
    mounting = page.locator("ul.sessions")
    expect(mounting).to_contain_text(session["id"])
    delete_card = page.locator("section.card.danger")
    expect(delete_card).to_contain_text(session["id"][:12])
    expect(delete_card).to_contain_text("Live sessions hold it")
    confirm = page.get_by_label("Type team-db to delete it")
    confirm.fill("team-dB")
    assert submit(page, "Delete", "/delete") == 400
    _assert_next_to(confirm, page.locator("#confirm ~ p.error"))
    expect(page.locator("#confirm ~ p.error")).to_have_text("type the secret's name to confirm")
    assert _api_secret(web_stack, "team-db") is not None
    page.get_by_label("Type team-db to delete it").fill("team-db")
    assert submit(page, "Delete", "/delete") == 409
    box = page.get_by_label("Delete although live sessions hold it")
    held = page.locator("section.card.danger p.error")
    expect(held).to_contain_text(session["id"])
    _assert_next_to(box, held)
    assert _api_secret(web_stack, "team-db") is not None
    page.get_by_label("Type team-db to delete it").fill("team-db")
    page.get_by_label("Delete although live sessions hold it").check()
    assert submit(page, "Delete", "/delete") == 303
    expect(page).to_have_url(f"{base}/web/?deleted=1")
    expect(page.get_by_role("status")).to_contain_text("The secret was deleted.")
    expect(page.get_by_role("link", name="team-db", exact=True)).to_have_count(0)
    assert _api_secret(web_stack, "team-db") is None

    # Recently deleted: listed with when it goes for good; Restore brings it back with its versions.
    page.get_by_role("status").get_by_role("link", name="Recently deleted").click()
    expect(page).to_have_url(f"{base}/web/deleted")
    (row,) = [r for r in table_rows(page) if r[0] == "team-db"]
    assert row[1:4] == ["generic", row[2], "admin"] and row[4].endswith(" UTC")
    assert submit(page, "Restore admin/team-db", "/restore") == 303
    expect(page).to_have_url(f"{base}/web/s/admin/team-db?restored=1")
    expect(page.get_by_role("status")).to_have_text("Restored, with its versions and grants.")
    assert meta(page)["Version"] == "2"
    assert _api_secret(web_stack, "team-db") is not None
    page.goto(f"{base}/web/deleted")
    expect(page.get_by_text("Nothing deleted recently.")).to_be_visible()

    assert find_in_bytes(exposure(page, watch) + exposure(bob_page, bob_watch), [first, second]) == []


# --- CSRF ----------------------------------------------------------------------------------------------


def test_csrf_refused(web_stack: Stack, page: Page, context: BrowserContext, canary: Canary) -> None:
    base = web_stack.url
    _api_create(web_stack, "csrf-target", canary("csrf"))
    sign_in(page, base, web_stack.admin_token)
    page.goto(f"{base}/web/s/admin/csrf-target")
    good = csrf_of(page)
    assert len(good) >= 32

    # From outside the page (same cookies): no csrf field, or a wrong one.
    wrong = good[:-1] + ("A" if good[-1] != "A" else "B")
    forms: list[dict[str, str | float | bool]] = [
        {"confirm": "csrf-target"},
        {"confirm": "csrf-target", "csrf": wrong},
    ]
    for form in forms:
        refused = context.request.post(f"{base}/web/s/admin/csrf-target/delete", form=form, max_redirects=0)
        assert refused.status == 403
        assert CSRF_MESSAGE in refused.text()
        assert refused.headers["content-type"].startswith("text/html")
    others: dict[str, dict[str, str | float | bool]] = {
        "replace": {"value": "replaced", "version": "1"},
        "share": {"grantee_type": "user", "grantee": "admin", "level": "use"},
        "update": {"description": "changed"},
    }
    for action, form in others.items():
        refused = context.request.post(f"{base}/web/s/admin/csrf-target/{action}", form=form, max_redirects=0)
        assert refused.status == 403, action
    refused = context.request.post(
        f"{base}/web/new", form={"name": "csrf-new", "value": "v"}, max_redirects=0
    )
    assert refused.status == 403
    # Sign out and sign in refuse too.
    assert context.request.post(f"{base}/web/logout", form={}, max_redirects=0).status == 403
    assert (
        context.request.post(
            f"{base}/web/login", form={"token": web_stack.admin_token, "csrf": "forged"}, max_redirects=0
        ).status
        == 403
    )

    # In the page: the hidden input edited before submitting.
    page.goto(f"{base}/web/s/admin/csrf-target")
    page.eval_on_selector("form[action$='/replace'] input[name=csrf]", "e => { e.value = 'forged' }")
    page.get_by_label("New value").fill(canary("csrfreplace"))
    assert submit(page, "Replace", "/replace") == 403
    expect(page.get_by_role("alert")).to_have_text(CSRF_MESSAGE)

    # Nothing changed, and the session still works.
    found = _api_secret(web_stack, "csrf-target")
    assert found is not None and found["current_version"] == 1 and found["description"] == ""
    assert _api_secret(web_stack, "csrf-new") is None
    page.goto(f"{base}/web/")
    assert who(page) == "admin"
    with web_stack.client() as api:
        assert api.get("/api/v1/secrets/csrf-target/grants").json() == []


def test_cross_site_form_post_carries_no_session_cookie(
    web_stack: Stack, page: Page, context: BrowserContext, canary: Canary
) -> None:
    """A form on another site posting to sealbox, even with a leaked csrf token: SameSite=Strict keeps
    the session cookie off the request, so it only reaches the sign-in page."""
    base = web_stack.url
    _api_create(web_stack, "cross-site", canary("xsite"))
    sign_in(page, base, web_stack.admin_token)
    page.goto(f"{base}/web/s/admin/cross-site")
    leaked = csrf_of(page)
    attacker = (
        "<!doctype html><title>prize</title>"
        f"<form method=post action='{base}/web/s/admin/cross-site/delete'>"
        f"<input type=hidden name=csrf value='{leaked}'><input type=hidden name=confirm value='cross-site'>"
        "<button type=submit>Claim your prize</button></form>"
    )
    context.route(
        "http://attacker.test/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=attacker),
    )
    page.goto("http://attacker.test/prize")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Claim your prize").click()
    assert posted.value.status == 303
    expect(page).to_have_url(f"{base}/web/login")
    assert _api_secret(web_stack, "cross-site") is not None


# --- sessions and audit --------------------------------------------------------------------------------


def test_sessions_page_lists_and_ends(web_stack: Stack, page: Page, canary: Canary) -> None:
    base = web_stack.url
    _api_create(web_stack, "sess-notebook", canary("sessnb"))
    with web_stack.client() as api:
        made = api.post(
            "/api/v1/secrets",
            json={
                "name": "sess-warehouse",
                "kind": "database",
                "fields": {"url": f"postgresql://u:{canary('sw')}@h/d"},
            },
        )
        assert made.status_code == 201, made.text
    session = _api_session(
        web_stack,
        [
            {"name": "sess-notebook", "env": "NOTEBOOK_TOKEN"},
            {"name": "sess-warehouse", "field": "url", "file": "db-url"},
        ],
        mount_path="/secrets/analysis",
    )
    sign_in(page, base, web_stack.admin_token)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    expect(page).to_have_url(f"{base}/web/sessions")
    row = page.get_by_role("row").filter(has_text=session["id"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("/secrets/analysis")
    expect(row).to_contain_text("admin/sess-notebook v1 → $NOTEBOOK_TOKEN")
    expect(row).to_contain_text("admin/sess-warehouse.url v1 → db-url")

    page.goto(f"{base}/web/?q=sess-notebook")
    (listed,) = table_rows(page)
    assert listed[6] == "1"  # one live session mounts it

    page.goto(f"{base}/web/sessions")
    row = page.get_by_role("row").filter(has_text=session["id"])
    with page.expect_response(lambda r: r.request.method == "POST") as ended:
        row.get_by_role("button", name="End").click()
    assert ended.value.status == 303
    expect(page).to_have_url(f"{base}/web/sessions")
    expect(page.get_by_role("row").filter(has_text=session["id"])).to_have_count(0)
    with web_stack.client() as api:
        assert api.get(f"/api/v1/sessions/{session['id']}").json()["status"] == "ended"


def test_audit_page_records_and_filter(
    web_stack: Stack, page: Page, new_context: NewContext, user_token: Callable[[str], str], canary: Canary
) -> None:
    base = web_stack.url
    _api_create(web_stack, "aud-one", canary("aud1"))
    with web_stack.client() as api:
        assert api.put("/api/v1/secrets/aud-one/value", json={"value": canary("aud2")}).status_code == 200
    _api_create(web_stack, "aud-two", canary("aud3"))
    sign_in(page, base, web_stack.admin_token)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page).to_have_url(f"{base}/web/audit")
    everything = table_rows(page)
    assert {"aud-one", "aud-two"} <= {r[5].removeprefix("admin/") for r in everything}

    page.get_by_label("Secret (name or owner/name)").fill("aud-one")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/web/audit\?secret=aud-one"))
    rows = table_rows(page)
    # (The records name a secret as NAME or OWNER/NAME.)
    assert rows and {r[5].removeprefix("admin/") for r in rows} == {"aud-one"}
    assert {"secret.create", "secret.replace"} <= {r[3] for r in rows}
    assert {r[4] for r in rows} == {"success"}
    assert "2" in {r[6] for r in rows}

    # A secret there is no such thing as: said next to the field.
    page.get_by_label("Secret (name or owner/name)").fill("no-such-secret")
    page.get_by_role("button", name="Filter").click()
    error = page.locator("form.filter p.error")
    expect(error).to_be_visible()
    assert error.inner_text().strip()

    # Another user sees the records of their own secrets, not the admin's.
    erin = user_token("erin")
    _api_create(web_stack, "erin-notes", canary("erin"), token=erin)
    erin_context, _ = new_context()
    erin_page = erin_context.new_page()
    sign_in(erin_page, base, erin)
    erin_page.goto(f"{base}/web/audit")
    secrets_named = {r[5] for r in table_rows(erin_page)}
    assert "erin/erin-notes" in secrets_named  # the audit names every secret owner/name
    assert not {name.rpartition("/")[2] for name in secrets_named} & {
        "aud-one",
        "aud-two",
        "team-db",
        "csrf-target",
    }


# --- keyboard and labels -------------------------------------------------------------------------------


def _tab_to(page: Page, element_id: str, limit: int = 12) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


def test_keyboard_only_and_every_input_labelled(
    web_stack: Stack, page: Page, watch: Watch, canary: Canary
) -> None:
    base = web_stack.url
    page.goto(f"{base}/web/login")
    assert unlabelled(page) == []
    _tab_to(page, "token")
    page.keyboard.type(web_stack.admin_token)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/web/")
    assert unlabelled(page) == []

    page.goto(f"{base}/web/new")
    assert unlabelled(page) == []
    for label in (
        "Name",
        "Kind",
        "Description",
        "Expires (UTC, optional)",
        "Project (optional: only its sessions may use it)",
        "Scopes (optional, one pattern a line, e.g. s3://team-data/*)",
    ):
        expect(page.get_by_label(label, exact=True)).to_have_count(1)
    for kind, labels in {
        "generic": ["Value"],
        "token": ["Value"],
        "ssh-key": ["Value"],
        "aws": ["access_key_id (required)", "secret_access_key (required)", "session_token", "region"],
        "database": ["url", "host", "port", "user", "password", "dbname"],
    }.items():
        fieldset = page.locator(f"fieldset[data-kind='{kind}']")
        for label in labels:
            expect(fieldset.get_by_label(label, exact=True)).to_have_count(1)

    # Name, Tab, kind by typing, Tab, value, show and hide it by keyboard, description, Enter.
    value = canary("keyboard")
    _tab_to(page, "name")
    page.keyboard.type("typed-by-keyboard")
    page.keyboard.press("Tab")
    page.keyboard.type("t")  # the first kind starting with t
    expect(page.get_by_label("Kind")).to_have_value("token")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "value_token"
    page.keyboard.type(value)
    page.keyboard.press("Tab")
    toggle = page.get_by_role("button", name="Show value")
    expect(toggle).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("#value_token")).to_have_attribute("type", "text")
    expect(page.get_by_role("button", name="Hide value")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Space")
    expect(page.locator("#value_token")).to_have_attribute("type", "password")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "description"
    page.keyboard.type("typed without a mouse")
    with (
        page.expect_navigation(wait_until="load"),
        page.expect_response(lambda r: r.request.method == "POST") as posted,
    ):
        page.keyboard.press("Enter")
    assert posted.value.status == 303
    expect(page).to_have_url(f"{base}/web/s/admin/typed-by-keyboard?saved=1")
    assert meta(page)["Description"] == "typed without a mouse"
    (row,) = table_rows(page, "main table")
    assert row[3] == str(len(value))
    assert unlabelled(page) == []

    session = _api_session(web_stack, [{"name": "typed-by-keyboard", "file": "t"}])
    for path in ("/web/sessions", "/web/audit"):
        page.goto(base + path)
        assert unlabelled(page) == []
    # The skip link is the first stop and goes to the content.
    page.goto(f"{base}/web/sessions")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    with web_stack.client() as api:
        api.delete(f"/api/v1/sessions/{session['id']}")
    assert find_in_bytes(exposure(page, watch), [value]) == []


# --- many secrets --------------------------------------------------------------------------------------


def test_pages_of_fifty(web_stack: Stack, page: Page, user_token: Callable[[str], str]) -> None:
    base = web_stack.url
    token = user_token("pager")
    names = [f"bulk-{i:03d}" for i in range(120)]
    with web_stack.client(token) as api:
        for name in names:
            made = api.post("/api/v1/secrets", json={"name": name, "value": "x"})
            assert made.status_code == 201, made.text
    sign_in(page, base, token)
    seen: list[str] = []
    sizes = []
    while True:
        rows = table_rows(page)
        sizes.append(len(rows))
        seen.extend(r[0] for r in rows)
        next_link = page.get_by_role("link", name="Next page")
        if next_link.count() == 0:
            break
        with page.expect_navigation(wait_until="load"):
            next_link.click()
    assert sizes == [50, 50, 20]
    assert sorted(seen) == names

    page.goto(f"{base}/web/")
    page.get_by_label("Filter by name").fill("bulk-11")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{base}/web/?q=bulk-11")
    assert [r[0] for r in table_rows(page)] == [f"bulk-11{i}" for i in range(10)]
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)


# --- the README's screenshots --------------------------------------------------------------------------


def test_screenshots_of_every_page(
    web_stack: Stack, page: Page, user_token: Callable[[str], str], canary: Canary
) -> None:
    """A tidy account (ada's) and a picture of each page: docs/screenshots/*.png."""
    base = web_stack.url
    ada = user_token("ada")
    user_token("bob")
    with web_stack.client(ada) as api:
        for body in (
            {
                "name": "warehouse-db",
                "kind": "database",
                "fields": {"url": f"postgresql://analyst:{canary('shot1')}@warehouse:5432/sales"},
                "description": "Read-only analyst login to the sales warehouse",
            },
            {
                "name": "openai-api-key",
                "kind": "token",
                "value": canary("shot2"),
                "description": "Team LLM key",
            },
            {
                "name": "s3-reader",
                "kind": "aws",
                "fields": {"access_key_id": _access_key_id(), "secret_access_key": canary("shot3")},
                "description": "Reads s3://team-data",
                "scopes": ["s3://team-data/*"],
            },
            {
                "name": "deploy-key",
                "kind": "ssh-key",
                "value": _ssh_key(canary("shot4")),
                "description": "Git deploy key",
            },
            {"name": "slack-webhook", "value": canary("shot5"), "description": "Alerts channel"},
        ):
            assert api.post("/api/v1/secrets", json=body).status_code == 201
        assert (
            api.put(
                "/api/v1/secrets/warehouse-db/value",
                json={"fields": {"url": f"postgresql://analyst:{canary('shot6')}@warehouse:5432/sales"}},
            ).status_code
            == 200
        )
        assert (
            api.post("/api/v1/secrets/warehouse-db/grants", json={"user": "bob", "level": "use"}).status_code
            == 201
        )
    _api_session(
        web_stack,
        [
            {"name": "warehouse-db", "field": "url", "env": "DATABASE_URL"},
            {"name": "openai-api-key", "env": "OPENAI_API_KEY"},
        ],
        token=ada,
        mount_path="/secrets/notebook",
    )

    page.goto(f"{base}/web/login")
    screenshot(page, "sign-in")
    sign_in(page, base, ada)
    screenshot(page, "secrets", full_page=True)
    page.goto(f"{base}/web/new")
    page.get_by_label("Name", exact=True).fill("warehouse-db-admin")
    page.get_by_label("Kind").select_option("database")
    screenshot(page, "new-secret", full_page=True)
    page.goto(f"{base}/web/s/ada/warehouse-db")
    screenshot(page, "secret", full_page=True)
    page.goto(f"{base}/web/sessions")
    screenshot(page, "sessions")
    page.goto(f"{base}/web/audit")
    screenshot(page, "audit", full_page=True)
