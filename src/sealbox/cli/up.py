"""`sealbox up`: first run creates keys, database and an admin; every run starts keeper and server."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import typer

from sealbox.cli import config_file
from sealbox.cli.dir_lock import DirLock
from sealbox.cli.port_check import check_port_free
from sealbox.cli.processes import (
    install_keeper_public_key,
    install_server_verify_key,
    keeper_ready,
    server_ready,
    stop,
)
from sealbox.cli.supervisor import Child, supervise
from sealbox.config import ServerSettings, keeper_dir_for
from sealbox.crypto.keyring import load_keyring
from sealbox.errors import ConfigError
from sealbox.services import tokens, users
from sealbox.services.keys import ensure_master_key, ensure_signing_key
from sealbox.store.audit_chain import install_audit_chain
from sealbox.store.database import Database

ADMIN_NAME = "admin"


def bootstrap(settings: ServerSettings) -> str | None:
    """Create the master key, the schema and the first admin; returns the admin token on first run only."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.data_dir, 0o700)
    ensure_master_key(settings.resolved_master_key_path)
    ensure_signing_key(settings.resolved_signing_key_path)
    db = Database.open(settings.resolved_database_url)
    try:
        if users.list_users(db):
            return None
        now = datetime.now(UTC)
        master = load_keyring(settings.resolved_master_key_path)
        install_audit_chain(db, master, data_dir=settings.data_dir)
        admin = users.create_user(db, master, name=ADMIN_NAME, is_admin=True, now=now, requested_by=None)
        return tokens.issue(db, admin, name="sealbox up", expires_at=None, now=now, requested_by=None).value
    finally:
        db.dispose()


def run_up(
    *,
    data_dir: Path | None,
    host: str,
    port: int,
    keeper_dir: Path | None,
    workers: int | None = None,
    log_format: str | None = None,
) -> None:
    settings = ServerSettings.from_env(
        data_dir=data_dir, host=host, port=port, workers=workers, log_format=log_format
    )
    # Absolute: the keeper's socket address (unix://PATH) must name the same file from every process.
    kdir = (keeper_dir or keeper_dir_for(settings.data_dir)).absolute()
    if kdir.resolve() == settings.data_dir.resolve() or settings.data_dir.resolve() in kdir.resolve().parents:
        raise ConfigError("the keeper directory must not be inside the server's data directory")
    keeper_url = f"unix://{kdir / 'keeper.sock'}"
    url = f"http://{host}:{port}"

    # Refuse before starting anything: a free port, one `up` per data dir and per keeper dir.
    check_port_free(host, port)
    locks = [DirLock(settings.data_dir, what="the data directory")]
    try:
        locks.append(DirLock(kdir, what="the keeper directory"))
        _run(settings, kdir=kdir, keeper_url=keeper_url, url=url)
    finally:
        for lock in locks:
            lock.release()


def _run(settings: ServerSettings, *, kdir: Path, keeper_url: str, url: str) -> None:
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def keeper_key_unchanged() -> None:
        # A keeper that came back with other keys (its directory replaced) could open nothing stored so far.
        install_keeper_public_key(
            keeper_url=keeper_url, keeper_dir=kdir, target=settings.resolved_keeper_public_key_path
        )

    keeper = Child(
        what="keeper",
        args=[
            "keeper",
            "--dir",
            str(kdir),
            "--listen",
            keeper_url,
            "--log-format",
            settings.log_format.lower(),
        ],
        ready=lambda: keeper_ready(keeper_url),
        on_ready=keeper_key_unchanged,
    )
    server_args = ["server", "--data-dir", str(settings.data_dir), "--host", settings.host]
    server_args += ["--port", str(settings.port), "--keeper-url", keeper_url]
    server_args += ["--workers", str(settings.workers), "--log-format", settings.log_format.lower()]
    server = Child(what="server", args=server_args, ready=lambda: server_ready(url))
    try:
        keeper.start()
        if not keeper.wait_ready(timeout=30, stopping=lambda: stopping):
            return
        token = bootstrap(settings)
        verify_key = settings.resolved_signing_key_path.with_suffix(".pub")
        install_server_verify_key(source=verify_key, keeper_dir=kdir)
        server.start()
        if not server.wait_ready(timeout=60, stopping=lambda: stopping):
            return
        if token is not None:
            path = config_file.save(config_file.CLIConfig(url=url, token=token))
            typer.echo(f"first run: created user '{ADMIN_NAME}'. Its token, shown this once:")
            typer.echo(f"  {token}")
            typer.echo(f"saved to {path}, so the sealbox CLI works now.")
        typer.echo(f"sealbox is up at {url}  (API {url}/api/v1, docs {url}/docs); Ctrl-C stops it")
        supervise([server, keeper], stopping=lambda: stopping)
        typer.echo("stopping sealbox")
    finally:
        stop([c.proc for c in (server, keeper) if c.proc is not None])
