"""The `sealbox` command: `up`, `server`, `keeper`, `admin`, `login`, `token`, `secret`, `import`, `scan`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from sealbox.cli import (
    admin,
    audit,
    kms,
    kube,
    openbao_import,
    rotate,
    secret_import,
    secrets,
    sessions,
    sharing,
    tokens,
)
from sealbox.cli import run as run_command
from sealbox.cli import scan as scan_command
from sealbox.cli.help import HelpfulGroup, VersionOption
from sealbox.cli.output import fail_from
from sealbox.errors import SealboxError


class RootGroup(HelpfulGroup):
    """The `sealbox` command, and the CLI's one error handler: whatever sealbox error a command lets
    through (a refusal from the server, a bad setting, an unsafe key file) ends it with one line on
    stderr, `error: ...` as `output.describe` words it, and exit code 1; never a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer's own Context
        try:
            return super().invoke(ctx)
        except SealboxError as exc:
            fail_from(exc)


app = typer.Typer(
    help="sealbox: store credentials once, encrypted; bring the ones you choose into sessions and jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=RootGroup,
)


@app.callback()
def root(version: bool = VersionOption) -> None:
    """sealbox: store credentials once, encrypted; bring the ones you choose into sessions and jobs."""


app.add_typer(secrets.app, name="secret")
app.add_typer(tokens.app, name="token")
app.add_typer(admin.app, name="admin")
admin.app.add_typer(rotate.app, name="rotate")
admin.app.add_typer(kms.app, name="kms")
app.add_typer(sharing.group_app, name="group")
app.add_typer(sharing.project_app, name="project")
app.add_typer(sessions.app, name="session")
app.add_typer(audit.app, name="audit")
app.add_typer(kube.app, name="kube")
app.add_typer(openbao_import.app, name="import")
secrets.app.command("share")(sharing.share)
secrets.app.command("unshare")(sharing.unshare)
secrets.app.command("grants")(sharing.grants)
secrets.app.command("import")(secret_import.import_env)
app.command("login")(tokens.login)
app.command("run", context_settings={"allow_interspersed_args": False})(run_command.run)
app.command("scan")(scan_command.scan)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="default: $SEALBOX_DATA_DIR or ~/.local/share/sealbox")
]


Workers = Annotated[
    int | None, typer.Option(help="server processes; default $SEALBOX_WORKERS or one per CPU (at most 8)")
]


LogFormat = Annotated[
    str | None,
    typer.Option(
        "--log-format", help="text or json (one JSON object a line); default $SEALBOX_LOG_FORMAT or text"
    ),
]


@app.command()
def up(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="address the server listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port the server listens on")] = 8480,
    keeper_dir: Annotated[
        Path | None, typer.Option(help="the keeper's key directory; default <data-dir>-keeper")
    ] = None,
    workers: Workers = None,
    log_format: LogFormat = None,
) -> None:
    """Start sealbox on this machine (keeper + server); the first run creates keys, database and an admin.

    It restarts the keeper or the server if one dies, and stops both on Ctrl-C (or SIGTERM).
    """
    from sealbox.cli.up import run_up

    run_up(
        data_dir=data_dir, host=host, port=port, keeper_dir=keeper_dir, workers=workers, log_format=log_format
    )


@app.command()
def server(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="default: $SEALBOX_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default: $SEALBOX_PORT or 8480")] = None,
    workers: Workers = None,
    keeper_url: Annotated[str | None, typer.Option(help="unix:///path.sock or http://host:port")] = None,
    log_format: LogFormat = None,
) -> None:
    """Run the API server (normally started by `sealbox up`)."""
    from sealbox.cli.serving import prepare, serve
    from sealbox.config import ServerSettings
    from sealbox.server.logs import configure_logging

    settings = ServerSettings.from_env(
        data_dir=data_dir, host=host, port=port, workers=workers, keeper_url=keeper_url, log_format=log_format
    )
    configure_logging(settings.log_level, settings.log_format)
    prepare(settings)
    audit.refuse_a_lost_anchor(settings)  # a rolled-back audit chain: refused at every start
    serve(settings)


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
    log_format: Annotated[
        str | None,
        typer.Option("--log-format", help="text or json; default $SEALBOX_KEEPER_LOG_FORMAT or text"),
    ] = None,
) -> None:
    """Run the keeper (normally started by `sealbox up`)."""
    from sealbox.config import KeeperSettings
    from sealbox.keeper.process import serve
    from sealbox.server.logs import configure_logging

    settings = KeeperSettings.from_env(
        dir=dir, listen=listen, server_key_path=server_key, log_format=log_format
    )
    configure_logging(settings.log_level, settings.log_format)
    serve(settings)


def main() -> None:
    os.umask(0o077)  # every file sealbox creates (database, keys, config) is private to its user
    from sealbox.openbao.transit import install

    install()  # key files wrapped by OpenBao Transit open through it (hvac loads only when one is met)
    app()
