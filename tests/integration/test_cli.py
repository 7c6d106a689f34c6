"""The `sealbox` CLI as a person uses it: a real subprocess against a real server (issue 3, "The CLI").

Values go in through stdin, a file or --field and never come out on stdout or stderr. Every bad input
exits non-zero with exactly one line on stderr, starting with `error:`, and changes nothing on the
server (checked through the API).

Each `python -m sealbox` costs about a second of CPU, so the bad inputs run once, side by side, in a
module fixture; each case is still its own test.
"""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import Stack, base_env, free_port, sealbox_cmd

API = "/api/v1"
Canary = Callable[[str], str]
Result = subprocess.CompletedProcess[str]


@dataclass
class Cli:
    """A logged-in CLI user: their config file, their token, and a way to run `sealbox`."""

    stack: Stack
    config: Path
    token: str = field(repr=False)

    def run(self, *args: str, stdin: str = "", config: Path | None = None) -> Result:
        return self.run_bytes(*args, stdin=stdin.encode(), config=config)

    def run_bytes(self, *args: str, stdin: bytes = b"", config: Path | None = None) -> Result:
        proc = subprocess.run(
            sealbox_cmd(*args),
            input=stdin,
            capture_output=True,
            env=base_env(SEALBOX_CONFIG=str(config or self.config)),
            timeout=120,
            check=False,
        )
        return subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )

    def ok(self, *args: str, stdin: str = "") -> Result:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    def api(self) -> httpx.Client:
        return self.stack.client(self.token)

    def state(self) -> list[dict[str, Any]]:
        """Everything the server knows about this user's secrets (metadata with versions)."""
        with self.api() as api:
            items = api.get(f"{API}/secrets", params={"limit": 500}).json()["items"]
            return [api.get(f"{API}/secrets/{item['name']}").json() for item in items]


def secret_of(token: str) -> str:
    """The secret part of `sbx_<id>_<secret>` (the secret may itself hold underscores)."""
    prefix, token_id, secret = token.split("_", 2)
    assert prefix == "sbx" and len(token_id) == 16 and len(secret) >= 43, "not a sealbox token"
    return secret


