"""The light entry of `sealbox run` reads its options as the Typer command does, and leaves to Typer
everything that is not an ordinary invocation (help, errors), so that both read alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from sealbox.cli.entry import RunArgs, parse_run_args
from sealbox.cli.main import app

ORDINARY = [
    ["--secret", "db", "--", "true"],
    ["--secret=alice/db.password:pgpass", "--env", "TOKEN=api", "--", "python", "-c", "pass"],
    ["--secret", "a", "--secret", "b", "--env=A=a", "--env", "B=b.field", "--refresh", "--", "./job.sh"],
    ["--mount-path", "/tmp/x", "--project", "p1", "--keeper-url", "unix:///k.sock", "--", "true"],
    ["--secrets-from", "job.toml", "python", "job.py", "--secret", "not-an-option-of-run"],
    ["--env", "X=y", "env"],
    ["--", "--secret", "x"],
]
FOR_TYPER = [
    [],
    ["--help"],
    ["-h"],
    ["--secret"],
    ["--secret", "a"],
    ["--secret", "a", "--"],
    ["--bogus", "x", "--", "true"],
    ["--secret", "--env", "--", "true"],
    ["--refresh=yes", "--", "true"],
    ["--project", "a", "--project", "b", "--", "true"],
]


def typer_params(args: list[str]) -> dict[str, object]:
    """What the Typer command's own parser makes of `args` (click, without running the command)."""
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    command = group.commands["run"]
    with command.make_context("run", list(args)) as ctx:
        return dict(ctx.params)


@pytest.mark.parametrize("args", ORDINARY)
def test_ordinary_invocations_read_as_typer_reads_them(args: list[str]) -> None:
    parsed = parse_run_args(args)
    assert isinstance(parsed, RunArgs)
    params = typer_params(args)
    assert parsed.command == params["command"]
    assert parsed.secret == (params["secret"] or [])
    assert parsed.env == (params["env"] or [])
    assert parsed.refresh == params["refresh"]
    for name in ("mount_path", "project", "keeper_url"):
        assert getattr(parsed, name) == params[name]
    assert parsed.secrets_from == (Path(str(params["secrets_from"])) if params["secrets_from"] else None)


@pytest.mark.parametrize("args", FOR_TYPER)
def test_help_and_errors_are_left_to_typer(args: list[str]) -> None:
    assert parse_run_args(args) is None


def test_sealbox_run_loads_no_typer_and_no_httpx(tmp_path: Path) -> None:
    """The light path as a job runs it, up to the first call to the server (here: none listening)."""
    config = tmp_path / "config.toml"
    config.write_text('url = "http://127.0.0.1:9"\ntoken = "sbx_not_a_real_token"\n')
    config.chmod(0o600)
    probe = (
        "import json, sys, runpy\n"
        "sys.argv = ['sealbox', 'run', '--env', 'X=nothing', '--', 'true']\n"
        "try:\n"
        "    runpy.run_module('sealbox', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "mods = sorted({m.split('.')[0] for m in sys.modules})\n"
        "print(json.dumps([code, mods]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"SEALBOX_CONFIG": str(config), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    code, modules = json.loads(done.stdout.splitlines()[-1])
    assert code == 1 and "cannot reach the sealbox server" in done.stderr
    assert not {"typer", "click", "rich", "httpx", "httpcore", "fastapi", "sqlalchemy"} & set(modules)


def test_as_goes_with_the_secret_before_it() -> None:
    args = ["--secret", "aws", "--as", "aws", "--secret", "db", "--secret=gh", "--as=git", "--", "true"]
    parsed = parse_run_args(args)
    assert isinstance(parsed, RunArgs)
    assert parsed.secret == ["aws", "db", "gh"]
    assert parsed.formats == [(0, "aws"), (2, "git")]
    assert typer_params(args)["as_format"] == ["aws", "git"]
    before = parse_run_args(["--as", "aws", "--secret", "aws", "--", "true"])
    assert before is not None and before.formats == [(-1, "aws")]  # refused when the spec is combined
