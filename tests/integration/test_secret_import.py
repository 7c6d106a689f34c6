"""`sealbox secret import FILE.env [--apply]` end to end: the CLI, a real server and keeper.

A dry run changes nothing; --apply creates and replaces; duplicate keys and lines that are not
KEY=VALUE are reported by line number; a value is stored as the file says (no interpolation); no
value ever appears in the output, the audit records or (the stack's own scan) the logs.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from tests.integration.test_expiry import CSRF, Person, person, unique
from tests.support.processes import Stack, base_env, sealbox_cmd


def _audit_text(stack: Stack) -> str:
    with closing(sqlite3.connect(f"file:{stack.data_dir / 'sealbox.db'}?mode=ro", uri=True)) as conn:
        return "\n".join(repr(row) for row in conn.execute("SELECT * FROM audit_events"))


def _mine(who: Person) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in who.call("GET", "/secrets").json()["items"] if s["access"] == "owner"}


def _values(who: Person, names: list[str]) -> dict[str, str]:
    launch = who.call("POST", "/sessions", json={"secrets": [{"name": n, "file": n} for n in names]})
    assert launch.status_code == 201, launch.text
    got = who.redeem(launch.json()["session"]["id"], launch.json()["session_credential"])
    return {i.name: i.value.decode() for i in got.items}


def test_a_dry_run_changes_nothing_and_apply_creates_and_replaces(
    stack: Stack, canary: Callable[[str], str], tmp_path: Path
) -> None:
    alice = person(stack, "alice")
    old, first, last, api, mapped = (canary(x) for x in ("old", "first", "last", "api", "mapped"))
    assert alice.call("POST", "/secrets", json={"name": "API_KEY", "value": old}).status_code == 201
    fields = {"access_key_id": "AKIAABCDEFGHIJKLMNOP", "secret_access_key": canary("aws")}
    assert (
        alice.call("POST", "/secrets", json={"name": "AWS", "kind": "aws", "fields": fields}).status_code
        == 201
    )
    env_file = tmp_path / "team.env"
    env_file.write_text(
        "# the team's settings\n"  # 1
        f"DB_PASSWORD={first}\n"  # 2
        f"export API_KEY='{api}'\n"  # 3
        "HOME_DIR='${HOME}/data'\n"  # 4
        "this line is not an assignment\n"  # 5
        f"odd:key={mapped}\n"  # 6
        "EMPTY=\n"  # 7
        "AWS=not-fields\n"  # 8
        f'DB_PASSWORD="{last}"\n',  # 9
        encoding="utf-8-sig",  # a byte-order mark, as some editors write
    )
    config = tmp_path / "config.toml"
    env = base_env(SEALBOX_CONFIG=str(config))

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            sealbox_cmd(*args), input=stdin, text=True, capture_output=True, env=env, timeout=120, check=False
        )

    assert cli("login", stack.url, "--token", "-", stdin=alice.token + "\n").returncode == 0
    before = _mine(alice)
    dry = cli("secret", "import", str(env_file))
    assert dry.returncode == 0, dry.stderr
    rows = {line.split()[2]: line.split() for line in dry.stdout.splitlines()[1:] if line[:1].isdigit()}
    assert rows["DB_PASSWORD"][:2] == ["9", "create"]
    assert rows["API_KEY"][:2] == ["3", "replace"]
    assert rows["HOME_DIR"][:2] == ["4", "create"]
    assert rows["odd_key"][:2] == ["6", "create"] and "from odd:key" in " ".join(rows["odd_key"])
    assert rows["AWS"][:2] == ["8", "skip"]
    assert "line 2: DB_PASSWORD is given again on line 9, which is used" in dry.stderr
    assert "line 5: not KEY=VALUE: skipped" in dry.stderr
    assert "line 7: EMPTY has no value: skipped" in dry.stderr
    assert "dry run: nothing was changed" in dry.stdout
    assert _mine(alice) == before

    applied = cli("secret", "import", str(env_file), "--apply", "--expires", "30d")
    assert applied.returncode == 0, applied.stderr
    assert "imported 4 of 5" in applied.stdout
    after = _mine(alice)
    assert after["API_KEY"]["current_version"] == 2
    assert {"DB_PASSWORD", "HOME_DIR", "odd_key"} <= after.keys()
    assert after["DB_PASSWORD"]["expires_at"] is not None
    assert after["AWS"]["current_version"] == 1
    values = _values(alice, ["DB_PASSWORD", "API_KEY", "HOME_DIR", "odd_key"])
    assert values == {"DB_PASSWORD": last, "API_KEY": api, "HOME_DIR": "${HOME}/data", "odd_key": mapped}

    listed = cli("secret", "ls")
    # The created ones expire in 30 days: `ls --expiring` lists them (not API_KEY, which has no expiry).
    expiring = cli("secret", "ls", "--expiring")
    assert expiring.returncode == 0, expiring.stderr
    assert sorted(line.split()[0] for line in expiring.stdout.splitlines()[1:]) == [
        "DB_PASSWORD",
        "HOME_DIR",
        "odd_key",
    ]
    assert cli("secret", "ls", "--expiring", "--within", "1d").stdout.startswith("no secrets expire before")
    output = dry.stdout + dry.stderr + applied.stdout + applied.stderr + listed.stdout
    audit = _audit_text(stack)
    for value in (old, first, last, api, mapped):
        assert value not in output
        assert value not in audit
    assert "DB_PASSWORD" in audit  # the records name the secrets


def test_a_file_that_is_not_utf8_imports_nothing(stack: Stack, tmp_path: Path) -> None:
    alice = person(stack, unique("carol"))
    env_file = tmp_path / "latin1.env"
    env_file.write_bytes(b"A=1\nB=caf\xe9\n")
    config = tmp_path / "config.toml"
    env = base_env(SEALBOX_CONFIG=str(config))
    login = subprocess.run(
        sealbox_cmd("login", stack.url, "--token", "-"),
        input=alice.token + "\n",
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    done = subprocess.run(
        sealbox_cmd("secret", "import", str(env_file), "--apply"),
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "line 2: not UTF-8 text: nothing was read" in done.stderr
    assert _mine(alice) == {}


def test_the_web_form_needs_its_csrf_token_and_renders_no_value(
    stack: Stack, canary: Callable[[str], str]
) -> None:
    alice = person(stack, unique("dana"))
    value = canary("web")
    files = {"file": ("x.env", f"WEB_KEY={value}\n".encode(), "text/plain")}
    with httpx.Client(base_url=stack.url, timeout=30) as web:
        login = CSRF.search(web.get("/web/login").text)
        assert login is not None
        assert web.post("/web/login", data={"csrf": login.group(1), "token": alice.token}).status_code == 303
        form = web.get("/web/import")
        csrf = CSRF.search(form.text)
        assert form.status_code == 200 and csrf is not None
        refused = web.post("/web/import", data={"csrf": "wrong", "apply": "yes"}, files=files)
        assert refused.status_code == 403
        assert _mine(alice) == {}
        done = web.post("/web/import", data={"csrf": csrf.group(1), "apply": "yes"}, files=files)
    assert done.status_code == 200 and "WEB_KEY" in done.text and "created" in done.text
    assert value not in refused.text + done.text
    assert set(_mine(alice)) == {"WEB_KEY"}
