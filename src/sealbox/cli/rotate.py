"""`sealbox admin rotate ...`: online key rotation, run on the server's machine (its data dir and keys).

The re-wrap runs in this command against the database while the server keeps serving; the design
(why no worker writes under the old key once the re-wrap passed) is in `services/rotation.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sealbox.cli.admin import DataDir, open_database
from sealbox.cli.output import fail
from sealbox.errors import ConfigError, DecryptionError, ServiceError

if TYPE_CHECKING:
    from sealbox.config import ServerSettings
    from sealbox.store.database import Database

app = typer.Typer(
    help="Rotate keys online: a new key at once, then a resumable re-wrap.", no_args_is_help=True
)


@contextmanager
def _on_the_database(data_dir: Path | None) -> Iterator[tuple[ServerSettings, Database]]:
    """The data dir's settings and database for one rotation command; any failure is one `error:` line."""
    try:
        settings, db = open_database(data_dir)
    except (ConfigError, ServiceError) as exc:
        fail(_said(exc))
    try:
        yield settings, db
    except (ConfigError, ServiceError, OSError) as exc:
        fail(_said(exc))
    except DecryptionError:
        fail("a key cannot be opened with this master keyring (a key missing from the file?)")
    finally:
        db.dispose()


def _said(exc: Exception) -> str:
    return exc.message if isinstance(exc, ServiceError) else str(exc)


def _progress(left: int) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{left} rows left   ")
    else:
        sys.stderr.write(f"{left} rows left\n")
    sys.stderr.flush()


@app.command("master-key")
def master_key(
    retire: Annotated[
        bool,
        typer.Option("--retire", help="remove the old master keys (refused while a row still uses one)"),
    ] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="rows per transaction")] = 200,
    data_dir: DataDir = None,
) -> None:
    """Make a new master key current and re-wrap every user key under it (or resume an unfinished re-wrap).

    Kill it at any moment and run it again: it continues. With --retire: only remove the old keys.
    """
    from sealbox.services import rotation
    from sealbox.store.rotation import DatabaseRotationRows

    with _on_the_database(data_dir) as (settings, db):
        rows, path = DatabaseRotationRows(db), settings.resolved_master_key_path
        if retire:
            gone = rotation.retire_master_keys(rows, path).retired
            typer.echo(
                f"retired {len(gone)} master key(s): {', '.join(gone)}"
                if gone
                else "nothing to retire: the master keyring holds only its current key"
            )
            return
        done = rotation.rotate_master_key(rows, path, progress=_progress, limit=batch)
    what = "made master key" if done.new_key else "resumed: master key"
    typer.echo(f"{what} {done.current_id} current and re-wrapped {done.moved} user key(s); 0 rows left")


@app.command("user-keys")
def user_keys(
    user: Annotated[
        str | None, typer.Option("--user", help="only this user's key (default: everyone's)")
    ] = None,
    retire: Annotated[
        bool,
        typer.Option("--retire", help="remove the previous user keys (refused while a data key uses one)"),
    ] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="rows per transaction")] = 200,
    data_dir: DataDir = None,
) -> None:
    """Give every user (or --user) a new key and re-wrap their data keys under it (or resume that).

    Kill it at any moment and run it again: it continues. With --retire: only remove the previous keys.
    """
    from sealbox.services import user_key_rotation as rotation
    from sealbox.store.rotation import DatabaseRotationRows

    with _on_the_database(data_dir) as (settings, db):
        rows, path = DatabaseRotationRows(db), settings.resolved_master_key_path
        if retire:
            removed = rotation.retire_user_keys(rows, user=user)
            typer.echo(f"retired {removed} previous user key(s)" + (f" of {user}" if user else ""))
            return
        done = rotation.rotate_user_keys(rows, path, user=user, progress=_progress, limit=batch)
    typer.echo(f"gave {done.swapped} user(s) a new key and re-wrapped {done.moved} data key(s); 0 rows left")


@app.command("keeper-key")
def keeper_key(
    retire: Annotated[
        bool,
        typer.Option("--retire", help="remove the keeper's old keys (refused while a row still uses one)"),
    ] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, max=1000, help="rows per transaction")] = 200,
    data_dir: DataDir = None,
) -> None:
    """Give the keeper a new key pair and wrap key, then have it re-wrap every outer layer (or resume that).

    Runs on the server's machine: it signs its requests to the keeper with the server's signing key.
    Kill it at any moment and run it again: it continues. With --retire: only remove the old keys.
    """
    from sealbox.keeper.client import KeeperClient
    from sealbox.services import keeper_key_rotation as rotation
    from sealbox.services.keys import load_signing_key
    from sealbox.store.keeper_rotation import DatabaseKeeperKeyRows

    with (
        _on_the_database(data_dir) as (settings, db),
        closing(KeeperClient(settings.resolved_keeper_url)) as keeper,
    ):
        server = rotation.Server(
            signing=load_signing_key(settings.resolved_signing_key_path),
            keeper_pub=settings.resolved_keeper_public_key_path,
        )
        rows = DatabaseKeeperKeyRows(db)
        if retire:
            gone = rotation.retire_keeper_keys(rows, keeper, server).retired
            typer.echo(
                f"retired {len(gone)} keeper key(s): {', '.join(gone)}"
                if gone
                else "nothing to retire: the keeper holds only its current key"
            )
            return
        done = rotation.rotate_keeper_key(rows, keeper, server, progress=_progress, limit=batch)
    what = "made keeper key" if done.new_key else "resumed: keeper key"
    typer.echo(f"{what} {done.key_id} current and re-wrapped {done.moved} outer layer(s); 0 rows left")


@app.command("audit-key")
def audit_key(
    retire: Annotated[
        bool,
        typer.Option(
            "--retire", help="remove old audit keys that tag no record (refused while a record names one)"
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Make a new audit-chain key current: every server tags its next audit record with it.

    Old records keep the key they name and verify under it. With --retire: remove the old audit keys
    no record names (an audit key is kept while a record it tagged is).
    """
    from sealbox.services import audit_key_rotation as rotation
    from sealbox.store.audit_anchor import CHECKPOINT_NAME
    from sealbox.store.rotation import DatabaseRotationRows

    with _on_the_database(data_dir) as (settings, db):
        rows = DatabaseRotationRows(db, checkpoint=settings.data_dir / CHECKPOINT_NAME)
        path = settings.resolved_master_key_path
        if retire:
            gone = rotation.retire_audit_keys(rows, path)
            typer.echo(
                f"retired {len(gone)} audit key(s): {', '.join(gone)}"
                if gone
                else "nothing to retire: no old audit key was made with `sealbox admin rotate audit-key`"
            )
            return
        done = rotation.rotate_audit_key(rows, path)
    typer.echo(
        f"made audit key {done.current_id} current (was {done.previous_id}); records keep the key "
        "they name, and every server tags its next record with the new one"
    )
