"""The web page "Start with secrets" (issue 7; RenkuLab's "start with options"), in Chromium, on a real stack.

A person ticks secrets they may use (their own and one shared with them), gives a file name and a variable,
a mount path and a command, and gets a `sealbox run` command and a JupyterHub spawn link. The command is
then run, as printed, by the real CLI against the same server and keeper: the files appear at the mount
path, the variable is set, and while it runs the session is on the web sessions page; when it ends, the
files are gone. Bad input is refused on the page (400), CSRF is checked, and the page escapes what it shows.
The server runs with SEALBOX_JUPYTERHUB_URL set (no hub runs here: only the link's form is checked; the
JupyterHub module that reads it is tested with its own hub).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import scan_logs
from tests.browser.web import Watch, exposure, screenshot, sign_in, table_rows
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack, base_env, free_port, running_stack, sealbox_cmd, wait_for

HUB = "https://hub.example.org"
API = "/api/v1"


@pytest.fixture(scope="module")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A real keeper and server, the server started again with SEALBOX_JUPYTERHUB_URL set."""
    with running_stack(tmp_path_factory.mktemp("start")) as s:
        s.stop_server()
        # A new port: the old server's workers may hold the old one for a moment (SO_REUSEPORT).
        s.port = free_port()
        s.url = f"http://127.0.0.1:{s.port}"
        with s.log.open("ab") as log:
            s.server = subprocess.Popen(
                sealbox_cmd(
                    "server", "--host", "127.0.0.1", "--port", str(s.port), "--keeper-url", s.keeper.url
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=s.env(SEALBOX_JUPYTERHUB_URL=HUB),
            )
        wait_for(
            lambda: httpx.get(f"{s.url}/healthz", timeout=1).status_code in (200, 503),
            s.server,
            "server",
            timeout=60,
        )
        yield s
        scan_logs(s)


def api(stack: Stack, token: str, method: str, path: str, **kwargs: Any) -> Any:
    with stack.client(token) as http:
        resp = http.request(method, f"{API}{path}", **kwargs)
    assert resp.status_code < 400, resp.text
    return resp.json() if resp.content else None


# A script for the command line: it records what the session gave it, then waits to be told to stop.
SCRIPT = """
import json, os, pathlib, sys, time
out, stop = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
folder = pathlib.Path(os.environ["SEALBOX_SECRETS_DIR"])
files = {p.name: p.read_text() for p in sorted(folder.iterdir()) if not p.name.startswith("..")}
seen = {"dir": str(folder), "files": files, "env": os.environ.get("API_TOKEN")}
tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(seen)); tmp.rename(out)
while not stop.exists():
    time.sleep(0.05)
"""


def test_start_with_secrets_gives_a_command_that_runs_and_a_hub_link(
    web_stack: Stack,
    user_token: Callable[[str], str],
    page: Page,
    watch: Watch,
    canary: Callable[[str], str],
    tmp_path: Path,
) -> None:
    alice, bob = user_token("ada-start"), user_token("bob-start")
    token_value, shared_value = canary("start-own"), canary("start-shared")
    api(web_stack, alice, "POST", "/secrets", json={"name": "api-token", "value": token_value,
                                                    "description": "the <b>model</b> API"})  # fmt: skip
    api(web_stack, alice, "POST", "/secrets", json={"name": "warehouse", "kind": "database",
        "fields": {"host": "dw.example.org", "user": "ada", "password": canary("start-db")}})  # fmt: skip
    api(web_stack, bob, "POST", "/secrets", json={"name": "s3-key", "value": shared_value})
    api(web_stack, bob, "POST", "/secrets/s3-key/grants", json={"user": "ada-start", "level": "use"})

    sign_in(page, web_stack.url, alice)
    page.get_by_role("link", name="Start with secrets").click()
    expect(page).to_have_url(f"{web_stack.url}/web/start")
    rows = table_rows(page)
    assert [r[1:4] for r in rows] == [
        ["api-token", "generic", "the <b>model</b> API"],  # escaped: shown as text, not bold
        ["warehouse", "database", ""],
        ["bob-start/s3-key", "generic", ""],
    ]
    assert page.locator("main b").count() == 0

    mount = tmp_path / "secrets"
    script, out, stop = tmp_path / "show.py", tmp_path / "seen.json", tmp_path / "stop"
    script.write_text(SCRIPT)
    page.get_by_label("Use api-token").check()
    page.get_by_label("File name for api-token").fill("token")
    page.get_by_label("Variable for api-token").fill("API_TOKEN")
    page.get_by_label("Use bob-start/s3-key").check()
    page.get_by_label("Mount path").fill(str(mount))
    page.get_by_label("Command", exact=True).fill(f"{sys.executable} {script} {out} {stop}")
    page.get_by_role("button", name="Get the command and link").click()

    command = page.locator("#command-out").input_value()
    runs = shlex.join([sys.executable, str(script), str(out), str(stop)])
    expected = (
        "sealbox run --secret api-token:token --env API_TOKEN=api-token --secret bob-start/s3-key "
        f"--mount-path {shlex.quote(str(mount))} -- {runs}"
    )
    assert command == expected
    link = page.locator("#hub-link").get_attribute("href")
    query = (
        f"sealbox_secret=api-token&sealbox_secret=bob-start/s3-key&sealbox_mount_path={mount}"
        "&sealbox_file_0=token&sealbox_env_0=API_TOKEN"
    )
    assert link == f"{HUB}/hub/spawn?{query}"
    # The choices stay ticked, so the person can adjust and ask again.
    expect(page.get_by_label("Use api-token")).to_be_checked()
    assert find_in_bytes(exposure(page, watch), [token_value, shared_value]) == []

    # The command, as printed, with the real CLI: only `sealbox` is this checkout's `python -m sealbox`.
    argv = shlex.split(command)
    assert argv[:2] == ["sealbox", "run"]
    config = tmp_path / "config.toml"
    config.write_text(f"url = {json.dumps(web_stack.url)}\ntoken = {json.dumps(alice)}\n")
    config.chmod(0o600)
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            sealbox_cmd(*argv[1:]),
            env=base_env(SEALBOX_CONFIG=str(config)),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(out.exists, proc, "the command's files", timeout=60)
        seen = json.loads(out.read_text())
        assert seen == {
            "dir": str(mount),
            "files": {"token": token_value, "s3-key": shared_value},
            "env": token_value,
        }

        # While it runs, its session is on the sessions page, with the secrets and the mount path.
        page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
        sessions = [r for r in table_rows(page) if r[3] == str(mount)]
        assert len(sessions) == 1, table_rows(page)
        assert "ada-start/api-token v1 → token" in sessions[0][4]
        assert "bob-start/s3-key v1 → s3-key" in sessions[0][4]
        assert "ada-start/api-token v1 → $API_TOKEN" in sessions[0][4]
    finally:
        stop.touch()
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    assert not mount.exists() or list(mount.iterdir()) == []
    page.reload()
    assert [r for r in table_rows(page) if r[3:4] == [str(mount)]] == []
    assert find_in_bytes(log.read_bytes(), [token_value, shared_value]) == []

    # The README's picture: the defaults a notebook user would take.
    page.get_by_role("navigation").get_by_role("link", name="Start with secrets").click()
    page.get_by_label("Use api-token").check()
    page.get_by_label("File name for api-token").fill("token")
    page.get_by_label("Use bob-start/s3-key").check()
    page.get_by_role("button", name="Get the command and link").click()
    assert page.locator("#command-out").input_value() == (
        "sealbox run --secret api-token:token --secret bob-start/s3-key --mount-path /secrets -- jupyter lab"
    )
    screenshot(page, "start-with-secrets", full_page=True)


def test_bad_choices_are_refused_on_the_page(
    web_stack: Stack, user_token: Callable[[str], str], page: Page, canary: Callable[[str], str]
) -> None:
    token = user_token("cy-start")
    api(web_stack, token, "POST", "/secrets", json={"name": "k1", "value": canary("start-bad")})
    api(web_stack, token, "POST", "/secrets", json={"name": "k2", "value": canary("start-bad2")})
    sign_in(page, web_stack.url, token)
    page.goto(f"{web_stack.url}/web/start")

    def submit() -> int:
        with page.expect_response(
            lambda r: r.url.endswith("/web/start") and r.request.method == "POST"
        ) as info:
            page.get_by_role("button", name="Get the command and link").click()
        return info.value.status

    assert submit() == 400
    expect(page.get_by_role("alert").first).to_contain_text("choose at least one secret")
    assert page.locator("#command-out").count() == 0

    page.get_by_label("Use k1").check()
    page.get_by_label("File name for k1").fill("../escape")
    page.get_by_label("Use k2").check()
    page.get_by_label("Variable for k2").fill("1BAD")
    page.get_by_label("Mount path").fill("relative/path")
    page.get_by_label("Command", exact=True).fill("echo 'unbalanced")
    assert submit() == 400
    alerts = " ".join(page.get_by_role("alert").all_inner_texts())
    assert "a file name is 1-128 letters" in alerts
    assert "the mount path must be an absolute path" in alerts
    assert "give the command to run" in alerts
    assert page.locator("#command-out").count() == 0
    # What was typed comes back escaped, as text.
    assert page.get_by_label("Command", exact=True).input_value() == "echo 'unbalanced"

    page.get_by_label("File name for k1").fill("same")
    page.get_by_label("File name for k2").fill("same")
    page.get_by_label("Variable for k2").fill("")
    page.get_by_label("Mount path").fill("/secrets")
    page.get_by_label("Command", exact=True).fill("bash")
    assert submit() == 400
    expect(page.get_by_role("alert").first).to_contain_text("two secrets map to the same file")

    # A ref the page did not offer (someone else's secret) is ignored: only listed rows can be chosen.
    csrf = page.locator("input[name=csrf]").first.input_value()
    made_up = page.request.post(
        f"{web_stack.url}/web/start",
        form={"use:ada-start/api-token": "on", "mount_path": "/secrets", "command": "bash", "csrf": csrf},
    )
    assert made_up.status == 400 and "choose at least one secret" in made_up.text()
    assert "ada-start/api-token" not in made_up.text()

    # A post without the page's CSRF token is refused, and nothing is rendered from it.
    forged = page.request.post(
        f"{web_stack.url}/web/start", form={"use:k1": "on", "command": "bash", "csrf": "x"}
    )
    assert forged.status == 403
    assert "sealbox run" not in forged.text()


def test_the_start_page_needs_a_signed_in_person(web_stack: Stack, page: Page) -> None:
    page.goto(f"{web_stack.url}/web/start")
    expect(page).to_have_url(f"{web_stack.url}/web/login")
