"""Helpers for driving the web pages: launching Chromium, signing in, filling forms, watching what comes back.

`Watch` listens to a browser context: it keeps every response (headers, and the source of every
document as the server sent it), console messages about the Content-Security-Policy, and uncaught
page errors. `exposure()` gathers everything a value could hide in afterwards, for the canary scans.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Response, ViewportSize, expect
from playwright.sync_api import Error as PlaywrightError

from sealbox.domain.kinds import SPECS, Kind

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1200, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Every canary the browser tests make; the stacks' logs are scanned for all of them at the end.
CANARIES: list[str] = []
SAFE_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


@dataclass
class Seen:
    method: str
    url: str
    status: int
    headers: dict[str, str]
    document: bool
    body: bytes | None = None
    pending: bool = False
    body_error: str = ""

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path


@dataclass
class Watch:
    """What one browser context received, and what went wrong in its pages."""

    context: BrowserContext
    responses: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    snapshots: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.context.on("response", self._response)
        self.context.on("console", self._console)
        self.context.on("weberror", lambda error: self.problems.append(f"page error: {error.error}"))

    def _response(self, response: Response) -> None:
        seen = Seen(
            method=response.request.method,
            url=response.url,
            status=response.status,
            headers=dict(response.headers),
            document=response.request.resource_type == "document",
        )
        self.responses.append(seen)
        if seen.document and not 300 <= seen.status < 400:
            seen.pending = True
            try:
                seen.body = response.body()
            except PlaywrightError as exc:  # the page went on before the body was read
                seen.body_error = str(exc)[:200]
            finally:
                seen.pending = False

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.problems.append(f"console: {text[:300]}")

    def settle(self, page: Page) -> None:
        """Wait until the source of every document received so far has been read."""
        deadline = time.monotonic() + 10
        while any(s.pending for s in self.responses) and time.monotonic() < deadline:
            page.wait_for_timeout(20)

    def snap(self, page: Page) -> None:
        """Keep this page's DOM and its inputs' current values for a later scan."""
        self.snapshots.append(page.content().encode())
        self.snapshots.append(json.dumps(input_values(page)).encode())

    def web(self) -> list[Seen]:
        return [s for s in self.responses if s.path.startswith("/web")]

    def check(self) -> None:
        """Every /web response carried the security headers; no page broke the CSP or threw."""
        assert self.problems == [], self.problems
        for seen in self.web():
            assert_security_headers(seen)


def assert_security_headers(seen: Seen) -> None:
    where = f"{seen.method} {seen.path} ({seen.status})"
    csp = seen.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", f"{where}: CSP {csp!r}"
    assert directives.get("default-src") == "default-src 'none'", f"{where}: CSP {csp!r}"
    assert directives.get("script-src") == "script-src 'self'", f"{where}: CSP {csp!r}"
    assert "unsafe-" not in csp, f"{where}: CSP {csp!r}"
    assert seen.headers.get("x-content-type-options") == "nosniff", where
    assert seen.headers.get("referrer-policy") in SAFE_REFERRER_POLICIES, where
    assert "no-store" in seen.headers.get("cache-control", ""), where


def input_values(page: Page) -> list[str]:
    values: list[str] = page.eval_on_selector_all("input,textarea", "els => els.map(e => e.value)")
    return values


def exposure(page: Page, watch: Watch) -> bytes:
    """Everything a value could hide in: the source of every document the context received, the DOM and
    input values of every page snapped, of this page now, the context's cookies and this page's storage."""
    watch.settle(page)
    unread = [s.url for s in watch.responses if s.document and s.body_error]
    assert unread == [], f"could not read the source of {unread}"
    parts = [s.body for s in watch.responses if s.body]
    parts.extend(watch.snapshots)
    parts.append(page.content().encode())
    parts.append(json.dumps(input_values(page)).encode())
    parts.append(json.dumps(page.context.cookies()).encode())
    parts.append(json.dumps(page.context.storage_state()).encode())
    return b"\n".join(parts)


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """docs/screenshots/<name>.png, for the README (overwritten on every run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/web/login")
    page.get_by_label("Personal access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/web/")


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf]").first.input_value()


def who(page: Page) -> str:
    return page.locator("header .who").inner_text()


def fill_new_secret(
    page: Page,
    *,
    name: str,
    kind: str,
    values: Mapping[str, str],
    description: str = "",
) -> None:
    """On /web/new: the name, the kind, the value (`{"value": ...}`) or the kind's fields, a description."""
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Kind").select_option(kind)
    fieldset = page.locator(f"fieldset[data-kind='{kind}']")
    for key, value in values.items():
        fieldset.locator(f"[name='{key if key == 'value' else 'field_' + key}']").fill(value)
    if description:
        page.get_by_label("Description", exact=True).fill(description)


def submit(page: Page, button: str, path_suffix: str) -> int:
    """Click a submit button; the status of the POST it sends (once the page it leads to has loaded)."""
    with (
        page.expect_navigation(wait_until="load"),
        page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(path_suffix)) as info,
    ):
        page.get_by_role("button", name=button, exact=True).click()
    return info.value.status


def add_via_form(
    page: Page, base: str, *, name: str, kind: str, values: Mapping[str, str], description: str = ""
) -> int:
    page.goto(f"{base}/web/new")
    fill_new_secret(page, name=name, kind=kind, values=values, description=description)
    return submit(page, "Save secret", "/web/new")


def stored_size(kind: str, values: Mapping[str, str]) -> int:
    """The size the server records for a value given as a form's inputs (fields: their canonical JSON)."""
    spec = SPECS[Kind(kind)]
    if spec.multi_field:
        fields = {k: v for k, v in values.items() if v}
        return len(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    return len(values["value"].encode())


def unlabelled(page: Page) -> list[str]:
    """Form controls a screen reader could not name: no <label>, aria-label or aria-labelledby."""
    found: list[str] = page.eval_on_selector_all(
        "input:not([type=hidden]), select, textarea",
        """els => els.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                         && !e.getAttribute('aria-labelledby')).map(e => e.outerHTML)""",
    )
    return found


def table_rows(page: Page, selector: str = "main table") -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{selector} tbody tr",
        "trs => trs.map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()))",
    )
    return rows


def meta(page: Page) -> dict[str, str]:
    """The secret page's metadata list, term -> description."""
    pairs: list[list[str]] = page.eval_on_selector_all(
        "dl.meta dt", "dts => dts.map(dt => [dt.innerText.trim(), dt.nextElementSibling.innerText.trim()])"
    )
    return {k: v for k, v in pairs}
