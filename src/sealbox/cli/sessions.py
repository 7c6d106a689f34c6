"""`sealbox session ls|end`: live sessions and jobs that hold secrets."""

from __future__ import annotations

from typing import Annotated

import typer

from sealbox.cli.output import print_json, print_table
from sealbox.cli.secrets import api

app = typer.Typer(help="Your sessions and jobs, and the secrets each holds.", no_args_is_help=True)


@app.command("ls")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="include ended and expired sessions")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Live sessions (names and versions of their secrets, never values)."""
    with api() as http:
        items = http.call("GET", "/api/v1/sessions", params={"all": str(all_).lower()})
    if as_json:
        print_json(items)
        return
    print_table(
        ["SESSION", "STATUS", "PROJECT", "CREATED", "MOUNT", "SECRETS"],
        [
            [
                s["id"],
                s["status"],
                s["project"] or "",
                s["created_at"][:19].replace("T", " "),
                s["mount_path"],
                ", ".join(f"{x['owner']}/{x['name']}@{x['version']}" for x in s["secrets"]),
            ]
            for s in items
        ],
    )


@app.command("end")
def end(session_id: str) -> None:
    """End a session: its credential can no longer be redeemed and it leaves the live list."""
    with api() as http:
        http.call("DELETE", f"/api/v1/sessions/{session_id}")
    typer.echo(f"ended session {session_id}")
