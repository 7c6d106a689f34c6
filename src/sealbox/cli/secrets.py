"""`sealbox secret ...`: add, replace, update, rm, restore, ls, show, usage. No command prints a value."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli import config_file
from sealbox.cli.output import fail, print_json, print_table, when
from sealbox.cli.secret_usage import list_stale, show_usage
from sealbox.cli.values import parse_expiry, read_value
from sealbox.domain.kinds import Kind
from sealbox.errors import ConflictAnswer
from sealbox.sdk.client import Client

app = typer.Typer(
    help="Store secrets and read their metadata (values never come back).", no_args_is_help=True
)

FromFile = Annotated[Path | None, typer.Option("--from-file", help="read the value from this file")]
Fields = Annotated[
    list[str] | None, typer.Option("--field", help="KEY=VALUE (or KEY to be asked), repeatable")
]
AsJSON = Annotated[bool, typer.Option("--json", help="print JSON")]
KINDS = ", ".join(k.value for k in Kind)


def client() -> Client:
    """A client for the saved server and login (a missing or unsafe config file is a `ConfigError`)."""
    cfg = config_file.load()
    return Client(cfg.url, cfg.token)


@app.command("add")
def add(
    name: str,
    kind: Annotated[str, typer.Option(metavar="KIND", help=f"one of {KINDS}")] = "generic",
    description: Annotated[str, typer.Option(help="what this secret is for")] = "",
    expires: Annotated[str | None, typer.Option(help="30d, 12h or an ISO 8601 time")] = None,
    from_file: FromFile = None,
    field: Fields = None,
    project: Annotated[str | None, typer.Option(help="only this project's sessions may use it")] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="a resource pattern, e.g. s3://bucket/*")
    ] = None,
) -> None:
    """Store a new secret. The value comes from a hidden prompt, stdin, --from-file or --field."""
    if kind not in {k.value for k in Kind}:
        fail(f"--kind is one of {KINDS}")  # before asking for a value that could not be stored
    expires_at = parse_expiry(expires)
    value = read_value(from_file=from_file, field_args=field or [], prompt_name=name)
    with client() as c:
        result = c.create_secret(
            name,
            kind=kind,
            value=value.value,
            value_base64=value.value_base64,
            fields=value.fields,
            description=description,
            expires_at=expires_at,
            project=project,
            scopes=scope or [],
        )
    typer.echo(f"stored {result.name} (version {result.current_version}); the value will not be shown again")


@app.command("replace")
def replace(
    name: str,
    from_file: FromFile = None,
    field: Fields = None,
    if_version: Annotated[
        int | None, typer.Option(help="refuse if the current version is not this one")
    ] = None,
) -> None:
    """Store a new value (a new version) for an existing secret."""
    value = read_value(from_file=from_file, field_args=field or [], prompt_name=name)
    with client() as c:
        result = c.replace_secret(
            name,
            value=value.value,
            value_base64=value.value_base64,
            fields=value.fields,
            if_version=if_version,
        )
    typer.echo(f"replaced {result.name}: now version {result.current_version}")
    if result.sessions:
        held = ", ".join(f"{s.id} ({s.owner})" for s in result.sessions)
        typer.echo(
            f"warning: live sessions still hold the version before: {held}; they get the new one at their"
            " next refresh, or end them (`sealbox session end ID`)",
            err=True,
        )


@app.command("update")
def update(
    name: str,
    description: Annotated[str | None, typer.Option(help="a new description")] = None,
    expires: Annotated[str | None, typer.Option(help="a new expiry: 30d, 12h or ISO 8601")] = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="remove the expiry")] = False,
) -> None:
    """Change a secret's description or expiry (not its value)."""
    expires_at = parse_expiry(expires) if expires is not None else None
    if no_expiry and expires is not None:
        fail("give --expires or --no-expiry, not both")
    if description is None and expires is None and not no_expiry:
        fail("nothing to change: give --description, --expires or --no-expiry")
    with client() as c:
        c.update_secret(name, description=description, expires_at=expires_at, clear_expiry=no_expiry)
    typer.echo(f"updated {name}")


@app.command("rm")
def remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    purge: Annotated[
        bool, typer.Option("--purge", help="remove it for good at once (also one already deleted)")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="delete it although live sessions hold it")] = False,
) -> None:
    """Delete a secret: restorable (`secret restore`) until its recovery window ends; --purge: for good."""
    if not yes:
        if not sys.stdin.isatty():
            fail(f"not deleting {name}: there is no terminal to confirm on; give --yes to go ahead")
        question = f"remove {name} for good, with its versions and grants?" if purge else f"delete {name}?"
        if not typer.confirm(question, default=False):
            fail(f"not deleting {name}")
    with client() as c:
        try:
            c.delete_secret(name, purge=purge, force=force)
        except ConflictAnswer as exc:
            if exc.code != "secret_in_use":
                raise
            held = ", ".join(f"{s.id} ({s.owner})" for s in c.get_secret_metadata(name).sessions or [])
            fail(
                f"not deleting {name}: live sessions hold it (secret_in_use): {held}; end them"
                " (`sealbox session end ID`) or give --force"
            )
    if purge:
        typer.echo(f"removed {name} for good")
    else:
        typer.echo(
            f"deleted {name}: `sealbox secret restore {name}` brings it back until its recovery window ends"
            " (`sealbox secret ls --deleted` says when)"
        )


