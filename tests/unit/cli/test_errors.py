"""The CLI's one error handler (`cli.main.RootGroup`): a sealbox error any command lets through is one line
on stderr, `error: ...`, and exit code 1; no traceback. typer's CliRunner, in-process: no server."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sealbox.cli.main import RootGroup, app
from sealbox.cli.output import RATE_LIMITED, REFUSED_SAVED_LOGIN
from sealbox.errors import (
    ClientError,
    ConfigError,
    DecryptionError,
    NotFound,
    OptionsError,
    PodSpecError,
    SealboxError,
    TimeFormatError,
    WorkspaceError,
)

runner = CliRunner()


def _raising(error: Exception) -> typer.Typer:
    """A root command of sealbox's class with one subcommand that raises `error`."""
    probe = typer.Typer(cls=RootGroup, add_completion=False)

    @probe.callback()
    def root() -> None:
        """A probe."""

    @probe.command()
    def boom() -> None:
        raise error

    return probe


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ClientError(404, "not_found", "no such secret"), "error: no such secret (not_found)"),
        (ClientError(401, "unauthenticated", "a valid token is required"), f"error: {REFUSED_SAVED_LOGIN}"),
        (ClientError(429, "rate_limited", "too many attempts"), f"error: {RATE_LIMITED}"),
        (
            ClientError(0, "unreachable", "cannot reach the sealbox server at http://x"),
            "error: cannot reach the sealbox server at http://x",
        ),
        (NotFound(), "error: not found (not_found)"),
        (
            ConfigError("SEALBOX_PORT must be an integer from 1 to 65535"),
            "error: SEALBOX_PORT must be an integer from 1 to 65535",
        ),
        # The errors of the pod, Workspace, spawner and time rules say which rule, in their own words.
        (
            PodSpecError("a session id is 32 lowercase hex digits"),
            "error: a session id is 32 lowercase hex digits",
        ),
        (WorkspaceError("secretName is required"), "error: secretName is required"),
        (OptionsError("at most 50 secrets"), "error: at most 50 secrets"),
        (TimeFormatError("not a calendar date and time"), "error: not a calendar date and time"),
        (DecryptionError(), "error: DecryptionError"),  # no detail of a failed opening, ever
    ],
)
def test_a_sealbox_error_is_one_line_and_exit_1(error: SealboxError, line: str) -> None:
    result = runner.invoke(_raising(error), ["boom"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_other_exceptions_are_not_dressed_up() -> None:
    result = runner.invoke(_raising(RuntimeError("a bug")), ["boom"])
    assert isinstance(result.exception, RuntimeError)


@pytest.mark.parametrize(
    "args", [["secret", "ls"], ["session", "ls"], ["token", "ls"], ["group", "ls"], ["audit"]]
)
def test_commands_without_a_login_say_so_in_one_line(tmp_path: Path, args: list[str]) -> None:
    config = tmp_path / "config.toml"
    result = runner.invoke(app, args, env={"SEALBOX_CONFIG": str(config)})
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"error: not logged in: no {config}; run `sealbox up` or `sealbox login URL`"
    ]
