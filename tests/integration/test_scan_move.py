"""`sealbox scan --move` end to end: the CLI, a real server and keeper.

Each value found in a notebook (its checkpoint too) or a Python script is stored once as a secret, the
code is rewritten to get_secret, still parses and, run inside `sealbox run`, computes what it computed
before; the value is nowhere in the rewritten files; outputs that held it are cleared. A value the
session already holds keeps its name and is not stored again. No value in stdout, stderr or logs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import CANARIES
from tests.integration.test_expiry import Person, person, unique
from tests.integration.test_secret_import import _mine, _values
from tests.support.planted import plants, write_notebook
from tests.support.processes import Stack, base_env, sealbox_cmd

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _cli(stack: Stack, who: Person, tmp_path: Path) -> Cli:
    env = base_env(SEALBOX_CONFIG=str(tmp_path / "config.toml"))

    def cli(*args: str, stdin: str = "", cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            sealbox_cmd(*args), input=stdin, text=True, capture_output=True, env=env, cwd=cwd, timeout=180,
            check=False,
        )  # fmt: skip

    assert cli("login", stack.url, "--token", "-", stdin=who.token + "\n").returncode == 0
    return cli


def _code(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _no_values(text: str, values: list[str]) -> None:
    for value in values:
        assert value not in text
        assert json.dumps(value)[1:-1] not in text


def _project(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    aws_id, _, github, _, _, _, db, pem = plants()
    url = f"postgresql://analyst:{db.value}@db.example.org:5432/sales"
    digest = hashlib.sha256((github.value + url + aws_id.value + pem.value).encode()).hexdigest()
    cells = [
        ("import hashlib", None),
        (f'gh = "{github.value}"\nurl = "{url}"', None),
        ("print(url)", url),
        (f"aws_id = '{aws_id.value}'\n{pem.code}", None),
        ("print(hashlib.sha256((gh + url + aws_id + pem).encode()).hexdigest())", digest),
    ]
    project = tmp_path / "project"
    (project / ".ipynb_checkpoints").mkdir(parents=True)
    write_notebook(project / "analysis.ipynb", cells)
    write_notebook(project / ".ipynb_checkpoints" / "analysis-checkpoint.ipynb", cells)
    (project / "job.py").write_text(f'"""A job."""\nKEY_ID = "{aws_id.value}"\nprint(len(KEY_ID))\n')
    (project / "team.env").write_text(f"GITHUB_TOKEN={github.value}\n")
    values = {"github": github.value, "db": db.value, "aws_id": aws_id.value, "pem": pem.value}
    CANARIES.extend(values.values())  # the stack scans its logs for them when it stops
    return project, {"values": values, "digest": digest}


def test_move_stores_each_value_once_and_rewrites_the_code_to_get_secret(
    stack: Stack, tmp_path: Path
) -> None:
    alice = person(stack, "scanner")
    cli = _cli(stack, alice, tmp_path)
    project, planted = _project(tmp_path)
    values: dict[str, str] = planted["values"]
    moved = cli("scan", "project", "--move", "--yes")
    assert moved.returncode == 1, moved.stderr  # the .env line remains, with what to do about it
    assert "sealbox secret import project/team.env --apply" in moved.stdout
    assert "git filter-repo --replace-text" in moved.stdout
    _no_values(moved.stdout + moved.stderr, list(values.values()))

    mine = _mine(alice)
    names = {
        "github": "github_token_analysis",
        "db": "basic_auth_credentials_analysis",
        "aws_id": "aws_access_key_analysis",
        "pem": "private_key_analysis",
    }
    assert set(mine) == set(names.values()), sorted(mine)  # one secret per value, checkpoint and job.py too
    stored = _values(alice, list(names.values()))
    assert {key: stored[name] for key, name in names.items()} == values

    for notebook in (
        project / "analysis.ipynb",
        project / ".ipynb_checkpoints" / "analysis-checkpoint.ipynb",
    ):
        text = notebook.read_text()
        _no_values(text, list(values.values()))
        cells = json.loads(text)["cells"]
        for cell in cells:
            ast.parse("".join(cell["source"]))
        assert [len(c["outputs"]) for c in cells] == [0, 0, 0, 0, 1]  # print(url) held the password
    code = _code(project / "analysis.ipynb")
    assert "from sealbox import get_secret" in code
    assert (
        f"url = f\"postgresql://analyst:{{get_secret('{names['db']}')}}@db.example.org:5432/sales\"" in code
    )
    assert not list(project.glob("*.bak"))
    job = (project / "job.py").read_text()
    expected_job = f'KEY_ID = get_secret("{names["aws_id"]}")\nprint(len(KEY_ID))\n'
    assert job == '"""A job."""\nfrom sealbox import get_secret\n' + expected_job

    # The rewritten notebook runs inside a session with the new secrets and computes what it did before.
    script = tmp_path / "notebook.py"
    script.write_text(code)
    secrets = [arg for name in names.values() for arg in ("--secret", name)]
    ran = cli("run", *secrets, "--", sys.executable, str(script))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == planted["digest"]

    again = cli("scan", "project", "--json")
    assert again.returncode == 1  # the .env file only
    assert {f["path"] for f in json.loads(again.stdout)["findings"]} == {"project/team.env"}


def test_a_value_the_session_holds_keeps_its_name_and_is_not_stored_again(
    stack: Stack, tmp_path: Path
) -> None:
    alice = person(stack, "session-scan")
    cli = _cli(stack, alice, tmp_path)
    name, plain = unique("warehouse"), "plain-words-no-pattern-" + unique("finds")
    assert alice.call("POST", "/secrets", json={"name": name, "value": plain}).status_code == 201
    notebook = write_notebook(tmp_path / "nb.ipynb", [(f"w = '{plain}'\nprint(len(w))", "42")])
    before = _mine(alice)
    clean = cli("scan", "nb.ipynb")
    assert clean.returncode == 0, clean.stdout  # outside the session no pattern finds it
    inside = cli("run", "--secret", name, "--", *sealbox_cmd("scan", "nb.ipynb", "--move", "--backup"))
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert "stored no new secret" in inside.stdout
    assert _mine(alice) == before
    assert "".join(json.loads(notebook.read_text())["cells"][0]["source"]) == (
        f'from sealbox import get_secret\nw = get_secret("{name}")\nprint(len(w))'
    )
    backup = tmp_path / "nb.ipynb.bak"
    assert plain in backup.read_text()  # asked for with --backup; the output says it holds the value
    assert "it still holds the values" in inside.stdout
    _no_values(inside.stdout + inside.stderr, [plain])


def test_names_are_asked_for_and_a_name_in_use_is_refused(stack: Stack, tmp_path: Path) -> None:
    alice = person(stack, "asked")
    cli = _cli(stack, alice, tmp_path)
    github = plants()[2].value
    assert alice.call("POST", "/secrets", json={"name": "taken", "value": "x" * 12}).status_code == 201
    write_notebook(tmp_path / "nb.ipynb", [(f"gh = '{github}'", None)])
    moved = cli("scan", "nb.ipynb", "--move", stdin="bad name\ntaken\nmy-gh\n")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "a secret name is" in moved.stderr and "you have a secret named taken already" in moved.stderr
    assert _values(alice, ["my-gh"]) == {"my-gh": github}
    _no_values(moved.stdout + moved.stderr, [github])


def test_a_file_that_cannot_be_rewritten_is_left_unchanged_and_its_value_not_stored(
    stack: Stack, tmp_path: Path
) -> None:
    alice = person(stack, "unchanged")
    cli = _cli(stack, alice, tmp_path)
    github = plants()[2].value
    notebook = write_notebook(tmp_path / "nb.ipynb", [(f"gh = '{github}'  # the token {github}", None)])
    before, text = _mine(alice), notebook.read_text()
    moved = cli("scan", "nb.ipynb", "--move", "--yes")
    assert moved.returncode == 1, moved.stdout + moved.stderr
    assert "cell 1: the value is also outside a plain string" in moved.stdout
    assert "stored no new secret" in moved.stdout
    assert notebook.read_text() == text and _mine(alice) == before
    _no_values(moved.stdout + moved.stderr, [github])
