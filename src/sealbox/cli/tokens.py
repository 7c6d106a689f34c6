"""`sealbox login` and `sealbox token add|ls|revoke`."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from sealbox.cli import config_file
from sealbox.cli.output import describe, fail, print_json, print_table, when
from sealbox.cli.secrets import client
from sealbox.cli.values import parse_expiry
from sealbox.errors import ClientError
from sealbox.sdk.client import Client

app = typer.Typer(help="Your personal access tokens.", no_args_is_help=True)


def login(
    url: str,
    token: Annotated[
        str | None, typer.Option(help="the token; '-' reads it from stdin; omit to be asked")
    ] = None,
) -> None:
    """Save a server URL and token to the CLI config, after checking them."""
    if token is None:
        token = getpass.getpass("token (input hidden): ") if sys.stdin.isatty() else sys.stdin.readline()
    elif token == "-":  # noqa: S105 -- "-" means "read from stdin"  # nosec B105
        token = sys.stdin.readline()
    url, note = config_file.server_url(url)
    token = token.strip()
    if not token:
        fail("no token given")
    try:
        with Client(url, token) as c:
            me = c.me()
    except ClientError as exc:
        fail(_login_refused(exc) + (f" ({note})" if note else ""))
    path = config_file.save(config_file.CLIConfig(url=url, token=token))
    typer.echo(f"logged in to {url} as {me.name}; saved to {path}")
    if note:
        typer.echo(f"note: {note}", err=True)


def _login_refused(exc: ClientError) -> str:
    """What a failed `sealbox login` says: about the token typed in (the server says no more, for any
    refused token, so as to tell nobody which token ids exist)."""
    if exc.status_code == 401 and exc.code == "unauthenticated":
        return (
            "the server refused this token (unauthenticated): check that it was copied whole; it may have "
            "expired or been revoked, or its user disabled"
        )
    if exc.status_code == 429 and exc.code == "rate_limited":
        return (
            "the server refused this token, and too many attempts with bad tokens came from this address "
            "or named this token in the last minute (rate_limited); check the token, then try again"
        )
    return describe(exc)


@app.command("add")
def add(
    name: str,
    expires: Annotated[str | None, typer.Option(help="30d, 12h or an ISO 8601 time")] = None,
) -> None:
    """Issue a new token; it is printed once."""
    with client() as c:
        issued = c.create_token(name, expires_at=parse_expiry(expires))
    typer.echo(f"token {issued.id} ({issued.name}); shown once, store it now:", err=True)
    typer.echo(issued.token)


@app.command("ls")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List your tokens (never their values)."""
    with client() as c:
        items = c.list_tokens()
    if as_json:
        print_json(items)
        return
    print_table(
        ["ID", "NAME", "CREATED", "EXPIRES", "REVOKED"],
        [
            [
                t.id,
                t.name,
                when(t.created_at, "T"),
                when(t.expires_at, "T") if t.expires_at else "",
                when(t.revoked_at, "T") if t.revoked_at else "",
            ]
            for t in items
        ],
    )


@app.command("revoke")
def revoke(token_id: str) -> None:
    """Revoke one of your tokens; it stops working at once, and so do the web sessions signed in with it."""
    with client() as c:
        revoked = c.revoke_token(token_id)
    ended = revoked.web_sessions_ended
    typer.echo(f"revoked {token_id}; ended {ended} web session{'' if ended == 1 else 's'} signed in with it")
