"""`sealbox admin backup DIR` and `sealbox admin restore DIR --data-dir NEW --keeper-dir NEW_KEEPER`.

Both run on the server's machine, on its data dir and the keeper's key dir, like `sealbox admin user add`.
The backup is online (the server keeps serving) and writes two parts (`backup_parts.py`); both the backup
and the restore try the parts' keys on the rows themselves (`store/backup_check.py`) and refuse, naming
the part, when they do not open them.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sealbox import __version__
from sealbox.cli.backup_parts import (
    DATABASE,
    KEEPER_PRIVATE,
    SERVER_PRIVATE,
    Part,
    key_parts,
    make_private_dir,
    read_backup_part,
    read_part,
    require_empty,
    stamp,
)
from sealbox.cli.output import fail
from sealbox.config import ServerSettings, keeper_dir_for
from sealbox.errors import KEEPER_PART as KEEPER
from sealbox.errors import SERVER_PART as SERVER
from sealbox.errors import BackupRefused, ConfigError

if TYPE_CHECKING:
    from sealbox.store.backup_check import RowCheck

KeeperDir = Annotated[
    Path | None, typer.Option("--keeper-dir", help="the keeper's key directory; default <data-dir>-keeper")
]
KeeperPart = Annotated[
    Path | None,
    typer.Option(
        "--keeper-part", help="where the keeper part goes (backup) or is (restore); default DIR/keeper"
    ),
]


def backup(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="a new or empty directory")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="default: $SEALBOX_DATA_DIR or ~/.local/share/sealbox")
    ] = None,
    keeper_dir: KeeperDir = None,
    keeper_part: KeeperPart = None,
    keys_only: Annotated[
        bool, typer.Option("--keys-only", help="keys and audit checkpoint only (PostgreSQL: rows by pg_dump)")
    ] = False,
) -> None:
    """Back up the database (SQLite, online) and the key material, in two parts to keep apart:
    DIR/server (database copy and server keys) and DIR/keeper (the keeper's keys)."""
    from sealbox.store.audit_anchor import CHECKPOINT_NAME, read_text
    from sealbox.store.backup import carry_checkpoint, copy_sqlite, sqlite_copy_url
    from sealbox.store.backup_check import check_rows
    from sealbox.store.database import Database
    from sealbox.store.engine import sqlite_file

    settings = ServerSettings.from_env(data_dir=data_dir)
    kdir = keeper_dir or keeper_dir_for(settings.data_dir)
    live_file = sqlite_file(settings.resolved_database_url)
    if live_file is None and not keys_only:
        fail(
            "the database is not a SQLite file: back up its rows with pg_dump, and the keys with "
            "`sealbox admin backup DIR --keys-only` taken just before the dump (docs/operations.md)"
        )
    server_part, keeper_part_files = _read_live_parts(settings, kdir)
    server_dir, keeper_out = directory / SERVER, keeper_part or directory / KEEPER
    require_empty(directory, "the backup directory")
    require_empty(keeper_out, "the keeper part's directory")
    created = [p for p in (directory, keeper_out) if not p.exists()]
    keys = key_parts(server_part, keeper_part_files)
    try:
        make_private_dir(server_dir)
        make_private_dir(keeper_out)
        checkpoint_text = read_text(settings.data_dir / CHECKPOINT_NAME)  # before the copy: see store/backup
        if keys_only:
            db = Database.open(settings.resolved_database_url, run_migrations=False)
        else:
            assert live_file is not None
            copy_sqlite(live_file, server_dir / DATABASE)
            db = Database.open(sqlite_copy_url(server_dir / DATABASE), run_migrations=False)
        try:
            record = carry_checkpoint(db, keys.master, text=checkpoint_text, dest_dir=server_dir)
            with db.read() as conn:
                checked = check_rows(conn, keys)
        finally:
            db.dispose()
        if not keys_only:
            _back_to_one_file(server_dir / DATABASE)
        now = stamp(datetime.now(UTC))
        common = {"taken_at": now, "sealbox": __version__}
        database = "sqlite" if not keys_only else "not included (keys only)"
        manifest = {**common, "database": database, "audit_record": record}
        server_part.write(server_dir, manifest=manifest, all_private=True)  # a backup is private throughout
        keeper_part_files.write(keeper_out, manifest=common, all_private=True)
    except BaseException:
        _undo([directory, keeper_out], created)
        raise
    what = "server keys and audit checkpoint" if keys_only else "database copy and server keys"
    typer.echo(
        f"backed up to {directory}: {what} in {server_dir}, keeper keys in {keeper_out} (store the two "
        f"apart); {_opened(checked)}"
    )


def restore(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="a backup from `sealbox admin backup`")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="the new data directory (new or empty)")],
    keeper_dir: Annotated[Path, typer.Option("--keeper-dir", help="the new keeper directory (new or empty)")],
    keeper_part: KeeperPart = None,
) -> None:
    """Bring a backup into a new data dir and keeper dir, after trying its keys on its rows."""
    from sealbox.store.audit_anchor import CHECKPOINT_NAME
    from sealbox.store.backup import check_audit, copy_sqlite, sqlite_copy_url
    from sealbox.store.backup_check import check_rows
    from sealbox.store.database import Database

    require_empty(data_dir, "--data-dir")
    require_empty(keeper_dir, "--keeper-dir")
    if data_dir.resolve() == keeper_dir.resolve() or data_dir.resolve() in keeper_dir.resolve().parents:
        raise ConfigError("the keeper directory must not be inside the data directory")
    server_part, manifest = read_backup_part(directory / SERVER, SERVER)
    keeper_part_files, _ = read_backup_part(keeper_part or directory / KEEPER, KEEPER)
    keys = key_parts(server_part, keeper_part_files)
    settings = ServerSettings.from_env(data_dir=data_dir)
    backup_db = directory / SERVER / DATABASE
    if not backup_db.is_file() and settings.database_url is None:
        raise BackupRefused(
            SERVER,
            f"the server part holds no database ({manifest.get('database', 'keys only')}): restore the rows "
            "with pg_restore or psql first and set SEALBOX_DATABASE_URL to that database",
        )
    created = [p for p in (data_dir, keeper_dir) if not p.exists()]
    try:
        make_private_dir(data_dir)
        if backup_db.is_file():
            copy_sqlite(backup_db, data_dir / DATABASE)
            url = sqlite_copy_url(data_dir / DATABASE)
        else:
            url = settings.resolved_database_url
        checkpoint = directory / SERVER / CHECKPOINT_NAME
        if checkpoint.is_file():
            Part(SERVER, private={CHECKPOINT_NAME: checkpoint.read_text()}, public={}).write(data_dir)
        db = Database.open(url)
        try:
            with db.read() as conn:
                checked = check_rows(conn, keys)
            records = check_audit(db, keys.master, data_dir=data_dir)
        finally:
            db.dispose()
        server_part.write(data_dir)
        keeper_public = {"keeper.pub": keeper_part_files.public["keeper.pub"]}
        keeper_public["server.pub"] = server_part.public["signing.pub"]  # what the restored server signs with
        Part(KEEPER, private=keeper_part_files.private, public=keeper_public).write(keeper_dir)
    except BaseException:
        _undo([data_dir, keeper_dir], created)
        raise
    typer.echo(
        f"restored the backup of {manifest.get('taken_at', '?')} into {data_dir} and {keeper_dir}: "
        f"{_opened(checked)}, audit chain of {records} records verified; start it with "
        f"`sealbox up --data-dir {data_dir.absolute()} --keeper-dir {keeper_dir.absolute()}`"
    )


