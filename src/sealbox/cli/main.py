"""The `sealbox` command: `up`, `server`, `keeper`, `admin`, `login`, `token`, `secret`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli import admin, audit, kube, secrets, sessions, sharing, tokens
from sealbox.cli import run as run_command
from sealbox.cli.help import HelpfulGroup, VersionOption
from sealbox.cli.output import fail_from
from sealbox.errors import ConfigError, SealboxError

app = typer.Typer(
    help="sealbox: store credentials once, encrypted; bring the ones you choose into sessions and jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=HelpfulGroup,
)


@app.callback()
def root(version: bool = VersionOption) -> None:
    """sealbox: store credentials once, encrypted; bring the ones you choose into sessions and jobs."""


app.add_typer(secrets.app, name="secret")
app.add_typer(tokens.app, name="token")
app.add_typer(admin.app, name="admin")
app.add_typer(sharing.group_app, name="group")
app.add_typer(sharing.project_app, name="project")
app.add_typer(sessions.app, name="session")
app.add_typer(audit.app, name="audit")
app.add_typer(kube.app, name="kube")
secrets.app.command("share")(sharing.share)
secrets.app.command("unshare")(sharing.unshare)
secrets.app.command("grants")(sharing.grants)
app.command("login")(tokens.login)
app.command("run", context_settings={"allow_interspersed_args": False})(run_command.run)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="default: $SEALBOX_DATA_DIR or ~/.local/share/sealbox")
]


@app.command()
def up(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="address the server listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port the server listens on")] = 8480,
    keeper_dir: Annotated[
        Path | None, typer.Option(help="the keeper's key directory; default <data-dir>-keeper")
    ] = None,
) -> None:
    """Start sealbox on this machine (keeper + server); the first run creates keys, database and an admin."""
    from sealbox.cli.up import run_up

    try:
        run_up(data_dir=data_dir, host=host, port=port, keeper_dir=keeper_dir)
    except ConfigError as exc:
        fail_from(exc)


WORKERS_KILL_TIMEOUT_S = 10


@app.command()
def server(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="default: $SEALBOX_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default: $SEALBOX_PORT or 8480")] = None,
    workers: Annotated[
        int | None, typer.Option(help="server processes; default $SEALBOX_WORKERS or one per CPU (at most 8)")
    ] = None,
    keeper_url: Annotated[str | None, typer.Option(help="unix:///path.sock or http://host:port")] = None,
) -> None:
    """Run the API server (normally started by `sealbox up`)."""
    from granian import Granian
    from granian.constants import Interfaces

    from sealbox.cli.processes import install_keeper_public_key
    from sealbox.config import SERVER_MAIN_PID_VAR, ServerSettings
    from sealbox.server.logs import configure_logging
    from sealbox.services.keys import ensure_master_key, ensure_signing_key

    try:
        settings = ServerSettings.from_env(
            data_dir=data_dir, host=host, port=port, workers=workers, keeper_url=keeper_url
        )
    except ConfigError as exc:
        fail_from(exc)
    configure_logging(settings.log_level)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if settings.master_key_path is None:
            ensure_master_key(settings.resolved_master_key_path)
        if settings.signing_key_path is None:
            ensure_signing_key(settings.resolved_signing_key_path)
        install_keeper_public_key(
            keeper_url=settings.resolved_keeper_url,
            keeper_dir=None,
            target=settings.resolved_keeper_public_key_path,
        )
    except SealboxError as exc:
        fail_from(exc)
    # The worker processes build their own settings from the environment: hand them paths, never keys.
    os.environ["SEALBOX_DATA_DIR"] = str(settings.data_dir)
    os.environ["SEALBOX_KEEPER_URL"] = settings.resolved_keeper_url
    os.environ[SERVER_MAIN_PID_VAR] = str(os.getpid())  # a worker started after this process died exits
    Granian(
        "sealbox.server.app:app_from_env",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        log_access=False,
        log_level=settings.log_level.lower(),  # type: ignore[arg-type]
        backlog=2048,
        workers_kill_timeout=WORKERS_KILL_TIMEOUT_S,  # a worker that ignores SIGTERM must not hang a stop
    ).serve()


@app.command()
def keeper(
    dir: Annotated[
        Path | None, typer.Option("--dir", help="key directory; default ~/.local/share/sealbox-keeper")
    ] = None,
    listen: Annotated[
        str | None, typer.Option(help="unix:///path.sock (default: keeper.sock in --dir) or tcp://host:port")
    ] = None,
    server_key: Annotated[
        Path | None, typer.Option(help="the server's signing.pub (checks tickets); default <dir>/server.pub")
    ] = None,
) -> None:
    """Run the keeper (normally started by `sealbox up`)."""
    from sealbox.config import KeeperSettings
    from sealbox.keeper.process import serve
    from sealbox.server.logs import configure_logging

    try:
        settings = KeeperSettings.from_env(dir=dir, listen=listen, server_key_path=server_key)
    except ConfigError as exc:
        fail_from(exc)
    configure_logging(settings.log_level)
    try:
        serve(settings)
    except ConfigError as exc:
        fail_from(exc)


def main() -> None:
    os.umask(0o077)  # every file sealbox creates (database, keys, config) is private to its user
    app()
