"""`sealbox admin ...`: works on the data directory itself (database and master key), not over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sealbox.cli.output import fail, fail_from, print_table
from sealbox.config import ServerSettings
from sealbox.crypto.keyring import load_keyring
from sealbox.errors import ConfigError, ServiceError

if TYPE_CHECKING:
    from sealbox.store.database import Database

# The database layer is imported inside the commands: `sealbox run` and `sealbox secret` never load it.

app = typer.Typer(help="Administration on this machine's data directory.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
app.add_typer(user_app, name="user")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="default: $SEALBOX_DATA_DIR or ~/.local/share/sealbox")
]


def open_database(data_dir: Path | None) -> tuple[ServerSettings, Database]:
    from sealbox.store.database import Database

    try:
        settings = ServerSettings.from_env(data_dir=data_dir)
        if settings.database_url is None and not (settings.data_dir / "sealbox.db").exists():
            raise ConfigError(f"no sealbox database in {settings.data_dir}; run `sealbox up` first")
        db = Database.open(settings.resolved_database_url)
        if settings.resolved_master_key_path.exists():  # without it, changes fail closed (no record)
            from sealbox.services.audit import install_audit_chain

            install_audit_chain(
                db, load_keyring(settings.resolved_master_key_path), data_dir=settings.data_dir
            )
        return settings, db
    except ConfigError as exc:
        fail_from(exc)


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
    except (ServiceError, ConfigError) as exc:
        fail_from(exc)
    finally:
        db.dispose()
    typer.echo(f"added user {user.name}{' (admin)' if admin else ''}; their token, shown once:", err=True)
    typer.echo(issued.value)


@user_app.command("ls")
def list_users(data_dir: DataDir = None) -> None:
    """List users."""
    from sealbox.services import users

    _, db = open_database(data_dir)
    try:
        rows = users.list_users(db)
    finally:
        db.dispose()
    print_table(
        ["NAME", "ADMIN", "CREATED"],
        [[u.name, "yes" if u.is_admin else "", u.created_at.isoformat()[:19]] for u in rows],
    )


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
    except (ServiceError, ConfigError) as exc:
        fail_from(exc)
    finally:
        db.dispose()
    typer.echo(f"added service account {name}; its token, shown once:", err=True)
    typer.echo(issued.value)