def _read_live_parts(settings: ServerSettings, kdir: Path) -> tuple[Part, Part]:
    """The server's and the keeper's key files where they live now."""
    signing = settings.resolved_signing_key_path
    server = read_part(
        SERVER,
        {
            "master.key": settings.resolved_master_key_path,
            "signing.key": signing,
            "signing.pub": signing.with_suffix(".pub"),
            "keeper.pub": settings.resolved_keeper_public_key_path,
        },
        SERVER_PRIVATE,
    )
    if not (kdir / "keeper.key").is_file():
        raise ConfigError(
            f"no keeper keys in {kdir}: give the keeper's key directory with --keeper-dir (run the backup "
            "where both the data dir and the keeper's key dir can be read)"
        )
    names = ("keeper.key", "wrap.key", "keeper.pub", "server.pub")
    keeper = read_part(KEEPER, {n: kdir / n for n in names}, KEEPER_PRIVATE)
    return server, keeper


def _back_to_one_file(path: Path) -> None:
    """The copy was opened through the engine (WAL): leave it one self-contained file again."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _undo(folders: list[Path], created: list[Path]) -> None:
    """A failed backup or refused restore leaves its targets as they were (they were new or empty):
    removed if it made them, else emptied."""
    for folder in folders:
        if folder in created:
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.is_dir():
            for entry in folder.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def _opened(checked: RowCheck) -> str:
    def count(n: int, noun: str) -> str:
        return f"{n} {noun}{'' if n == 1 else 's'}"

    return (
        f"its keys opened {count(checked.user_keys, 'user key')} and "
        f"{count(checked.versions, 'secret version')} tried (server and keeper parts each on their own)"
    )
