"""The secrets panel in a real JupyterLab and Debian's Chromium (issue 18).

JupyterLab runs inside `sealbox run` as alice (tests/support/jupyterlab.py), with the labextension and the
server extension the installed sealbox brings. The panel lists alice's secrets within 5 s of being
opened, never bob's unshared one; its switch makes get_secret raise in that notebook's kernel (a cell run
in the page); Insert puts the line into the active cell; a secret added in the panel is stored and its
value cleared at once. Every response the page received, its DOM, inputs, cookies and storage are
scanned: no stored value and no sealbox token; the new value appears in exactly one request, its POST.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import nbformat
import pytest
from playwright.sync_api import BrowserContext, Page, Request, Response, expect

from sealbox.sdk.client import Client
from tests.browser.web import Watch, exposure, screenshot
from tests.support.canaries import encodings, find_in_bytes, make_canary
from tests.support.jupyterlab import Lab, running_lab
from tests.support.processes import Stack

pytestmark = pytest.mark.slow
NOTEBOOK = "analysis.ipynb"


@dataclass
class World:
    stack: Stack
    lab: Lab
    alice: str = field(repr=False)
    values: list[str] = field(repr=False)


@pytest.fixture(scope="module")
def world(web_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    alice, bob = web_stack.add_user("alice"), web_stack.add_user("bob")
    values = [make_canary("db"), make_canary("api"), make_canary("bob-own"), make_canary("bob-shared")]
    with Client(web_stack.url, alice) as a:
        a.create_secret("db_password", value=values[0], description="analytics replica")
        a.create_secret("api_key", value=values[1], description="vendor API")
    with Client(web_stack.url, bob) as b:
        b.create_secret("bob_private", value=values[2])
        b.create_secret("bob_shared", value=values[3], description="team warehouse")
        b.share("bob_shared", level="use", user="alice")
    with running_lab(
        tmp_path_factory.mktemp("lab"),
        sealbox_url=web_stack.url,
        person_token=alice,
        secrets=["db_password", "bob/bob_shared"],
    ) as lab:
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        notebook.cells = [nbformat.v4.new_code_cell("")]
        (lab.root / NOTEBOOK).write_text(nbformat.writes(notebook))
        yield World(stack=web_stack, lab=lab, alice=alice, values=values)
    assert find_in_bytes(lab.log.read_bytes(), [*values, alice]) == []


@dataclass
class Traffic:
    """Every request body the page sent and every response body it received (fetch, XHR, documents)."""

    sent: list[bytes] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)

    def request(self, request: Request) -> None:
        body = request.post_data_buffer
        if body:
            self.sent.append(body)

    def response(self, response: Response) -> None:
        try:
            self.received.append(response.body())
        except Exception:  # a redirect or a stream has no body to read
            self.received.append(b"")


def _open_lab(context: BrowserContext, lab: Lab, traffic: Traffic) -> Page:
    page = context.new_page()
    page.on("request", traffic.request)
    page.on("response", traffic.response)
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=120_000)
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
        1, timeout=120_000
    )
    return page


def _run_first_cell(page: Page, count: int) -> None:
    """Run the first cell in place (Ctrl+Enter in its editor); wait until it has run."""
    page.locator(".jp-Cell .cm-content").first.click()
    page.keyboard.press("Control+Enter")
    expect(page.locator(".jp-Cell .jp-InputPrompt").first).to_have_text(f"[{count}]:", timeout=60_000)


def test_the_panel_lists_toggles_inserts_and_adds_and_no_value_reaches_the_browser(
    world: World, new_context: Callable[..., tuple[BrowserContext, Watch]]
) -> None:
    context, watch = new_context()
    traffic = Traffic()
    page = _open_lab(context, world.lab, traffic)

    # The panel appears and lists alice's secrets within 5 s of being opened; never bob's own one.
    page.locator(".lm-TabBar-tab[data-id='sealbox-panel']").click()
    panel = page.locator("#sealbox-panel")
    held = panel.locator(".sb-secret[data-ref='alice/db_password']")
    expect(held).to_be_visible(timeout=5_000)
    expect(panel.locator(".sb-secret[data-ref='alice/api_key']")).to_contain_text("not in this session")
    shared = panel.locator(".sb-secret[data-ref='bob/bob_shared']")
    expect(shared).to_contain_text("shared by bob (use)")
    expect(shared).to_contain_text("in this session as bob_shared")
    expect(held).to_contain_text("analytics replica")
    expect(panel.locator(".sb-secret")).to_have_count(3)
    expect(panel).not_to_contain_text("bob_private")
    expect(panel.locator(".sb-notebook")).to_have_text(f"Switches apply to {NOTEBOOK}")

    # Insert puts the line into the active cell; with the switch off, running it raises, naming the switch.
    held.get_by_role("button", name="Insert").click()
    expect(page.locator(".jp-Cell .cm-content").first).to_contain_text('get_secret("db_password")')
    switch = held.get_by_role("switch")
    expect(switch).to_be_checked()
    switch.uncheck()
    expect(panel.locator(".sb-status")).to_have_text(f"db_password is off for {NOTEBOOK}")
    _run_first_cell(page, 1)
    error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    expect(error).to_contain_text("SecretSwitchedOff", timeout=60_000)
    expect(error).to_contain_text("switched off for this notebook")
    screenshot(page, "jupyterlab-panel")
    switch.check()
    expect(panel.locator(".sb-status")).to_have_text(f"db_password is on for {NOTEBOOK}")
    _run_first_cell(page, 2)
    expect(page.locator(".jp-OutputArea-output")).to_have_count(0)  # it ran, and raised nothing

    held.get_by_role("button", name="Copy").click()
    expect(panel.locator(".sb-status")).to_have_text('copied get_secret("db_password")')

    # A new secret: typed once into a password field, cleared at once, stored, never shown again.
    value = make_canary("new")
    form = panel.locator(".sb-add")
    form.get_by_label("New secret name").fill("warehouse")
    form.get_by_label("New secret description").fill("dwh")
    form.get_by_label("New secret value").fill(value)
    expect(form.get_by_label("New secret value")).to_have_attribute("type", "password")
    form.get_by_role("button", name="Add").click()
    expect(panel.locator(".sb-status")).to_have_text("stored warehouse; the value will not be shown again")
    expect(panel.locator(".sb-secret[data-ref='alice/warehouse']")).to_contain_text("dwh")
    expect(form.get_by_label("New secret value")).to_have_value("")
    with Client(world.stack.url, world.alice) as alice:
        assert alice.get_secret_metadata("warehouse").description == "dwh"
    page.reload()
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=120_000)

    # The scan: no stored value and no sealbox token anywhere the browser keeps or received anything.
    local_storage = page.evaluate("JSON.stringify(Object.entries(localStorage))").encode()
    seen = b"\n".join([exposure(page, watch), local_storage, *traffic.received])
    assert find_in_bytes(seen, [*world.values, world.alice, value]) == []
    assert find_in_bytes(b"\n".join(traffic.sent), [*world.values, world.alice]) == []
    carrying = [body for body in traffic.sent if any(form in body for form in encodings(value))]
    assert len(carrying) == 1 and json.loads(carrying[0])["name"] == "warehouse"  # sent once, in its POST


def test_the_api_refuses_a_page_of_another_origin(
    world: World, new_context: Callable[..., tuple[BrowserContext, Watch]]
) -> None:
    """A page that is not JupyterLab's (no XSRF token, another origin) cannot switch or add: 403."""
    context, _ = new_context()
    page = context.new_page()
    page.goto(f"{world.lab.url}/lab?token={world.lab.token}")  # signed in by cookie, as alice's browser is
    statuses = page.evaluate(
        """async () => {
          const put = await fetch('/sealbox/api/switches', {method: 'PUT', credentials: 'include',
            body: JSON.stringify({notebook: 'x.ipynb', name: 'db_password', on: false})});
          const post = await fetch('/sealbox/api/secrets', {method: 'POST', credentials: 'include',
            body: JSON.stringify({name: 'forged', value: 'forged-value-123'})});
          return [put.status, post.status];
        }"""
    )
    assert statuses == [403, 403]
