"""`sealbox kube`: what runs inside session pods (`init`, `refresh`), deployment keys (`keygen`,
`stage-keys`); the session commands (`pod`, `sync`, `end`, `gc`) in kube_sessions, Kubeflow in kubeflow."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from sealbox.cli import kube_sessions
from sealbox.cli.kube_sessions import KeeperOpt
from sealbox.cli.kubeflow import kubeflow_app
from sealbox.cli.output import fail

app = typer.Typer(
    help="Kubernetes session pods and Kubeflow workspaces: values reach pods through an init container.",
    no_args_is_help=True,
)
app.add_typer(kubeflow_app, name="kubeflow")

ServerOpt = Annotated[str, typer.Option("--server", help="the sealbox server's URL, as the pod reaches it")]


@app.command("init")
def init(
    server: ServerOpt,
    credential_file: Annotated[Path, typer.Option(help="the session credential (a mounted Secret's file)")],
    target: Annotated[Path, typer.Option(help="the folder to create inside the emptyDir (medium: Memory)")],
    session_id_file: Annotated[
        Path | None, typer.Option(help="the session id's file; default: session-id beside the credential")
    ] = None,
    session_id: Annotated[
        str | None, typer.Option(help="the session id, instead of --session-id-file")
    ] = None,
    keeper_url: KeeperOpt = None,
    require_memory: Annotated[
        bool, typer.Option("--require-memory", help="refuse unless the folder is on a memory filesystem")
    ] = False,
    formats: Annotated[
        list[str] | None,
        typer.Option("--as", help="FILE=FORMAT: write that file's secret as its client reads it; repeatable"),
    ] = None,
) -> None:
    """The init container: redeem the session credential once into TARGET (folder 0700, files 0400)."""
    from sealbox.integrations.initcontainer import InitOptions, harden, init_folder, parse_formats

    harden()
    result = init_folder(
        InitOptions(
            server_url=server,
            credential_file=credential_file,
            target=target,
            session_id=session_id,
            session_id_file=session_id_file,
            keeper_url=keeper_url,
            require_memory=require_memory,
            formats=parse_formats(formats or []),
        )
    )
    typer.echo(f"sealbox: session {result.session_id}: {len(result.files)} file(s) in {target}", err=True)


@app.command("refresh")
def refresh(
    server: ServerOpt,
    token_file: Annotated[Path, typer.Option(help="a service account's token (a mounted Secret's file)")],
    on_behalf_of: Annotated[str, typer.Option(help="the user whose session this is")],
    target: Annotated[Path, typer.Option(help="the folder `sealbox kube init` wrote")],
    interval: Annotated[
        float, typer.Option(min=0.1, help="seconds between polls (each poll is a launch)")
    ] = 60.0,
    project: Annotated[str | None, typer.Option(help="the session's project, if any")] = None,
    keeper_url: KeeperOpt = None,
    once: Annotated[bool, typer.Option("--once", help="poll once and exit (0: swapped or current)")] = False,
) -> None:
    """The sidecar: swap in replaced values atomically, fetching as a service account for the user."""
    from sealbox.integrations.initcontainer import Refresher, RefreshOptions, harden

    harden()
    refresher = Refresher(
        RefreshOptions(
            server_url=server,
            token_file=token_file,
            on_behalf_of=on_behalf_of,
            target=target,
            keeper_url=keeper_url,
            project=project,
            interval=interval,
        )
    )
    if once:
        swapped = refresher.poll_once()
        typer.echo(f"sealbox: {'swapped' if swapped else 'current'}", err=True)
        return

    def stop(_signum: int, _frame: FrameType | None) -> None:
        refresher.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    refresher.run()


@app.command("stage-keys")
def stage_keys(
    source: Annotated[Path, typer.Argument(help="a mounted Secret's folder holding key files")],
    target: Annotated[Path, typer.Argument(help="a private folder (0700) to copy them into, 0600 each")],
) -> None:
    """Copy key files out of a Secret volume so the server's and keeper's key-file checks accept them."""
    from sealbox.integrations.initcontainer import stage_keys as stage

    names = stage(source, target)
    typer.echo(f"staged {len(names)} key file(s) in {target}", err=True)


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Argument(help="a new folder: server/ and keeper/ key files go inside")],
) -> None:
    """Create a deployment's keys: OUT/server (master.key, signing.key, keeper.pub) and OUT/keeper
    (keeper.key, wrap.key, server.pub), for `kubectl create secret generic --from-file`."""
    import shutil

    from sealbox.keeper.keys import ensure_key_dir
    from sealbox.private_files import write_private_file
    from sealbox.services.keys import ensure_master_key, ensure_signing_key

    try:
        os.mkdir(out, 0o700)
    except FileExistsError:
        fail(f"{out} exists; give a new folder (keys are never overwritten)")
    server_dir, keeper_dir, scratch = out / "server", out / "keeper", out / ".signing"
    for d in (server_dir, keeper_dir, scratch):
        os.mkdir(d, 0o700)
    ensure_key_dir(keeper_dir)
    ensure_master_key(server_dir / "master.key")
    ensure_signing_key(scratch / "signing.key")
    write_private_file(server_dir / "signing.key", (scratch / "signing.key").read_bytes(), overwrite=False)
    shutil.copyfile(scratch / "signing.pub", keeper_dir / "server.pub")
    shutil.copyfile(keeper_dir / "keeper.pub", server_dir / "keeper.pub")
    shutil.rmtree(scratch)
    typer.echo(f"keys in {out}/server and {out}/keeper; see deploy/README.md", err=True)


app.command("pod")(kube_sessions.pod)
app.command("sync")(kube_sessions.sync)
app.command("end")(kube_sessions.end)
app.command("gc")(kube_sessions.gc)
