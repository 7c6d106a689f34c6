"""`sealbox admin ...`: works on the data directory itself (database and master key), not over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sealbox.cli import backup as backup_commands
from sealbox.cli.output import fail, print_table
from sealbox.config import ServerSettings
from sealbox.crypto.keyring import load_keyring
from sealbox.errors import ConfigError, ServiceError

if TYPE_CHECKING:
    from sealbox.store.database import Database

# The database layer is imported inside the commands: `sealbox run` and `sealbox secret` never load it.

app = typer.Typer(help="Administration on this machine's data directory.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.command("backup")(backup_commands.backup)
app.command("restore")(backup_commands.restore)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="default: $SEALBOX_DATA_DIR or ~/.local/share/sealbox")
]


def open_database(data_dir: Path | None, *, anchored: bool = True) -> tuple[ServerSettings, Database]:
    """The data dir's settings and database, its audit chain keyed; `anchored=False`: without the
    checkpoint file (neither checked against the chain nor moved), for `audit verify` and `reanchor`."""
    from sealbox.store.database import Database

    settings = ServerSettings.from_env(data_dir=data_dir)
    if settings.database_url is None and not (settings.data_dir / "sealbox.db").exists():
        raise ConfigError(f"no sealbox database in {settings.data_dir}; run `sealbox up` first")
    db = Database.open(settings.resolved_database_url)
    if settings.resolved_master_key_path.exists():  # without it, changes fail closed (no record)
        from sealbox.services.keys import MasterKeyFile
        from sealbox.store.audit_chain import install_audit_chain

        try:
            install_audit_chain(
                db,
                MasterKeyFile(settings.resolved_master_key_path).current,  # a rotation's own records
                data_dir=settings.data_dir if anchored else None,
            )
        except (ConfigError, ServiceError):
            db.dispose()
            raise
    return settings, db


@user_app.command("add")
def add_user(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="make the user an admin")] = False,
    data_dir: DataDir = None,
) -> None:
    """Add a user and print their first token (shown once)."""
    from sealbox.services import tokens, users

    settings, db = open_database(data_dir)
    try:
        master = load_keyring(settings.resolved_master_key_path)
        now = datetime.now(UTC)
        user = users.create_user(db, master, name=name, is_admin=admin, now=now, requested_by=None)
        issued = tokens.issue(db, user, name="first token", expires_at=None, now=now, requested_by=None)
    finally:
        db.dispose()
    typer.echo(f"added user {user.name}{' (admin)' if admin else ''}; their token, shown once:", err=True)
    typer.echo(issued.value)


@user_app.command("ls")
def list_users(data_dir: DataDir = None) -> None:
    """List users (and service accounts), with when each was removed or disabled."""
    from sealbox.services import users

    _, db = open_database(data_dir)
    try:
        rows = users.list_users(db)
    finally:
        db.dispose()
    print_table(
        ["NAME", "ADMIN", "KIND", "CREATED", "REMOVED", "DISABLED"],
        [
            [
                u.name,
                "yes" if u.is_admin else "",
                u.kind,
                u.created_at.isoformat()[:19],
                u.removed_at.isoformat()[:19] if u.removed_at else "",
                u.disabled_at.isoformat()[:19] if u.disabled_at else "",
            ]
            for u in rows
        ],
    )


@user_app.command("disable")
def disable_user(name: str, data_dir: DataDir = None) -> None:
    """Disable a user at once: their tokens, web sessions and sign-ins stop working, their live
    sessions end. Their secrets and grants stay; `enable` undoes it."""
    from sealbox.services import users

    _, db = open_database(data_dir)
    try:
        done = users.disable_user(db, name, now=datetime.now(UTC), requested_by=None)
    finally:
        db.dispose()
    typer.echo(
        f"disabled {name}; ended {_count(done.web_sessions_ended, 'web session')} and "
        f"{_count(done.sessions_ended, 'session')}"
    )


@user_app.command("enable")
def enable_user(name: str, data_dir: DataDir = None) -> None:
    """Enable a disabled user again: their tokens that are neither revoked nor expired work again."""
    from sealbox.services import users

    _, db = open_database(data_dir)
    try:
        users.enable_user(db, name, now=datetime.now(UTC), requested_by=None)
    finally:
        db.dispose()
    typer.echo(f"enabled {name}")


@user_app.command("token")
def user_token(
    name: str,
    revoke_others: Annotated[
        bool,
        typer.Option("--revoke-others", help="also revoke the user's other tokens (and their web sessions)"),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Print a new first token for a user whose token is lost (shown once).

    Their other tokens stay valid unless --revoke-others: use it when the lost token may be in someone
    else's hands. Refused for a disabled or removed user."""
    from sealbox.services import user_lifecycle

    _, db = open_database(data_dir)
    try:
        done = user_lifecycle.new_first_token(
            db, name, revoke_others=revoke_others, now=datetime.now(UTC), requested_by=None
        )
    finally:
        db.dispose()
    revoked = f"; revoked {_count(done.tokens_revoked, 'other token')}" if revoke_others else ""
    typer.echo(f"new token for {name}{revoked}; shown once:", err=True)
    typer.echo(done.issued.value)