@app.command("restore")
def restore(name: str) -> None:
    """Bring a deleted secret back from its recovery window, with its versions and grants."""
    with client() as c:
        restored = c.restore_secret(name)
    typer.echo(f"restored {restored.ref if restored.access != 'owner' else restored.name}")


def _list_deleted(as_json: bool) -> None:
    with client() as c:
        items = c.deleted_secrets()
    if as_json:
        print_json(items)
        return
    if not items:
        typer.echo("no deleted secrets in their recovery window")
        return
    print_table(
        ["NAME", "KIND", "DELETED", "BY", "REMOVED FOR GOOD"],
        [
            [
                s.name if s.access == "owner" else s.ref,
                s.kind,
                when(s.deleted_at),
                s.deleted_by,
                when(s.purge_at),
            ]
            for s in items
        ],
    )


@app.command("ls")
def list_(
    as_json: AsJSON = False,
    prefix: Annotated[str | None, typer.Option(help="only names starting with this")] = None,
    deleted: Annotated[
        bool, typer.Option("--deleted", help="the deleted ones in their recovery window, and until when")
    ] = False,
    expiring: Annotated[
        bool, typer.Option("--expiring", help="only those expired or expiring within 30 days (or --within)")
    ] = False,
    within: Annotated[
        str | None, typer.Option(metavar="DURATION", help="with --expiring: 7d, 12h, 2w (default 30d)")
    ] = None,
    stale: Annotated[
        str | None,
        typer.Option(
            metavar="DAYS", help="those you own or manage that nobody used in 90d (and unused shares)"
        ),
    ] = None,
) -> None:
    """List your secrets (metadata only)."""
    if deleted:
        _list_deleted(as_json)
        return
    if stale is not None:
        with client() as c:
            list_stale(c, stale, as_json=as_json)
        return
    if within is not None and not expiring:
        fail("--within goes with --expiring")
    with client() as c:
        items = c.list_secrets(prefix=prefix)
    if expiring:
        until = _parse_time(parse_expiry(within or "30d", what="--within"))
        items = [s for s in items if s.expires_at and _utc(s.expires_at) <= until]
        if not items and not as_json:
            typer.echo(f"no secrets expire before {until:%Y-%m-%d %H:%M} UTC")
            return
    if as_json:
        print_json(items)
        return
    if not items:
        typer.echo("no secrets yet: add one with `sealbox secret add NAME`")
        return
    print_table(
        ["NAME", "ACCESS", "KIND", "VERSION", "UPDATED", "EXPIRES", "DESCRIPTION"],
        [
            [
                s.name if s.access == "owner" else s.ref,
                s.access,
                s.kind,
                s.current_version,
                when(s.updated_at),
                _expiry(s.expires_at),
                s.description[:40],
            ]
            for s in items
        ],
    )


@app.command("usage")
def usage(
    name: str,
    as_json: AsJSON = False,
    limit: Annotated[int, typer.Option(help="sessions listed, newest use first (1-500)")] = 100,
) -> None:
    """Who used a secret: sessions and jobs, the version each received and when, and through which share."""
    with client() as c:
        show_usage(c, name, as_json=as_json, limit=limit)


@app.command("show")
def show(name: str, as_json: AsJSON = False) -> None:
    """Show a secret's metadata and versions (never the value)."""
    with client() as c:
        s = c.get_secret_metadata(name)
    if as_json:
        print_json(s)
        return
    for label, shown in (
        ("name", s.name),
        ("owner", s.owner),
        ("kind", s.kind),
        ("description", s.description),
        ("version", s.current_version),
        ("created", _iso(s.created_at)),
        ("created by", s.created_by),
        ("updated", _iso(s.updated_at)),
        ("updated by", s.updated_by),
    ):
        typer.echo(f"{label + ':':13} {shown}")
    typer.echo(f"{'expires:':13} {_expiry(s.expires_at) or '-'}")
    if s.fields:
        typer.echo(f"{'fields:':13} {', '.join(s.fields)}")
    typer.echo("versions:")
    print_table(
        ["  VERSION", "CREATED", "BY", "BYTES"],
        [[f"  {v.version}", when(v.created_at), v.created_by, v.size] for v in s.versions or []],
    )
    live = s.sessions or []
    if not live:
        typer.echo("live sessions: none")
        return
    typer.echo("live sessions that mount it (`sealbox session end ID` ends one):")
    print_table(
        ["  SESSION", "OWNER", "SINCE", "UNTIL"],
        [[f"  {x.id}", x.owner, when(x.created_at), when(x.expires_at)] for x in live],
    )


def _expiry(expires_at: datetime | None) -> str:
    """The expiry as the tables show it, marked when it has passed (such a secret is not delivered)."""
    if expires_at is None:
        return ""
    shown = when(expires_at)
    return f"{shown} (expired)" if _utc(expires_at) <= datetime.now(UTC) else shown


def _iso(at: datetime) -> str:
    """A time as the API wrote it (RFC 3339, `Z` for UTC): msgspec's text, as the server's."""
    import msgspec  # loaded already: the client decoded the answer with it

    text: str = msgspec.to_builtins(at)
    return text


def _utc(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def _parse_time(text: str | None) -> datetime:
    return _utc(datetime.fromisoformat((text or "").replace("Z", "+00:00")))
