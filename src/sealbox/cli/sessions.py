"""`sealbox session ls|end`: live sessions and jobs that hold secrets."""

from __future__ import annotations

from typing import Annotated

import typer

from sealbox.cli.output import print_json, print_table, when
from sealbox.cli.secrets import client

app = typer.Typer(help="Your sessions and jobs, and the secrets each holds.", no_args_is_help=True)


@app.command("ls")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="include ended and expired sessions")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Live sessions (names and versions of their secrets, never values)."""
    with client() as c:
        items = c.list_sessions(include_over=all_)
    if as_json:
        print_json(items)
        return
    print_table(
        ["SESSION", "STATUS", "PROJECT", "CREATED", "MOUNT", "SECRETS"],
        [
            [
                s.id,
                s.status,
                s.project or "",
                when(s.created_at),
                s.mount_path,
                ", ".join(f"{x.owner}/{x.name}@{x.version}" for x in s.secrets),
            ]
            for s in items
        ],
    )


@app.command("end")
def end(session_id: str) -> None:
    """End a session: its credential can no longer be redeemed and it leaves the live list."""
    with client() as c:
        c.end_session(session_id)
    typer.echo(f"ended session {session_id}")
