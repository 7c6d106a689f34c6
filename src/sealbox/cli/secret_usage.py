"""`sealbox secret usage NAME` and `sealbox secret ls --stale 90d`: who used a secret, which version,
when and through which share; what nobody used. The commands are declared in cli/secrets.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from sealbox.cli.output import fail, print_json, print_table, when
from sealbox.domain.usage import parse_days
from sealbox.errors import BadRequest

if TYPE_CHECKING:
    from datetime import datetime

    from sealbox.sdk.client import Client


def _when(at: datetime | None) -> str:
    return when(at) if at is not None else "never"


def show_usage(c: Client, name: str, *, as_json: bool, limit: int) -> None:
    u = c.secret_usage(name, limit=limit)
    if as_json:
        print_json(u)
        return
    typer.echo(f"{u.ref} (version {u.current_version}, your access: {u.access})")
    typer.echo(f"last used: {_when(u.last_used_at)}; deliveries: {u.deliveries}")
    if not u.complete:
        typer.echo("(you see the uses of your own sessions only: that is what your level allows)")
    if u.live_sessions:
        typer.echo(f"held now by live sessions: {', '.join(u.live_sessions)}")
    if u.sessions:
        typer.echo("sessions and jobs that received it, newest first:")
        print_table(
            ["  SESSION", "USER", "VIA", "VERSION", "FIRST", "LAST", "TIMES", "STATE"],
            [
                [
                    f"  {s.session_id}",
                    s.user,
                    s.launched_by or "-",
                    s.version,
                    when(s.first_used_at),
                    when(s.last_used_at),
                    s.deliveries,
                    s.state + (f" (holds v{s.holds_version})" if s.holds_version is not None else ""),
                ]
                for s in u.sessions
            ],
        )
    else:
        typer.echo("no session has received it")
    if u.shares:
        typer.echo("shared with:")
        print_table(
            ["  WITH", "LEVEL", "SINCE", "LAST USED", "USED BY"],
            [
                [
                    f"  {g.grantee_type} {g.grantee}",
                    g.level,
                    when(g.created_at),
                    _when(g.last_used_at),
                    ", ".join(x.user for x in g.used_by) or "nobody",
                ]
                for g in u.shares
            ],
        )


def list_stale(c: Client, stale: str, *, as_json: bool) -> None:
    try:
        days = parse_days(stale)
    except BadRequest:
        fail("--stale is a number of days, such as 90d")
    report = c.stale_secrets(days=days)
    if as_json:
        print_json(report)
        return
    if report.secrets:
        print_table(
            ["NAME", "ACCESS", "KIND", "CREATED", "LAST USED"],
            [[s.ref, s.access, s.kind, when(s.created_at), _when(s.last_used_at)] for s in report.secrets],
        )
    else:
        typer.echo(f"no secret of yours went unused for {days} days")
    if report.unused_shares:
        typer.echo("shares never used:")
        print_table(
            ["  SECRET", "WITH", "LEVEL", "SINCE"],
            [
                [f"  {g.ref}", f"{g.grantee_type} {g.grantee}", g.level, when(g.created_at)]
                for g in report.unused_shares
            ],
        )