@user_app.command("remove")
def remove_user(
    name: str,
    transfer_to: Annotated[
        str | None, typer.Option("--transfer-to", help="give their secrets (with versions) to this user")
    ] = None,
    delete_secrets: Annotated[bool, typer.Option("--delete-secrets", help="delete their secrets")] = False,
    data_dir: DataDir = None,
) -> None:
    """Remove a user for good: their secrets go to --transfer-to OTHER or are deleted (--delete-secrets);
    their tokens, web sessions and live sessions end; grants to them and their group and project
    memberships are removed. The audit record keeps their name, which is never given to anyone else."""
    from sealbox.services import user_lifecycle

    if (transfer_to is None) == (not delete_secrets):
        fail("choose what happens to their secrets: --transfer-to OTHER or --delete-secrets (one of them)")
    settings, db = open_database(data_dir)
    try:
        done = user_lifecycle.remove_user(
            db,
            load_keyring(settings.resolved_master_key_path),
            name,
            transfer_to=transfer_to,
            delete_secrets=delete_secrets,
            now=datetime.now(UTC),
            requested_by=None,
        )
    finally:
        db.dispose()
    moved = (
        f"transferred {_count(done.secrets, 'secret')} to {transfer_to}"
        if transfer_to
        else (f"deleted {_count(done.secrets, 'secret')}")
    )
    typer.echo(
        f"removed {name}: {moved}; revoked {_count(done.tokens_revoked, 'token')} and "
        f"{_count(done.grants_revoked, 'grant')} to them; ended "
        f"{_count(done.web_sessions_ended, 'web session')} and {_count(done.sessions_ended, 'session')}; "
        f"left {_count(done.memberships_removed, 'membership')}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


service_app = typer.Typer(
    help="Service accounts (platform services that fetch secrets for users).", no_args_is_help=True
)
app.add_typer(service_app, name="service")


@service_app.command("add")
def add_service(
    name: str,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="a kind it may fetch; repeatable")] = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="a secret name it may fetch; repeatable")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Add a service account allowed to fetch the given kinds/names for users who may use them."""
    from sealbox.domain.principals import Purposes
    from sealbox.services import tokens, users

    if not kind and not secret:
        fail("give at least one --kind or --secret: a service account may fetch nothing else")
    settings, db = open_database(data_dir)
    try:
        master = load_keyring(settings.resolved_master_key_path)
        now = datetime.now(UTC)
        account = users.create_user(
            db,
            master,
            name=name,
            is_admin=False,
            now=now,
            requested_by=None,
            kind="service",
            purposes=Purposes(kinds=tuple(kind or ()), names=tuple(secret or ())),
        )
        issued = tokens.issue(db, account, name="service token", expires_at=None, now=now, requested_by=None)
    finally:
        db.dispose()
    typer.echo(f"added service account {name}; its token, shown once:", err=True)
    typer.echo(issued.value)


audit_app = typer.Typer(
    help="The audit chain's anchor (the checkpoint file audit.head).", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@audit_app.command("reanchor")
def reanchor(
    reason: Annotated[str, typer.Option("--reason", help="why: goes into the audit record")],
    data_dir: DataDir = None,
) -> None:
    """Accept an audit chain that lost what the checkpoint names (a restored backup), and record the gap.

    Until this runs, the server refuses to start on such a chain. It appends an `audit.reanchor`
    record naming the checkpoint's record and tag and the chain's newest record and tag, then points
    the checkpoint at that record. `sealbox audit verify` passes from there and lists the gap. Run it on
    each host whose data dir holds a checkpoint (each replica anchors in its own).
    """
    import getpass
    import socket

    from sealbox.store.audit_chain import reanchor as reanchor_chain

    if not reason.strip() or len(reason) > 500:
        fail("--reason: say why in 1-500 characters (it goes into the audit record)")
    settings, db = open_database(data_dir, anchored=False)
    try:
        done = reanchor_chain(
            db,
            load_keyring(settings.resolved_master_key_path),
            data_dir=settings.data_dir,
            reason=" ".join(reason.split()),
            operator=f"{getpass.getuser()}@{socket.gethostname()}",
            now=datetime.now(UTC),
        )
    finally:
        db.dispose()
    if done is None:
        typer.echo("nothing to re-anchor: the audit chain holds what its checkpoint names (or there is none)")
        return
    typer.echo(f"re-anchored at record {done.record_id}, which records the gap: {done.gap}")
