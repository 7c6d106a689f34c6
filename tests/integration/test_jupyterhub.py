"""JupyterHub with sealbox (issue 7): a real hub (configured by the README's jupyterhub_config.py), a real
configurable-http-proxy and real single-user servers, against real sealbox server and keeper processes.

One hub for the module. Spawns go through the REST API (`user_options`), the form in Chromium, and the
query link; the servers' files, modes, owner and environment are read from /proc; a kernel calls
`sealbox.get_secret`; stopping removes the files and ends the session; bad choices are a 400 and start
nothing; a hub that was killed with its server cleans up when it starts again; and the hub's database,
cookie secret and logs never hold a value.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sealbox.ipython.redact import REDACTED
from sealbox.launcher.spool import _filesystem_type
from tests.integration.jupyterhub_support import (
    PASSWORD,
    Hub,
    environ_of,
    hub_service_token,
    kernel_output,
    running_hub,
    server_processes,
)
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import Stack, running_stack

pytestmark = pytest.mark.slow
VALUES: list[str] = []


@dataclass
class World:
    stack: Stack
    hub: Hub
    alice_token: str = field(repr=False)
    bob_token: str = field(repr=False)
    token_file: Path


def _value(label: str) -> str:
    value = make_canary(label)
    VALUES.append(value)
    return value


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("jupyterhub")
    (root / "sealbox").mkdir()
    with running_stack(root / "sealbox") as stack:
        alice, bob = stack.add_user("alice"), stack.add_user("bob")
        with stack.client(alice) as a:
            for name, description in (("db_password", "analytics <replica> & co"), ("api_token", "")):
                made = a.post(
                    "/api/v1/secrets", json={"name": name, "value": _value(name), "description": description}
                )
                assert made.status_code == 201, made.text
        with stack.client(bob) as b:
            for name in ("shared_key", "private_key"):
                assert (
                    b.post("/api/v1/secrets", json={"name": name, "value": _value(name)}).status_code == 201
                )
            shared = b.post("/api/v1/secrets/shared_key/grants", json={"user": "alice", "level": "use"})
            assert shared.status_code in (200, 201), shared.text
        token_file = hub_service_token(stack, root, kinds=["generic", "aws"])
        with running_hub(root / "hub", stack=stack, token_file=token_file) as hub:
            hub.add_user("alice")
            yield World(stack=stack, hub=hub, alice_token=alice, bob_token=bob, token_file=token_file)
            scan = [
                hub.dir / "jupyterhub.sqlite",
                hub.dir / "jupyterhub_cookie_secret",
                hub.log,
                hub.dir / "jupyterhub_config.py",
            ]
        blobs = b"".join(p.read_bytes() for p in scan if p.exists())
        service_token = token_file.read_text().strip()
        assert find_in_bytes(blobs, [*VALUES, service_token]) == [], "a value reached the hub's files or log"
        assert find_in_bytes(stack.logs(), [*VALUES, stack.admin_token]) == []


def _sessions(w: World) -> list[dict[str, object]]:
    with w.stack.client(w.alice_token) as a:
        listed = a.get("/api/v1/sessions").json()
    return list(listed["items"] if isinstance(listed, dict) else listed)


def _live_server(user: str, hub: Hub) -> tuple[int, dict[str, str]]:
    pids = server_processes(user, hub)
    assert len(pids) == 1, pids
    return pids[0], environ_of(pids[0])


def test_rest_spawn_delivers_files_env_and_a_kernel_reads_them(world: World) -> None:
    w = world
    db, api, shared = VALUES[0], VALUES[1], VALUES[2]
    options = {
        "sealbox": {
            "secrets": ["db_password", {"name": "api_token", "env": "API_TOKEN"}, "bob/shared_key"],
            "mount_path": "/secrets",
        }
    }
    response = w.hub.spawn("alice", options)
    assert response.status_code in (201, 202), response.text
    pid, env = _live_server("alice", w.hub)
    folder = Path(env["SEALBOX_SECRETS_DIR"])
    assert folder.parent == w.hub.root and _filesystem_type(folder) == "tmpfs"
    owner = os.stat(f"/proc/{pid}").st_uid
    st = os.lstat(folder)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == owner
    for name, value in (("db_password", db), ("api_token", api), ("shared_key", shared)):
        f = os.stat(folder / name)
        assert (stat.S_IMODE(f.st_mode), f.st_uid) == (0o400, owner), name
        assert (folder / name).read_text() == value
    assert env["API_TOKEN"] == api
    assert db not in "".join(env.values()) and shared not in "".join(env.values())
    session_id = env["SEALBOX_SESSION_ID"]
    listed = {s["id"]: s for s in _sessions(w)}
    assert listed[session_id]["status"] != "ended"
    assert {s["name"] for s in listed[session_id]["secrets"]} == {"db_password", "api_token", "shared_key"}  # type: ignore[union-attr]
    # The hub's own records hold the names only.
    with w.hub.api() as hub_api:
        stored = hub_api.get("/users/alice").json()["servers"][""]["user_options"]
    assert stored == options

    # The kernel reads the right value, and shows it only redacted (the hub enables sealbox.ipython).
    printed = kernel_output(
        w.hub,
        "alice",
        "import hashlib, os, sealbox\n"
        "v = sealbox.get_secret('db_password')\n"
        "print(v, hashlib.sha256(v.encode()).hexdigest(), os.environ['API_TOKEN'] == sealbox.get_secret('api_token'))",  # noqa: E501
        w.hub.dir / "runtime",
    )
    assert printed.split() == [REDACTED, hashlib.sha256(db.encode()).hexdigest(), "True"]

    with w.stack.client() as admin:
        audit = admin.get("/api/v1/audit", params={"session": session_id}).json()["items"]
    actions = {(r["action"], r["outcome"], r["on_behalf_of"]) for r in audit}
    assert ("session.create", "success", "alice") in actions and (
        "session.redeem",
        "success",
        "alice",
    ) in actions

    w.hub.stop_server("alice")
    assert not folder.exists() and not (w.hub.root / "leases" / f"{session_id}.json").exists()
    assert server_processes("alice", w.hub) == []
    ended = {s["id"]: s for s in _sessions(w)}
    assert session_id not in ended or ended[session_id]["status"] == "ended"
    with w.stack.client(w.alice_token) as a:
        assert a.get(f"/api/v1/sessions/{session_id}").json()["status"] == "ended"
    with w.stack.client() as admin:
        audit = admin.get("/api/v1/audit", params={"session": session_id}).json()["items"]
    ends = [r for r in audit if r["action"] == "session.end"]
    assert [(r["actor"].startswith("hub-"), r["on_behalf_of"]) for r in ends] == [(True, "alice")]


AWS_KEY_ID = "AKIA" + "SEALBOXHUB000001"  # built from parts: no key-shaped literal in the repository
READ_AWS = (
    "import boto3, hashlib, json\n"
    "c = boto3.Session().get_credentials().get_frozen_credentials()\n"
    "print(json.dumps([c.access_key, hashlib.sha256(c.secret_key.encode()).hexdigest(),"
    " boto3.Session().region_name]))\n"
)


def test_a_secret_in_its_clients_format_reaches_the_server(world: World, tmp_path: Path) -> None:
    """`sealbox run --as aws` through the hub: the server's folder holds the shared credentials and config
    files, its environment names them, and boto3 with nothing but that environment finds the key."""
    w = world
    secret = _value("aws-sk")
    with w.stack.client(w.alice_token) as a:
        fields = {"access_key_id": AWS_KEY_ID, "secret_access_key": secret, "region": "eu-west-1"}
        made = a.post("/api/v1/secrets", json={"name": "aws_keys", "kind": "aws", "fields": fields})
        assert made.status_code == 201, made.text
    response = w.hub.spawn("alice", {"sealbox": {"secrets": [{"name": "aws_keys", "as": "aws"}]}})
    assert response.status_code in (201, 202), response.text
    _, env = _live_server("alice", w.hub)
    folder = Path(env["SEALBOX_SECRETS_DIR"])
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == f"{folder}/aws_keys/credentials"
    assert env["AWS_CONFIG_FILE"] == f"{folder}/aws_keys/config"
    assert stat.S_IMODE(os.stat(env["AWS_SHARED_CREDENTIALS_FILE"]).st_mode) == 0o400
    only_aws = {k: v for k, v in env.items() if k.startswith("AWS_")}
    read = subprocess.run(
        [sys.executable, "-c", READ_AWS],
        env={**only_aws, "PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert read.returncode == 0, read.stderr[-2000:]
    assert json.loads(read.stdout) == [AWS_KEY_ID, hashlib.sha256(secret.encode()).hexdigest(), "eu-west-1"]
    w.hub.stop_server("alice")
    assert not folder.exists()
    with w.stack.client(w.alice_token) as a:  # the other tests count alice's secrets
        assert a.delete("/api/v1/secrets/aws_keys").status_code in (200, 204)


@pytest.mark.parametrize(
    ("label", "secrets", "mount_path"),
    [
        ("unknown secret", ["no_such_secret"], "/secrets"),
        ("not shared", ["bob/private_key"], "/secrets"),
        ("bad file", [{"name": "db_password", "file": "../escape"}], "/secrets"),
        ("reserved variable", [{"name": "db_password", "env": "LD_PRELOAD"}], "/secrets"),
        ("interpreter variable", [{"name": "db_password", "env": "PYTHONWARNINGS"}], "/secrets"),
        ("browser variable", [{"name": "db_password", "env": "BROWSER"}], "/secrets"),
        ("bad variable", [{"name": "db_password", "env": "1BAD"}], "/secrets"),
        (
            "same file twice",
            [{"name": "db_password", "file": "x"}, {"name": "api_token", "file": "x"}],
            "/secrets",
        ),
        ("relative mount path", ["db_password"], "secrets"),
        ("not a list", "db_password", "/secrets"),
        ("unknown format", [{"name": "db_password", "as": "nope"}], "/secrets"),
        ("format of another kind", [{"name": "db_password", "as": "aws"}], "/secrets"),
    ],
)
def test_bad_user_options_are_a_400_and_start_nothing(
    world: World, label: str, secrets: object, mount_path: str
) -> None:
    w = world
    before = {s["id"] for s in _sessions(w)}
    folders = set(w.hub.root.iterdir()) if w.hub.root.exists() else set()
    response = w.hub.spawn("alice", {"sealbox": {"secrets": secrets, "mount_path": mount_path}}, wait=False)
    assert response.status_code == 400, (label, response.status_code, response.text)
    assert "sealbox" in response.json()["message"]
    with w.hub.api() as api:
        assert api.get("/users/alice").json()["servers"] == {}, label
    assert server_processes("alice", w.hub) == []
    assert {s["id"] for s in _sessions(w)} == before, label
    assert (set(w.hub.root.iterdir()) if w.hub.root.exists() else set()) == folders


def test_form_in_chromium_lists_the_secrets_and_spawns(world: World) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.web import CHROMIUM, LAUNCH_ARGS

    w = world
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{w.hub.url}/hub/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit], button[type=submit]")
            page.goto(f"{w.hub.url}/hub/spawn")
            table = page.locator("#sealbox-secrets")
            rows = table.locator("tbody tr")
            assert rows.count() == 3
            text = table.inner_text()
            assert "api_token" in text and "db_password" in text and "generic" in text
            assert "bob/shared_key" in text and "bob/private_key" not in text
            assert "analytics <replica> & co" in text  # escaped in the HTML, shown as text
            assert "<replica>" not in page.content().split("sealbox-secrets", 1)[1].split("</table>", 1)[0]
            page.check("input[value='db_password']")
            page.check("input[value='bob/shared_key']")
            index = page.locator("input[type=hidden][value='db_password']").get_attribute("name")
            assert index is not None
            page.fill(f"#sealbox_file_{index.rsplit('_', 1)[1]}", "db.txt")
            page.fill(f"#sealbox_env_{index.rsplit('_', 1)[1]}", "DB_PASSWORD")
            page.click("form#spawn_form input[type=submit], form#spawn_form button[type=submit]")
            page.wait_for_url("**/user/alice/**", timeout=90_000)
        finally:
            browser.close()
    w.hub.wait_ready("alice")
    _, env = _live_server("alice", w.hub)
    folder = Path(env["SEALBOX_SECRETS_DIR"])
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("..")) == ["db.txt", "shared_key"]
    assert (folder / "db.txt").read_text() == VALUES[0] and env["DB_PASSWORD"] == VALUES[0]
    w.hub.stop_server("alice")
    assert not folder.exists()


def test_query_link_spawns_with_the_named_secrets(world: World) -> None:
    w = world
    with httpx.Client(base_url=w.hub.url, timeout=90, follow_redirects=True) as browser:
        browser.get("/hub/login")
        xsrf = browser.cookies.get("_xsrf") or ""
        login = browser.post("/hub/login", data={"username": "alice", "password": PASSWORD, "_xsrf": xsrf})
        assert login.status_code == 200, login.text[:300]
        link = (
            "/hub/spawn?sealbox_secret=db_password&sealbox_secret=bob/shared_key&sealbox_mount_path=/secrets"
        )
        response = browser.get(link)
        assert response.status_code == 200, response.text[:500]
    w.hub.wait_ready("alice")
    _, env = _live_server("alice", w.hub)
    folder = Path(env["SEALBOX_SECRETS_DIR"])
    assert (folder / "db_password").read_text() == VALUES[0]
    assert (folder / "shared_key").read_text() == VALUES[2]
    w.hub.stop_server("alice")
    assert not folder.exists()


def test_a_killed_hub_and_server_are_cleaned_up_when_the_hub_starts_again(world: World) -> None:
    w = world
    assert w.hub.spawn("alice", {"sealbox": {"secrets": ["db_password"]}}).status_code in (201, 202)
    pid, env = _live_server("alice", w.hub)
    folder, session_id = Path(env["SEALBOX_SECRETS_DIR"]), env["SEALBOX_SESSION_ID"]
    w.hub.stop(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    assert folder.exists()  # what the crash left
    w.hub.start()
    assert not folder.exists()
    assert not (w.hub.root / "leases" / f"{session_id}.json").exists()
    with w.stack.client(w.alice_token) as a:
        assert a.get(f"/api/v1/sessions/{session_id}").json()["status"] == "ended"


def test_the_hubs_service_account_lists_and_starts_sessions_for_pods(world: World) -> None:
    """What KubeSpawner asks of sealbox (no cluster here): the user's usable secrets, a session with the
    chosen mount path whose credential lives long enough for a pod to be scheduled, and its end."""

    from sealbox.errors import ClientError
    from sealbox.sdk.client import Client

    w = world
    with Client(w.stack.url, w.token_file.read_text().strip()) as hub:
        usable = {s.ref: s for s in hub.usable_secrets("alice")}
        assert set(usable) == {"db_password", "api_token", "bob/shared_key"}
        assert usable["db_password"].description == "analytics <replica> & co"
        assert all(
            set(s) == {"ref", "name", "owner", "kind", "description", "fields", "project"}
            for s in hub.call("GET", "/api/v1/service/users/alice/secrets")
        )
        launch = hub.start_service_session(
            on_behalf_of="alice",
            secrets=[{"name": "db_password", "file": "db", "env": None}],
            mount_path="/home/jovyan/secrets",
            ttl_seconds=3600,
            credential_ttl_seconds=300,
        )
        session = launch.session
        assert session.mount_path == "/home/jovyan/secrets" and session.owner == "alice"
        lifetime = launch.credential_expires_at - session.created_at
        assert 295 <= lifetime.total_seconds() <= 305
        with pytest.raises(ClientError) as refused:
            hub.start_service_session(
                on_behalf_of="alice",
                secrets=[{"name": "db_password", "file": "db", "env": None}],
                credential_ttl_seconds=5000,
            )
        assert refused.value.status_code in (400, 422)
        hub.end_service_session(session.id)
        hub.end_service_session(session.id)  # twice is fine
    with w.stack.client(w.alice_token) as a:
        assert a.get(f"/api/v1/sessions/{session.id}").json()["status"] == "ended"
        # A person's token is refused on the service endpoints.
        assert a.get("/api/v1/service/users/alice/secrets").status_code == 403
        assert a.delete(f"/api/v1/service/sessions/{session.id}").status_code == 403


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_documented_rest_example_spawns(world: World) -> None:
    """Issue 12, new-user finding 11: docs/jupyterhub.md's REST example, as written, on the real hub: a
    typed secret (bob's aws, shared with alice) as a folder of its fields, and one field as a variable.
    (The old example, a variable of the whole aws secret, was a 400.) Last in the module: bob's aws
    secret exists only here, so the other tests' lists stay as they were."""
    w = world
    text = (DOCS / "jupyterhub.md").read_text()
    block = text[text.index("POST /hub/api/users/alice/server") :].split("```json", 1)[1].split("```", 1)[0]
    body = json.loads(block)
    secret_key, key_id = _value("aws-secret"), "AKIA" + "Z" * 16
    with w.stack.client(w.bob_token) as b:
        made = b.post(
            "/api/v1/secrets",
            json={
                "name": "aws",
                "kind": "aws",
                "fields": {"access_key_id": key_id, "secret_access_key": secret_key, "region": "eu-west-1"},
            },
        )
        assert made.status_code == 201, made.text
        assert b.post("/api/v1/secrets/aws/grants", json={"user": "alice", "level": "use"}).status_code == 201
    try:
        # The old shape, for the record: a variable of a whole typed secret is refused, naming it.
        old = {"sealbox": {"secrets": [{"name": "bob/aws", "file": "aws", "env": "AWS_CREDS"}]}}
        refused = w.hub.spawn("alice", old, wait=False)
        assert refused.status_code == 400, refused.text
        assert (
            'secret "bob/aws" is of kind aws: a variable takes one of its fields' in refused.json()["message"]
        )

        response = w.hub.spawn("alice", body["user_options"])
        assert response.status_code in (201, 202), response.text
        _, env = _live_server("alice", w.hub)
        folder = Path(env["SEALBOX_SECRETS_DIR"])
        assert (folder / "db_password").read_text() == VALUES[0]
        assert (folder / "aws" / "secret_access_key").read_text() == secret_key
        assert (folder / "aws" / "access_key_id").read_text() == key_id
        assert (folder / "aws" / "region").read_text() == "eu-west-1"
        assert env["AWS_SECRET_ACCESS_KEY"] == secret_key
        assert key_id not in "".join(env.values())  # only the field the variable names
        w.hub.stop_server("alice")
        assert not folder.exists()
    finally:
        with w.stack.client(w.bob_token) as b:
            assert b.delete("/api/v1/secrets/aws").status_code == 204
