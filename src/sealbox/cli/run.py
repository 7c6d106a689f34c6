"""`sealbox run`: run a command or job with chosen secrets as files and/or environment variables.

This Typer command declares the options and their help; cli/entry.py reads the same options without
Typer on the light path `sealbox run` normally takes, and both run the session with `run_session`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli.output import fail

AsFormat = Annotated[
    list[str] | None,
    typer.Option(
        "--as",
        metavar="FORMAT",
        help="write the --secret before it as its client reads it, and point the client there: aws, "
        "aws-process, gcp, pgpass, netrc, ssh, git, docker (docs/sessions.md)",
    ),
]


def _paired(secrets: list[str], formats: list[str]) -> list[tuple[int, str]]:
    """click keeps no order across options: each --as goes with the --secret of the same rank (the light
    path in cli/entry.py pairs each with the --secret just before it)."""
    if formats and len(formats) != len(secrets):
        fail("give --as after each --secret it applies to")
    return list(enumerate(formats))


def run(
    command: Annotated[list[str], typer.Argument(help="the command to run, after --")],
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            metavar="[OWNER/]NAME[.FIELD][:FILE]",
            help="a secret as a file: NAME (yours) or OWNER/NAME (shared with you); NAME.FIELD for one "
            "field of an aws or database secret; :FILE names the file. Repeatable",
        ),
    ] = None,
    as_format: AsFormat = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            metavar="VAR=[OWNER/]NAME[.FIELD]",
            help="a secret (or one field) as the variable VAR; names that change how programs run "
            "(PATH, PYTHON*, *_PROXY, ...) are refused. Repeatable",
        ),
    ] = None,
    mount_path: Annotated[
        str | None,
        typer.Option(
            metavar="DIR", help="an empty folder of yours for the files (default: a private one in memory)"
        ),
    ] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="swap in replaced values while running")] = False,
    secrets_from: Annotated[
        Path | None, typer.Option(metavar="FILE", help="a job's TOML/YAML spec of secrets")
    ] = None,
    project: Annotated[
        str | None, typer.Option(metavar="PROJECT", help="the project this session belongs to")
    ] = None,
    keeper_url: Annotated[
        str | None, typer.Option(metavar="URL", help="override the keeper address the server gives")
    ] = None,
    allow_expired: Annotated[
        bool,
        typer.Option(
            "--allow-expired", help="bring secrets past their expiry too (the audit record says so)"
        ),
    ] = False,
) -> None:
    """Run COMMAND with the chosen secrets: files in $SEALBOX_SECRETS_DIR (0400, in memory) and/or variables.

    Examples:

      sealbox run --secret db_password --env AWS_KEY=aws.secret_access_key -- python job.py

      sealbox run --secret alice/warehouse.password:pgpass --env API_TOKEN=alice/api -- ./etl.sh

      sealbox run --secret aws-prod --as aws --secret warehouse --as pgpass -- python job.py
    """
    from sealbox.cli.entry import RunArgs, run_session

    if not command:
        fail("give the command to run after --")
    args = RunArgs(
        command=command,
        secret=secret or [],
        env=env or [],
        mount_path=mount_path,
        refresh=refresh,
        secrets_from=secrets_from,
        project=project,
        keeper_url=keeper_url,
        allow_expired=allow_expired,
        formats=_paired(secret or [], as_format or []),
    )
    raise typer.Exit(run_session(args))
