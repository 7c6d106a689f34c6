"""Browser fixtures: Debian's Chromium driven by Playwright (sync API) against a real sealbox stack.

One browser and one stack per test module; a fresh browser context (cookies, storage) per test. Every
context is watched (`tests.browser.web.Watch`): when the test ends, every /web response it received
must carry the security headers, and no page may have broken the Content-Security-Policy or thrown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.browser.web import CANARIES, CHROMIUM, LAUNCH_ARGS, VIEWPORT, Watch
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import Stack, running_stack


def scan_logs(stack: Stack) -> None:
    hits = find_in_bytes(stack.logs(), [*CANARIES, stack.admin_token])
    assert hits == [], f"canary or token found in server/keeper logs: {hits}"


# Generous waits: the suite shares its machine with servers, keepers and another browser.
expect.set_options(timeout=15_000)


@pytest.fixture
def canary() -> Callable[[str], str]:
    def make(label: str = "") -> str:
        value = make_canary(label)
        CANARIES.append(value)
        return value

    return make


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/test does)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A real keeper and server (SQLite) for a test module; its logs are scanned for canaries at the end."""
    with running_stack(tmp_path_factory.mktemp("web")) as s:
        yield s
        scan_logs(s)


@pytest.fixture(scope="module")
def user_token(web_stack: Stack) -> Callable[[str], str]:
    """A (non-admin) user's token by name, made once per module through the admin CLI."""
    made: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in made:
            made[name] = web_stack.add_user(name)
        return made[name]

    return get


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., tuple[BrowserContext, Watch]]]:
    """Opens more browser contexts (another person, JavaScript off); each watched, all closed at the end."""
    opened: list[tuple[BrowserContext, Watch]] = []

    def open_context(*, java_script_enabled: bool = True) -> tuple[BrowserContext, Watch]:
        ctx = browser.new_context(viewport=VIEWPORT, java_script_enabled=java_script_enabled)
        ctx.set_default_timeout(15_000)
        opened.append((ctx, Watch(ctx)))
        return opened[-1]

    yield open_context
    try:
        for _, watch in opened:
            watch.check()
    finally:
        for ctx, _ in opened:
            ctx.close()


@pytest.fixture
def watched(new_context: Callable[..., tuple[BrowserContext, Watch]]) -> tuple[BrowserContext, Watch]:
    return new_context()


@pytest.fixture
def context(watched: tuple[BrowserContext, Watch]) -> BrowserContext:
    return watched[0]


@pytest.fixture
def watch(watched: tuple[BrowserContext, Watch]) -> Watch:
    return watched[1]


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
