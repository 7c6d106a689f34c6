"""`sealbox audit [--secret NAME] [--session ID] [--since T] [--json]` and `sealbox audit verify`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sealbox.cli.output import fail, print_json, print_table, when
from sealbox.cli.secrets import client
from sealbox.cli.values import parse_since

if TYPE_CHECKING:
    from sealbox.config import ServerSettings
    from sealbox.protocol.audit_api import AuditRecord

app = typer.Typer(help="The audit trail: who did what to which secret.", invoke_without_command=True)


@app.callback()
def audit(
    ctx: typer.Context,
    secret: Annotated[str | None, typer.Option(help="NAME or OWNER/NAME")] = None,
    session: Annotated[str | None, typer.Option(help="a session id")] = None,
    since: Annotated[str | None, typer.Option(help="24h, 7d or an ISO 8601 time")] = None,
    limit: Annotated[int, typer.Option(help="at most this many records")] = 200,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Audit records, newest first: yours and your secrets' (admins: all)."""
    if ctx.invoked_subcommand is not None:
        return
    items: list[AuditRecord] = []
    cursor = None
    with client() as c:
        while len(items) < limit:
            page = c.audit(
                secret=secret,
                session=session,
                since=parse_since(since),
                cursor=cursor,
                limit=min(1000, limit - len(items)),
            )
            items.extend(page.items)
            cursor = page.next_cursor
            if not cursor:
                break
    if as_json:
        print_json(items)
        return
    print_table(
        ["WHEN", "WHO", "FOR", "ACTION", "OUTCOME", "SECRET", "V", "SESSION", "REQUEST"],
        [
            [
                when(r.at),
                r.actor or "-",
                r.on_behalf_of or "",
                r.action,
                r.outcome,
                r.secret or "",
                r.version or "",
                (r.session_id or "")[:12],
                r.request_id or "",
            ]
            for r in items
        ],
    )


@app.command("verify")
def verify(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="default: $SEALBOX_DATA_DIR")] = None,
) -> None:
    """Check the audit chain on this machine's database with its master key, up to the head checkpoint.

    An edited, deleted, reordered or rewritten record fails it, and so does a chain that ends before
    the record the checkpoint file (audit.head in the data dir) names. Gaps accepted with `sealbox
    admin audit reanchor` are listed.
    """
    from sealbox.cli.admin import open_database
    from sealbox.crypto.keyring import load_keyring
    from sealbox.store.audit_chain import verify_chain

    settings, db = open_database(data_dir, anchored=False)
    try:
        result = verify_chain(db, load_keyring(settings.resolved_master_key_path), data_dir=settings.data_dir)
    finally:
        db.dispose()
    if result.truncated:
        fail(
            f"the audit chain is broken at record {result.first_bad_id}: the head checkpoint names that "
            "record, and the chain does not reach it with that tag (records removed or rewritten; "
            "`sealbox admin audit reanchor` accepts a restored backup and records the gap)"
        )
    if not result.ok:
        fail(
            f"the audit chain is broken at record {result.first_bad_id} "
            f"(after {result.records - 1} good records)"
        )
    notes = []
    if result.legacy:
        notes.append(f"{result.legacy} records from before the chain was keyed (plain SHA-256)")
    if result.checkpoint is None:
        notes.append(f"no checkpoint in {settings.data_dir}: a removed tail cannot be detected here")
    else:
        notes.append(f"reaches the checkpoint at record {result.checkpoint.record_id}")
    if result.reanchors:
        notes.append(f"re-anchored {len(result.reanchors)} time(s), each a gap on the record (below)")
    typer.echo(f"audit chain ok: {result.records} records, head {result.head}; " + "; ".join(notes))
    for record_id, at, detail in result.reanchors:
        typer.echo(f"  gap recorded at record {record_id} ({at.isoformat(timespec='seconds')}): {detail}")


def refuse_a_lost_anchor(settings: ServerSettings) -> None:
    """Before the server's workers start: raise (one line) when the audit chain lost what the
    checkpoint names, or the database cannot be reached; migrate the schema on the way."""
    from sealbox.crypto.keyring import load_keyring
    from sealbox.store.audit_chain import install_audit_chain
    from sealbox.store.database import Database

    db = Database.open(settings.resolved_database_url)
    try:
        install_audit_chain(db, load_keyring(settings.resolved_master_key_path), data_dir=settings.data_dir)
    finally:
        db.dispose()
