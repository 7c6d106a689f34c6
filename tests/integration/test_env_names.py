"""TEST-PLAN T29 through the paths that reach a server: the API, the service sessions a hub or an init
container starts from, and `sealbox run` (flags and a job's spec file).

The table is tests/support/env_names.py. A grantee maps a secret someone else owns (the case of the
finding: the owner chooses the value) into each name; every dangerous name is refused with
`invalid_env` and nothing is created; every ordinary name is accepted. The JupyterHub form and link
(test_jupyterhub_options.py) and the web start page (tests/unit/server/test_web_start.py) run the same
table through their own parsers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sealbox.cli.main import app
from tests.support.env_names import DANGEROUS, ORDINARY
from tests.support.processes import Stack, base_env, sealbox_cmd

API = "/api/v1"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class World:
    def __init__(self, stack: Stack, root: Path) -> None:
        self.stack = stack
        self.owner = _unique("owner")
        self.grantee = _unique("grantee")
        owner_token = stack.add_user(self.owner)
        self.grantee_token = stack.add_user(self.grantee)
        self.secret = "shared-token"  # a name  # pragma: allowlist secret
        self.ref = f"{self.owner}/{self.secret}"
        with stack.client(owner_token) as owner:
            assert owner.post(f"{API}/secrets", json={"name": self.secret, "value": "v"}).status_code == 201
            resp = owner.post(
                f"{API}/secrets/{self.secret}/grants", json={"user": self.grantee, "level": "use"}
            )
            assert resp.status_code == 201, resp.text
        with stack.client() as admin:
            resp = admin.post(f"{API}/service-accounts", json={"name": _unique("hub"), "names": [self.ref]})
            assert resp.status_code == 201, resp.text
            self.service_token = resp.json()["token"]
        self.config = root / "config.toml"
        login = subprocess.run(
            sealbox_cmd("login", stack.url, "--token", "-"),
            input=(self.grantee_token + "\n").encode(),
            env=base_env(SEALBOX_CONFIG=str(self.config)),
            capture_output=True,
            check=False,
        )
        assert login.returncode == 0, login.stderr

    def grantee_api(self) -> httpx.Client:
        return self.stack.client(self.grantee_token)

    def session_count(self) -> int:
        with self.grantee_api() as api:
            return len(api.get(f"{API}/sessions", params={"all": "true"}).json())


@pytest.fixture(scope="module")
def world(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(stack, tmp_path_factory.mktemp("envnames"))


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SEALBOX_CONFIG", str(world.config))
    yield CliRunner()


def test_the_api_refuses_every_dangerous_name(world: World) -> None:
    before = world.session_count()
    with world.grantee_api() as api:
        for name in DANGEROUS:
            resp = api.post(
                f"{API}/sessions", json={"secrets": [{"name": world.ref, "file": "t", "env": name}]}
            )
            assert resp.status_code == 400, (name, resp.text)
            body = resp.json()
            assert body["code"] == "invalid_env", (name, body)
            assert body["message"].startswith("that environment variable is reserved: ")
            assert name not in resp.text
    assert world.session_count() == before


def test_the_api_accepts_every_ordinary_name(world: World) -> None:
    with world.grantee_api() as api:
        for name in ORDINARY:
            resp = api.post(f"{API}/sessions", json={"secrets": [{"name": world.ref, "env": name}]})
            assert resp.status_code == 201, (name, resp.text)
            assert resp.json()["session"]["secrets"][0]["env"] == name
            assert api.delete(f"{API}/sessions/{resp.json()['session']['id']}").status_code == 200


def test_service_sessions_refuse_the_same_names(world: World) -> None:
    """The path of a JupyterHub spawner and of the sessions an init container redeems in a pod."""
    before = world.session_count()
    with world.stack.client(world.service_token) as hub:
        for name in DANGEROUS:
            resp = hub.post(
                f"{API}/service/sessions",
                json={
                    "on_behalf_of": world.grantee,
                    "mount_path": "/secrets",
                    "secrets": [{"name": world.ref, "file": "t", "env": name}],
                },
            )
            assert (resp.status_code, resp.json()["code"]) == (400, "invalid_env"), (name, resp.text)
        assert world.session_count() == before
        for name in ORDINARY:
            resp = hub.post(
                f"{API}/service/sessions",
                json={"on_behalf_of": world.grantee, "secrets": [{"name": world.ref, "env": name}]},
            )
            assert resp.status_code == 201, (name, resp.text)
            assert hub.delete(f"{API}/service/sessions/{resp.json()['session']['id']}").status_code == 204


def test_sealbox_run_refuses_every_dangerous_name_by_flag_and_by_spec(
    world: World, cli: CliRunner, tmp_path: Path
) -> None:
    before = world.session_count()
    spec = tmp_path / "job.toml"
    for name in DANGEROUS:
        result = cli.invoke(app, ["run", "--env", f"{name}={world.ref}", "--", "true"])
        assert result.exit_code != 0, name
        assert "invalid_env" in result.output and "reserved" in result.output, (name, result.output)
        spec.write_text(f'[env]\n{name} = "{world.ref}"\n')
        result = cli.invoke(app, ["run", "--secrets-from", str(spec), "--", "true"])
        assert result.exit_code != 0, name
        assert "invalid_env" in result.output, (name, result.output)
    assert world.session_count() == before


def test_sealbox_run_sets_every_ordinary_name(world: World, tmp_path: Path) -> None:
    """The real CLI process: one run maps the shared secret into every ordinary name at once."""
    out = tmp_path / "seen.json"
    args = [arg for name in ORDINARY for arg in ("--env", f"{name}={world.ref}")]
    script = (
        "import json, os, sys; json.dump({k: k in os.environ for k in sys.argv[2:]}, open(sys.argv[1], 'w'))"
    )
    done = subprocess.run(
        sealbox_cmd("run", *args, "--", sys.executable, "-c", script, str(out), *ORDINARY),
        env=base_env(SEALBOX_CONFIG=str(world.config)),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == dict.fromkeys(ORDINARY, True)


def test_the_real_cli_refuses_with_one_line(world: World) -> None:
    done = subprocess.run(
        sealbox_cmd("run", "--env", f"PYTHONWARNINGS={world.ref}", "--", "true"),
        env=base_env(SEALBOX_CONFIG=str(world.config)),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and "invalid_env" in lines[0] and "Traceback" not in done.stderr.decode(), lines
