"""`sealbox run`: run a command or job with chosen secrets as files and/or environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli import config_file
from sealbox.cli.output import fail, fail_from
from sealbox.errors import ConfigError, SealboxError


def run(
    command: Annotated[list[str], typer.Argument(help="the command to run, after --")],
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="NAME or NAME:FILE; repeatable")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="VAR=NAME or VAR=NAME.FIELD; repeatable")
    ] = None,
    mount_path: Annotated[
        str | None, typer.Option(help="folder for the files (default: a private tmpfs folder)")
    ] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="swap in replaced values while running")] = False,
    secrets_from: Annotated[Path | None, typer.Option(help="a job's TOML/YAML spec of secrets")] = None,
    project: Annotated[str | None, typer.Option(help="the project this session belongs to")] = None,
    keeper_url: Annotated[
        str | None, typer.Option(help="override the keeper address the server gives")
    ] = None,
) -> None:
    """Run CMD with the chosen secrets: files in $SEALBOX_SECRETS_DIR (0400, in memory) and/or variables.

    Example: sealbox run --secret db_password --env AWS_KEY=aws.secret_access_key -- python job.py
    """
    from sealbox.launcher.run import RunOptions
    from sealbox.launcher.run import run as run_launch
    from sealbox.launcher.spec import combine, load_spec

    if not command:
        fail("give the command to run after --")
    try:
        cfg = config_file.load()
        spec = combine(
            load_spec(secrets_from) if secrets_from else None,
            secret or [],
            env or [],
            mount_path=mount_path,
            refresh=refresh,
            project=project,
        )
        code = run_launch(
            RunOptions(spec=spec, command=command, url=cfg.url, token=cfg.token, keeper_url=keeper_url)
        )
    except ConfigError as exc:
        fail(str(exc))
    except SealboxError as exc:
        fail_from(exc)
    raise typer.Exit(code)
