"""The CLI's help as a newcomer reads it (issue 12, new-user finding 10): every command says what it does,
options say what they take (never a Python type), `--version` exists, and `run --help` shows every form
of a mapping. typer's CliRunner, in-process: no server is needed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import version

import pytest
import typer
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from sealbox.cli.main import app
from sealbox.domain.kinds import Kind

runner = CliRunner()
PYTHON_TYPE = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|[a-z]+ range)>|\{[a-z_]+\}")


def _commands(
    command: TyperCommand | TyperGroup, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], TyperCommand | TyperGroup]]:
    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            assert isinstance(sub, TyperCommand | TyperGroup)
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))  # type: ignore[arg-type]


def test_there_is_a_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"sealbox {version('sealbox')}"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "sealbox")
def test_help_names_what_options_take_never_a_python_type(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert PYTHON_TYPE.search(result.output) is None, result.output


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS if p], ids=" ".join)
def test_every_command_and_group_says_what_it_does(path: tuple[str, ...]) -> None:
    command = dict(COMMANDS)[path]
    assert (command.help or command.short_help or "").strip(), f"sealbox {' '.join(path)} has no help text"


def test_group_and_project_explain_themselves() -> None:
    for kind in ("group", "project"):
        out = runner.invoke(app, [kind, "--help"], env={"COLUMNS": "200"}).output
        assert f"{kind.capitalize()}s: " in out
        for sub in ("create", "ls", "show", "add", "rm"):
            assert re.search(rf"│ {sub}\s+\S", out), out


def test_run_help_shows_every_form_of_a_mapping() -> None:
    out = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    for form in (
        "[OWNER/]NAME[.FIELD][:FILE]",
        "VAR=[OWNER/]NAME[.FIELD]",
        "OWNER/NAME",
        "NAME.FIELD",
        ":FILE",
    ):
        assert form in out, form
    assert "Usage: root run [OPTIONS] COMMAND..." in out or "run [OPTIONS] COMMAND..." in out


def test_flags_take_no_value_in_the_help() -> None:
    out = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"--refresh\s{2,}swap in replaced values", out), out


def test_an_unknown_kind_lists_the_kinds_before_asking_for_a_value() -> None:
    result = runner.invoke(app, ["secret", "add", "x", "--kind", "nosuch"], input="never read\n")
    assert result.exit_code == 1
    kinds = ", ".join(k.value for k in Kind)
    assert result.output.strip().splitlines() == [f"error: --kind is one of {kinds}"]
    assert "nosuch" not in result.output
