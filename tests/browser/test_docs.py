"""/docs in a real browser: Swagger UI from the server itself, offline, under the strict policy (T12).

The page once loaded Swagger UI's script and stylesheet from a public CDN, with no integrity check and a
relaxed policy, on the same origin as the cookie-signed-in web pages; offline it was blank. Here every
request to another host is refused (and recorded), and the page must still list the API's operations,
run one ("Try it out"), and break no rule of a Content-Security-Policy without 'unsafe-inline'.
"""

from __future__ import annotations

import urllib.parse

from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.browser.web import Watch, assert_security_headers
from tests.support.processes import Stack

LOCAL = {"127.0.0.1", "localhost"}


def _offline(context: BrowserContext) -> list[str]:
    """Abort every request that leaves this machine; the list of those that tried."""
    outside: list[str] = []

    def handle(route: Route) -> None:
        if urllib.parse.urlsplit(route.request.url).hostname in LOCAL:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", handle)
    return outside


def test_docs_render_offline_under_the_strict_policy(
    web_stack: Stack, context: BrowserContext, page: Page, watch: Watch
) -> None:
    outside = _offline(context)
    page.goto(f"{web_stack.url}/docs")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/secrets").first).to_be_visible()
    assert page.locator(".opblock").count() >= 20  # every operation of the API is listed
    expect(page.locator(".info .title")).to_contain_text("sealbox")

    # "Try it out" sends a request to this origin: the policy lets the page read the answer.
    health = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/healthz"))
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    answer = health.locator(".live-responses-table tbody td.response-col_status").first
    expect(answer).to_have_text("200")

    assert outside == [], f"the docs page reached outside this machine: {outside}"
    assert watch.problems == [], watch.problems  # no Content-Security-Policy violation, no page error
    loaded = {s.path: s for s in watch.responses}
    for path in ("/docs", "/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        assert loaded[path].status == 200, path
        assert loaded[path].url.startswith(web_stack.url), path
    assert_security_headers(loaded["/docs"])  # default-src 'none', script-src 'self', no 'unsafe-…'
    csp = loaded["/docs"].headers["content-security-policy"]
    directives = {d.split()[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives["style-src"] == "style-src 'self'", csp
    assert directives["connect-src"] == "connect-src 'self'", csp
    assert "cdn" not in (loaded["/docs"].body or b"").decode().lower()