def one_error_line(result: Result) -> str:
    assert result.returncode != 0, (result.args, result.stdout)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def cli(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A fresh user, logged in with `sealbox login URL --token -` (the token on stdin, not in argv)."""
    token = stack.add_user(unique("cli").lower())
    config = tmp_path_factory.mktemp("cli") / "sealbox" / "config.toml"
    user = Cli(stack=stack, config=config, token=token)
    login = user.run("login", stack.url, "--token", "-", stdin=token + "\n")
    assert login.returncode == 0, login.stderr
    assert token not in login.stdout + login.stderr
    assert "logged in" in login.stdout
    return user


# --- login and config -------------------------------------------------------------------------------------


def test_login_writes_a_private_config(cli: Cli) -> None:
    mode = stat.S_IMODE(cli.config.stat().st_mode)
    assert mode == 0o600, oct(mode)
    text = cli.config.read_text()
    assert cli.stack.url in text and cli.token in text
    assert not any(p.name.endswith(".tmp") for p in cli.config.parent.iterdir())


# --- the happy paths --------------------------------------------------------------------------------------


def test_add_three_ways_and_read_back_metadata_only(cli: Cli, canary: Canary, tmp_path: Path) -> None:
    piped, in_file, aws_secret = canary("cli-stdin"), canary("cli-file"), canary("cli-aws")
    key_id = "AKIAIOSFODNN7EXAMPLE"
    names = {"stdin": unique("stdin"), "file": unique("file"), "aws": unique("aws")}
    value_file = tmp_path / "value.bin"
    file_bytes = b"\x00\xff" + in_file.encode() + b"\n\x80"
    value_file.write_bytes(file_bytes)

    outputs: list[Result] = [
        cli.ok(
            "secret",
            "add",
            names["stdin"],
            "--description",
            "from a pipe",
            "--expires",
            "30d",
            stdin=piped + "\n",
        ),
        cli.ok("secret", "add", names["file"], "--from-file", str(value_file)),
        cli.ok(
            "secret",
            "add",
            names["aws"],
            "--kind",
            "aws",
            "--field",
            f"access_key_id={key_id}",
            "--field",
            f"secret_access_key={aws_secret}",
            "--field",
            "region=eu-central-1",
        ),
    ]
    for name, result in zip(names.values(), outputs, strict=True):
        assert f"stored {name} (version 1)" in result.stdout

    ls = cli.ok("secret", "ls")
    ls_json = cli.ok("secret", "ls", "--json")
    show = cli.ok("secret", "show", names["aws"])
    show_json = cli.ok("secret", "show", names["stdin"], "--json")
    outputs += [ls, ls_json, show, show_json]

    for name in names.values():
        assert name in ls.stdout
    listed = {s["name"]: s for s in json.loads(ls_json.stdout)}
    assert listed[names["stdin"]]["description"] == "from a pipe"
    assert listed[names["stdin"]]["expires_at"] is not None
    assert listed[names["aws"]]["kind"] == "aws"
    assert listed[names["aws"]]["fields"] == ["access_key_id", "region", "secret_access_key"]
    assert "fields:" in show.stdout and "secret_access_key" in show.stdout and "versions:" in show.stdout
    shown = json.loads(show_json.stdout)
    assert shown["current_version"] == 1
    # `echo value | sealbox secret add` does not store the trailing newline.
    assert shown["versions"][0]["size"] == len(piped)
    with cli.api() as api:
        # Bytes that are not UTF-8 are stored as they are.
        assert api.get(f"{API}/secrets/{names['file']}").json()["versions"][0]["size"] == len(file_bytes)

    printed = "\n".join(r.stdout + r.stderr for r in outputs).encode()
    assert find_in_bytes(printed, [piped, in_file, aws_secret, key_id]) == []


def test_replace_with_if_version_update_and_rm(cli: Cli, canary: Canary) -> None:
    name = unique("life")
    with cli.api() as api:
        assert api.post(f"{API}/secrets", json={"name": name, "value": canary("life-1")}).status_code == 201
    replaced = cli.ok("secret", "replace", name, "--if-version", "1", stdin=canary("life-2"))
    assert "now version 2" in replaced.stdout

    before = cli.state()
    stale = cli.run("secret", "replace", name, "--if-version", "1", stdin=canary("life-3"))
    assert "version_conflict" in one_error_line(stale)
    assert stale.stdout == ""
    assert cli.state() == before

    cli.ok("secret", "update", name, "--description", "rotated by cli")
    with cli.api() as api:
        shown = api.get(f"{API}/secrets/{name}").json()
    assert shown["description"] == "rotated by cli"
    assert shown["current_version"] == 2
    assert [v["version"] for v in shown["versions"]] == [2, 1]

    removed = cli.ok("secret", "rm", name, "--yes")
    assert f"deleted {name}" in removed.stdout and f"sealbox secret restore {name}" in removed.stdout
    with cli.api() as api:
        assert api.get(f"{API}/secrets/{name}").status_code == 404
    assert name not in cli.ok("secret", "ls").stdout
    deleted = next(line for line in cli.ok("secret", "ls", "--deleted").stdout.splitlines() if name in line)
    listed = json.loads(cli.ok("secret", "ls", "--deleted", "--json").stdout)
    purge_at = next(s["purge_at"] for s in listed if s["name"] == name)
    assert purge_at[:19].replace("T", " ") in deleted  # when it goes for good
    held = cli.run("secret", "add", name, stdin=canary("life-4"))
    assert "name_held_by_deleted_secret" in one_error_line(held) and f"secret restore {name}" in held.stderr

    assert cli.ok("secret", "restore", name).stdout.strip() == f"restored {name}"
    with cli.api() as api:
        back = api.get(f"{API}/secrets/{name}").json()
    assert [v["version"] for v in back["versions"]] == [2, 1]
    assert name not in cli.ok("secret", "ls", "--deleted").stdout

    assert cli.ok("secret", "rm", name, "--purge", "--yes").stdout.strip() == f"removed {name} for good"
    assert "not_found" in one_error_line(cli.run("secret", "restore", name))
    cli.ok("secret", "add", name, stdin=canary("life-5"))  # the name is free again


def test_show_lists_the_live_sessions_that_mount_a_secret(cli: Cli, canary: Canary) -> None:
    """Issue 12, new-user finding 9: the API and the web page listed them, `secret show` did not."""
    name = unique("mounted")
    with cli.api() as api:
        assert api.post(f"{API}/secrets", json={"name": name, "value": canary("mounted")}).status_code == 201
    assert "live sessions: none" in cli.ok("secret", "show", name).stdout
    with cli.api() as api:
        launched = api.post(f"{API}/sessions", json={"secrets": [{"name": name, "file": "f"}]})
        assert launched.status_code == 201, launched.text
        session = launched.json()["session"]
        listed = api.get(f"{API}/secrets/{name}").json()["sessions"]
    assert [s["id"] for s in listed] == [session["id"]]
    out = cli.ok("secret", "show", name).stdout
    assert "live sessions that mount it" in out
    row = next(line for line in out.splitlines() if session["id"] in line)
    assert row.split()[:2] == [session["id"], session["owner"]], row
    with cli.api() as api:
        assert api.delete(f"{API}/sessions/{session['id']}").status_code == 200
    assert session["id"] not in cli.ok("secret", "show", name).stdout


def _rm_at_a_terminal(cli: Cli, name: str, answer: str) -> Result:
    """`secret rm NAME` with a terminal as its stdin, answering the question with `answer`."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode() + b"\n")
        proc = subprocess.run(
            sealbox_cmd("secret", "rm", name),
            stdin=terminal,
            capture_output=True,
            env=base_env(SEALBOX_CONFIG=str(cli.config)),
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def test_rm_at_a_terminal_asks_first(cli: Cli, canary: Canary) -> None:
    name = unique("asked")
    with cli.api() as api:
        assert api.post(f"{API}/secrets", json={"name": name, "value": canary("asked")}).status_code == 201
    declined = _rm_at_a_terminal(cli, name, "n")
    assert f"delete {name}?" in declined.stdout
    assert one_error_line(declined) == f"error: not deleting {name}"
    with cli.api() as api:
        assert api.get(f"{API}/secrets/{name}").status_code == 200
    accepted = _rm_at_a_terminal(cli, name, "y")
    assert accepted.returncode == 0, accepted.stderr
    assert f"deleted {name}" in accepted.stdout
    with cli.api() as api:
        assert api.get(f"{API}/secrets/{name}").status_code == 404


def test_token_add_ls_revoke(cli: Cli) -> None:
    name = unique("ci-token")
    added = cli.ok("token", "add", name)
    token = added.stdout.strip()
    assert token.startswith("sbx_") and len(added.stdout.splitlines()) == 1
    assert token not in added.stderr
    with cli.stack.client(token) as api:
        assert api.get(f"{API}/me").status_code == 200

    token_id = token.removeprefix("sbx_").split("_", 1)[0]
    ls = cli.ok("token", "ls")
    assert token_id in ls.stdout and name in ls.stdout
    assert token not in ls.stdout and secret_of(token) not in ls.stdout

    revoked = cli.ok("token", "revoke", token_id)
    assert token_id in revoked.stdout
    with cli.stack.client(token) as api:
        assert api.get(f"{API}/me").status_code == 401
    with cli.api() as api:  # the CLI's own token still works
        assert api.get(f"{API}/me").status_code == 200


# --- every bad input: one line, non-zero, nothing changed -------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    stdin: str = ""
    config: str = "cli"  # cli | no-server | bad-token | absent | broken | fresh
    says: str = ""  # a piece the error line must contain


AWS_KEY = "access_key_id=AKIAIOSFODNN7EXAMPLE"
CASES = [
    Case("bad-name", ("secret", "add", "bad name!"), "{value}", says="invalid_name"),
    Case("dot-name", ("secret", "add", "."), "{value}", says="invalid_name"),
    Case("dotdot-name", ("secret", "add", ".."), "{value}", says="invalid_name"),
    Case("long-name", ("secret", "add", "x" * 129), "{value}", says="invalid_name"),
    Case("empty-value", ("secret", "add", "{new}"), "", says="invalid_value"),
    Case("only-newline", ("secret", "add", "{new}"), "\n", says="invalid_value"),
    Case("oversized", ("secret", "add", "{new}", "--from-file", "{big}"), says="value_too_large"),
    Case("unknown-kind", ("secret", "add", "{new}", "--kind", "nope"), "{value}"),
    Case(
        "unknown-field",
        (
            "secret",
            "add",
            "{new}",
            "--kind",
            "aws",
            "--field",
            AWS_KEY,
            "--field",
            "secret_access_key={value}",
            "--field",
            "colour=blue",
        ),
        says="invalid_field",
    ),
    Case(
        "missing-field", ("secret", "add", "{new}", "--kind", "aws", "--field", "secret_access_key={value}")
    ),
    Case("field-for-generic", ("secret", "add", "{new}", "--field", "a={value}"), says="invalid_value"),
    Case("field-twice", ("secret", "add", "{new}", "--kind", "aws", "--field", AWS_KEY, "--field", AWS_KEY)),
    Case("bad-expiry", ("secret", "add", "{new}", "--expires", "tomorrow-ish"), "{value}"),
    Case(
        "past-expiry",
        ("secret", "add", "{new}", "--expires", "2001-01-01T00:00:00Z"),
        "{value}",
        says="invalid_expiry",
    ),
    Case("missing-file", ("secret", "add", "{new}", "--from-file", "/nonexistent/value")),
    Case("duplicate", ("secret", "add", "{existing}"), "{value}", says="already_exists"),
    Case("show-unknown", ("secret", "show", "{new}"), says="not_found"),
    Case("show-json-unknown", ("secret", "show", "{new}", "--json"), says="not_found"),
    Case("replace-unknown", ("secret", "replace", "{new}"), "{value}", says="not_found"),
    Case("rm-unknown", ("secret", "rm", "{new}", "--yes"), says="not_found"),
    Case("rm-unconfirmed", ("secret", "rm", "{existing}"), says="no terminal to confirm on; give --yes"),
    Case("purge-unconfirmed", ("secret", "rm", "{existing}", "--purge"), says="give --yes"),
    Case("restore-unknown", ("secret", "restore", "{new}"), says="not_found"),
    Case("restore-live", ("secret", "restore", "{existing}"), says="not_found"),
    Case("update-unknown", ("secret", "update", "{new}", "--description", "x"), says="not_found"),
    Case("update-nothing", ("secret", "update", "{existing}")),
    Case("replace-empty", ("secret", "replace", "{existing}"), says="invalid_value"),
    Case(
        "replace-stale",
        ("secret", "replace", "{existing}", "--if-version", "7"),
        "{value}",
        says="version_conflict",
    ),
    Case(
        "replace-oversized",
        ("secret", "replace", "{existing}", "--from-file", "{big}"),
        says="value_too_large",
    ),
    Case(
        "update-past-expiry",
        ("secret", "update", "{existing}", "--expires", "2001-01-01T00:00:00Z"),
        says="invalid_expiry",
    ),
    Case("revoke-unknown-token", ("token", "revoke", "a" * 16), says="not_found"),
    Case("no-server-ls", ("secret", "ls"), config="no-server", says="cannot reach"),
    Case("no-server-add", ("secret", "add", "{new}"), "{value}", config="no-server", says="cannot reach"),
    Case("bad-token-ls", ("secret", "ls"), config="bad-token", says="unauthenticated"),
    Case("bad-token-add", ("secret", "add", "{new}"), "{value}", config="bad-token", says="unauthenticated"),
    Case("bad-token-token-ls", ("token", "ls"), config="bad-token", says="unauthenticated"),
    Case("not-logged-in", ("secret", "ls"), config="absent", says="not logged in"),
    Case("broken-config", ("secret", "ls"), config="broken"),
    Case(
        "login-bad-token",
        ("login", "{url}", "--token", "-"),
        "{bad_token}\n",
        config="fresh",
        says="unauthenticated",
    ),
    Case("login-no-token", ("login", "{url}", "--token", "-"), "\n", config="fresh"),
    Case(
        "login-no-server",
        ("login", "http://127.0.0.1:{closed_port}", "--token", "-"),
        "{token}\n",
        config="fresh",
        says="cannot reach",
    ),
]


@dataclass
class Batch:
    results: dict[str, Result]
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    values: dict[str, str]
    configs: dict[str, Path]
    fill: dict[str, str] = field(repr=False)


@pytest.fixture(scope="module")
def batch(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """Run every bad-input case once, four at a time, between two snapshots of the user's secrets."""
    root = tmp_path_factory.mktemp("cli-bad")
    existing = unique("existing")
    with cli.api() as api:
        created = api.post(
            f"{API}/secrets", json={"name": existing, "value": "original", "description": "keep"}
        )
        assert created.status_code == 201
    big = root / "big"
    big.write_bytes(b"x" * (70 * 1024))
    bad_token = "sbx_" + "c" * 16 + "_" + "d" * 43
    configs = {
        "cli": cli.config,
        "no-server": root / "no-server.toml",
        "bad-token": root / "bad-token.toml",
        "absent": root / "absent.toml",
        "broken": root / "broken.toml",
    }
    configs["no-server"].write_text(f'url = "http://127.0.0.1:{free_port()}"\ntoken = "{cli.token}"\n')
    configs["bad-token"].write_text(f'url = "{cli.stack.url}"\ntoken = "{bad_token}"\n')
    configs["broken"].write_text("url = [unterminated\n")
    for path in configs.values():
        if path.exists():
            os.chmod(path, 0o600)
    fill = {
        "existing": existing,
        "big": str(big),
        "url": cli.stack.url,
        "bad_token": bad_token,
        "token": cli.token,
        "closed_port": str(free_port()),
    }
    values = {case.id: make_canary(f"cli-{case.id}-") for case in CASES}

    def run(case: Case) -> Result:
        local = {**fill, "new": unique("new"), "value": values[case.id]}
        config = configs.get(case.config, root / f"fresh-{case.id}" / "config.toml")
        return cli.run(
            *[a.format(**local) for a in case.args], stdin=case.stdin.format(**local), config=config
        )

    before = cli.state()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip([c.id for c in CASES], pool.map(run, CASES), strict=True))
    after = cli.state()
    configs.update({c.id: root / f"fresh-{c.id}" / "config.toml" for c in CASES if c.config == "fresh"})
    return Batch(results=results, before=before, after=after, values=values, configs=configs, fill=fill)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_error_line_and_changes_nothing(batch: Batch, case: Case) -> None:
    result = batch.results[case.id]
    line = one_error_line(result)
    assert result.stdout == ""
    assert case.says in line, line
    # No value and no token in the message.
    hidden = [batch.values[case.id], batch.fill["token"], batch.fill["bad_token"]]
    assert find_in_bytes(line.encode(), hidden) == []
    # Nothing changed on the server; a failed login leaves no config behind.
    assert batch.after == batch.before
    if case.config == "fresh":
        assert not batch.configs[case.id].exists()
    assert {s["name"] for s in batch.before} == {s["name"] for s in batch.after}


def test_bad_inputs_never_reach_the_logs(batch: Batch, stack: Stack) -> None:
    assert find_in_bytes(stack.logs(), [*batch.values.values(), batch.fill["bad_token"]]) == []
