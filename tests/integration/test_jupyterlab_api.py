"""The JupyterLab panel's server extension (issue 18): a real JupyterLab started inside `sealbox run` as
alice, a real sealbox server and keeper, real kernels. Its API lists what alice may use and what the
session holds, never bob's unshared secret, never a value or a token; it refuses requests without
Jupyter's authentication or XSRF token (403); a notebook's switch makes get_secret raise in that
notebook's kernel only; a new secret's value goes to sealbox once and is never answered back.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from sealbox.sdk.client import Client
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.jupyterlab import Lab, running_lab
from tests.support.processes import Stack, running_stack

pytestmark = pytest.mark.slow


@dataclass
class World:
    stack: Stack
    lab: Lab
    alice: str = field(repr=False)
    values: list[str] = field(repr=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("lab")
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        alice, bob = stack.add_user("alice"), stack.add_user("bob")
        values = [make_canary("db"), make_canary("api"), make_canary("bob-own"), make_canary("bob-shared")]
        with Client(stack.url, alice) as a:
            a.create_secret("db_password", value=values[0], description="analytics replica")
            a.create_secret("api_key", value=values[1])
        with Client(stack.url, bob) as b:
            b.create_secret("bob_private", value=values[2])
            b.create_secret("bob_shared", value=values[3], description="from bob")
            b.share("bob_shared", level="use", user="alice")
        with running_lab(
            root / "alice",
            sealbox_url=stack.url,
            person_token=alice,
            secrets=["db_password", "bob/bob_shared"],
        ) as lab:
            yield World(stack=stack, lab=lab, alice=alice, values=values)
        logged = lab.log.read_bytes() + stack.logs()
        assert find_in_bytes(logged, [*values, alice, lab.token]) == []


def test_lists_what_alice_may_use_and_what_the_session_holds(world: World) -> None:
    with world.lab.api() as api:
        answer = api.get("/sealbox/api/secrets")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    data = answer.json()
    assert data["connected"] is True and data["user"] == "alice" and data["session_id"]
    by_ref = {s["ref"]: s for s in data["secrets"]}
    assert set(by_ref) == {"alice/db_password", "alice/api_key", "bob/bob_shared"}  # never bob/bob_private
    assert by_ref["alice/db_password"]["held_as"] == "db_password"
    assert by_ref["alice/db_password"]["description"] == "analytics replica"
    assert by_ref["alice/api_key"]["held_as"] is None
    assert by_ref["bob/bob_shared"]["shared_by"] == "bob" and by_ref["bob/bob_shared"]["access"] == "use"
    assert by_ref["bob/bob_shared"]["held_as"] == "bob_shared"
    assert {h["name"] for h in data["held"]} == {"db_password", "bob_shared"}
    assert find_in_bytes(answer.content, [*world.values, world.alice, world.lab.token]) == []


def test_refuses_requests_without_jupyters_authentication(world: World) -> None:
    url = world.lab.url
    for method, path in (("GET", "secrets"), ("POST", "secrets"), ("GET", "switches?notebook=a.ipynb"),
                         ("PUT", "switches")):  # fmt: skip
        refused = httpx.request(method, f"{url}/sealbox/api/{path}", content=b"{}", timeout=30)
        assert refused.status_code == 403, (method, path, refused.status_code)
        wrong = httpx.request(
            method, f"{url}/sealbox/api/{path}", content=b"{}", headers={"Authorization": "token nope"}
        )
        assert wrong.status_code == 403, (method, path, wrong.status_code)


def test_a_browser_session_without_the_xsrf_token_is_refused(world: World) -> None:
    """Signed in by cookie (as a browser is), a write without the XSRF header is a 403; with it, it works."""
    with httpx.Client(base_url=world.lab.url, timeout=60) as browser:
        signed_in = browser.get("/lab", params={"token": world.lab.token})
        assert signed_in.status_code == 200
        assert browser.get("/sealbox/api/secrets").status_code == 200  # a read needs no XSRF token
        body = {"notebook": "xsrf.ipynb", "name": "db_password", "on": False}
        assert browser.put("/sealbox/api/switches", json=body).status_code == 403
        created = browser.post("/sealbox/api/secrets", json={"name": "nope", "value": make_canary("x")})
        assert created.status_code == 403
        xsrf = browser.cookies.get("_xsrf")
        assert xsrf
        allowed = browser.put("/sealbox/api/switches", json=body, headers={"X-XSRFToken": xsrf})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json() == {"notebook": "xsrf.ipynb", "off": ["db_password"]}


def _run_in_kernel(lab: Lab, notebook: str, code: str) -> dict[str, str]:
    """Open `notebook` as JupyterLab does (a session naming the file, as docregistry's context.js does),
    run `code`, return what it printed (stdout) and the error it raised (ename, evalue)."""
    from jupyter_client import BlockingKernelClient

    with lab.api() as api:
        started = api.post(
            "/api/sessions",
            json={
                "path": notebook,
                "name": posixpath.basename(notebook),
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
        assert started.status_code == 201, started.text
        session = started.json()
        try:
            kernel_id = session["kernel"]["id"]
            connection = lab.runtime / f"kernel-{kernel_id}.json"
            deadline = time.monotonic() + 90
            while not connection.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            client = BlockingKernelClient()
            client.load_connection_info(json.loads(connection.read_text()))
            client.start_channels()
            for _ in range(30):
                try:
                    # Its first check may come before the kernel bound its ports and take it for dead.
                    client.wait_for_ready(timeout=90)
                    break
                except RuntimeError:
                    assert api.get(f"/api/kernels/{kernel_id}").status_code == 200
                    time.sleep(0.5)
            out: dict[str, str] = {"stdout": "", "ename": "", "evalue": ""}

            def seen(message: dict[str, object]) -> None:
                content = message["content"]
                assert isinstance(content, dict)
                if message["msg_type"] == "stream":
                    out["stdout"] += str(content["text"])
                elif message["msg_type"] == "error":
                    out["ename"], out["evalue"] = str(content["ename"]), str(content["evalue"])

            try:
                client.execute_interactive(code, timeout=60, output_hook=seen)
            finally:
                client.stop_channels()
            return out
        finally:
            api.delete(f"/api/sessions/{session['id']}")


CHECK = (
    "from sealbox import get_secret\n"
    "import hashlib\n"
    "print(hashlib.sha256(get_secret('db_password').encode()).hexdigest())\n"
)


def test_a_switch_off_makes_get_secret_raise_in_that_notebook_only(world: World) -> None:
    import hashlib

    digest = hashlib.sha256(world.values[0].encode()).hexdigest()
    (world.lab.root / "work").mkdir(exist_ok=True)  # the notebook's folder, as when one is open
    with world.lab.api() as api:
        off = api.put(
            "/sealbox/api/switches", json={"notebook": "work/off.ipynb", "name": "db_password", "on": False}
        )
        assert off.status_code == 200 and off.json()["off"] == ["db_password"]
        assert api.get("/sealbox/api/switches", params={"notebook": "work/off.ipynb"}).json()["off"] == [
            "db_password"
        ]
        assert api.get("/sealbox/api/switches", params={"notebook": "other.ipynb"}).json()["off"] == []
    refused = _run_in_kernel(world.lab, "work/off.ipynb", CHECK)
    assert refused["ename"] == "SecretSwitchedOff", refused
    assert "switched off for this notebook" in refused["evalue"] and "sealbox panel" in refused["evalue"]
    assert "off.ipynb" in refused["evalue"]
    assert refused["stdout"] == ""
    elsewhere = _run_in_kernel(world.lab, "other.ipynb", CHECK)
    assert elsewhere["ename"] == "" and elsewhere["stdout"].strip() == digest, elsewhere
    with world.lab.api() as api:
        on = api.put(
            "/sealbox/api/switches", json={"notebook": "work/off.ipynb", "name": "db_password", "on": True}
        )
        assert on.json()["off"] == []
    allowed = _run_in_kernel(world.lab, "work/off.ipynb", CHECK)
    assert allowed["ename"] == "" and allowed["stdout"].strip() == digest, allowed


def test_adding_a_secret_sends_its_value_once_and_never_back(world: World) -> None:
    value = make_canary("new")
    world.values.append(value)
    with world.lab.api() as api:
        created = api.post(
            "/sealbox/api/secrets", json={"name": "warehouse", "value": value, "description": "dwh"}
        )
        assert created.status_code == 201, created.text
        again = api.post("/sealbox/api/secrets", json={"name": "warehouse", "value": value})
        listed = api.get("/sealbox/api/secrets")
        bad = [
            api.post("/sealbox/api/secrets", content=b"not json"),
            api.post("/sealbox/api/secrets", json={"name": "x"}),
            api.post("/sealbox/api/secrets", json={"name": "x", "value": "v", "extra": 1}),
            api.post("/sealbox/api/secrets", json={"name": "bad name!", "value": "v"}),
            api.put("/sealbox/api/switches", json={"notebook": "", "name": "db_password", "on": False}),
            api.get("/sealbox/api/switches"),
        ]
    assert created.json()["name"] == "warehouse" and "value" not in created.json()
    assert again.status_code == 409
    assert [b.status_code for b in bad] == [400, 400, 400, 400, 400, 400], [b.text for b in bad]
    assert "alice/warehouse" in {s["ref"] for s in listed.json()["secrets"]}
    for answer in (created, again, listed, *bad):
        assert find_in_bytes(answer.content, [*world.values, world.alice]) == []
    with Client(world.stack.url, world.alice) as alice:
        assert alice.get_secret_metadata("warehouse").current_version == 1
