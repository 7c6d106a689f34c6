"""`sealbox secret import FILE.env [--apply]`: each KEY=VALUE line a secret, through the API.

Without --apply it is a dry run: it reads the file and the names of your secrets, prints what would be
created, replaced or skipped, and changes nothing. Values go from the file into request bodies only:
never into output, argv or a log line (services/dotenv_import.py parses and plans).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli.output import fail, print_table
from sealbox.cli.values import parse_expiry
from sealbox.domain.kinds import Kind
from sealbox.services.dotenv_import import MAX_FILE_BYTES, Parsed, Step, mapped_note, parse_env, plan


def _read(path: Path) -> Parsed:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}")
    return parse_env(data)


def _print_plan(steps: list[Step], parsed: Parsed, *, applied: bool) -> None:
    for p in parsed.problems:
        typer.echo(f"line {p.line}: {p.message}", err=True)
    if not steps:
        typer.echo("nothing to import")
        return
    done = {"create": "created", "replace": "replaced", "skip": "skipped"}
    print_table(
        ["LINE", "ACTION", "NAME", "NOTE"],
        [
            [
                s.entry.line,
                done[s.action] if applied else s.action,
                s.entry.name,
                s.reason or mapped_note(s.entry),
            ]
            for s in steps
        ],
    )


def import_env(
    file: Annotated[Path, typer.Argument(metavar="FILE.env", help="a .env file: KEY=VALUE lines")],
    apply: Annotated[bool, typer.Option("--apply", help="store them (without it: a dry run)")] = False,
    expires: Annotated[
        str | None, typer.Option(help="an expiry for the secrets it creates: 30d, 12h or ISO 8601")
    ] = None,
) -> None:
    """Import a .env file, each KEY=VALUE a secret named KEY (mapped when KEY cannot be a secret name).

    Without --apply: a dry run that shows what would be created, replaced or skipped. Values are never
    printed; line numbers point at duplicate keys and lines that are not KEY=VALUE.
    """
    from sealbox.cli.secrets import client

    expires_at = parse_expiry(expires)
    parsed = _read(file)
    with client() as c:
        names = {e.name for e in parsed.entries}
        existing = {
            s.name: Kind(s.kind)
            for s in c.list_secrets()
            if s.access == "owner" and s.name in names and s.kind in {k.value for k in Kind}
        }
        steps = plan(parsed.entries, existing)
        if not apply:
            _print_plan(steps, parsed, applied=False)
            typer.echo("dry run: nothing was changed; give --apply to import")
            return
        for number, step in enumerate(steps):
            entry = step.entry
            try:
                if step.action == "create":
                    c.create_secret(
                        entry.name, value=entry.value, description=f"from {file.name}", expires_at=expires_at
                    )
                elif step.action == "replace":
                    c.replace_secret(entry.name, value=entry.value)
            except Exception:
                _print_plan(steps[:number], parsed, applied=True)
                typer.echo(
                    f"stopped at line {entry.line} ({entry.name}); the lines above were imported", err=True
                )
                raise
    _print_plan(steps, parsed, applied=True)
    made = sum(s.action != "skip" for s in steps)
    typer.echo(f"imported {made} of {len(steps)}; the values will not be shown again")
