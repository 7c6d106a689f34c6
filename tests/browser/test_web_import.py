"""The web page's Import .env and expiry badges, in a real browser against a real keeper and server.

The file is posted once for a plan (names and lines, nothing changed), and once more with "Import now"
ticked; no value ever comes back into a page (sources, DOM, inputs, storage) or the logs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.web import Watch, exposure, sign_in, table_rows
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack

Canary = Callable[[str], str]


def _secret(stack: Stack, token: str, name: str) -> dict[str, Any] | None:
    with stack.client(token) as api:
        found = api.get(f"/api/v1/secrets/{name}")
    return found.json() if found.status_code == 200 else None


def _create(stack: Stack, token: str, name: str, value: str, **extra: Any) -> None:
    with stack.client(token) as api:
        made = api.post("/api/v1/secrets", json={"name": name, "value": value, **extra})
    assert made.status_code == 201, made.text


def _choose(page: Page, content: str) -> None:
    page.get_by_label(".env file").set_input_files(
        files=[{"name": "team.env", "mimeType": "text/plain", "buffer": content.encode()}]
    )


def test_import_env_plans_then_imports_and_never_shows_a_value(
    web_stack: Stack, page: Page, watch: Watch, canary: Canary, user_token: Callable[[str], str]
) -> None:
    token = user_token("importer")
    old, first, last, api = canary("old"), canary("first"), canary("last"), canary("api")
    _create(web_stack, token, "API_KEY", old)
    content = f"DB_PASSWORD={first}\nAPI_KEY='{api}'\nnot an assignment\nDB_PASSWORD={last}\nodd:key=x1\n"
    sign_in(page, web_stack.url, token)
    page.get_by_role("link", name="Import .env").click()
    _choose(page, content)
    page.get_by_role("button", name="Show the plan").click()
    expect(page.get_by_role("heading", name="Plan: nothing was changed")).to_be_visible()
    assert table_rows(page) == [
        ["2", "replace", "API_KEY", ""],
        ["4", "create", "DB_PASSWORD", ""],
        ["5", "create", "odd_key", "from odd:key"],
    ]
    problems = page.get_by_role("list", name="Lines not imported, and notes")
    expect(problems).to_contain_text("line 1: DB_PASSWORD is given again on line 4, which is used")
    expect(problems).to_contain_text("line 3: not KEY=VALUE: skipped")
    assert _secret(web_stack, token, "DB_PASSWORD") is None
    assert page.get_by_label(".env file").input_value() == ""  # the file is not kept

    _choose(page, content)
    page.get_by_label("Import now").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Imported")).to_be_visible()
    assert [r[:3] for r in table_rows(page)] == [
        ["2", "replaced", "API_KEY"],
        ["4", "created", "DB_PASSWORD"],
        ["5", "created", "odd_key"],
    ]
    stored = _secret(web_stack, token, "API_KEY")
    assert stored is not None and stored["current_version"] == 2
    assert _secret(web_stack, token, "DB_PASSWORD") is not None
    assert find_in_bytes(exposure(page, watch), [old, first, last, api]) == []


def test_the_list_shows_expiry_and_badges_those_expiring_within_30_days(
    web_stack: Stack, page: Page, user_token: Callable[[str], str]
) -> None:
    token = user_token("expiring")
    soon = datetime.now(UTC) + timedelta(days=10)
    _create(web_stack, token, "soon", "v1", expires_at=soon.isoformat())
    _create(web_stack, token, "later", "v2", expires_at=(soon + timedelta(days=50)).isoformat())
    _create(web_stack, token, "never", "v3")
    sign_in(page, web_stack.url, token)
    rows = {r[0].split()[0]: r for r in table_rows(page)}
    assert rows["soon"][0] == "soon expires soon" and rows["soon"][7] == soon.strftime("%Y-%m-%d %H:%M")
    assert rows["later"][0] == "later" and rows["later"][7] != "—"
    assert rows["never"][0] == "never" and rows["never"][7] == "—"
