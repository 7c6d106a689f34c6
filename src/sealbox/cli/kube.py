"""`sealbox kube`: Kubernetes session pods (init container, refresh sidecar), sync, key staging, Kubeflow."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from sealbox.cli.kubeflow import kubeflow_app
from sealbox.cli.output import fail
from sealbox.errors import SealboxError

app = typer.Typer(
    help="Kubernetes session pods and Kubeflow workspaces: values reach pods through an init container.",
    no_args_is_help=True,
)
app.add_typer(kubeflow_app, name="kubeflow")

ServerOpt = Annotated[str, typer.Option("--server", help="the sealbox server's URL, as the pod reaches it")]
KeeperOpt = Annotated[
    str | None, typer.Option("--keeper-url", help="override the keeper address the server gives")
]


def _dump(docs: list[dict[str, Any]], fmt: str) -> str:
    import yaml

    if fmt == "json":
        return json.dumps(docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs})
    return (
        yaml.safe_dump_all(docs, sort_keys=False)
        if len(docs) > 1
        else yaml.safe_dump(docs[0], sort_keys=False)
    )


def _write_private(path: Path | None, text: str) -> None:
    """To stdout, or to a new 0600 file (it may hold a credential or values)."""
    if path is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


@app.command("init")
def init(
    server: ServerOpt,
    credential_file: Annotated[Path, typer.Option(help="the launch credential (a mounted Secret's file)")],
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
) -> None:
    """The init container: redeem the launch credential once into TARGET (folder 0700, files 0400)."""
    from sealbox.integrations.initcontainer import InitOptions, harden, init_folder

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
    os.replace(scratch / "signing.key", server_dir / "signing.key")
    shutil.copyfile(scratch / "signing.pub", keeper_dir / "server.pub")
    shutil.copyfile(keeper_dir / "keeper.pub", server_dir / "keeper.pub")
    shutil.rmtree(scratch)
    typer.echo(f"keys in {out}/server and {out}/keeper; see deploy/README.md", err=True)


def _session_body(
    secrets: list[str],
    mount_path: str,
    project: str | None,
    ttl: int | None,
    credential_ttl: int | None = None,
) -> dict[str, Any]:
    """`--secret NAME`, `NAME:FILE`, `NAME.FIELD` as `sealbox run` reads them; files only (no env in pods)."""
    from sealbox.launcher.spec import parse_secret_option

    mappings = [parse_secret_option(option) for option in secrets]
    body: dict[str, Any] = {
        "secrets": [{"name": m.secret, "field": m.field, "file": m.file} for m in mappings],
        "mount_path": mount_path,
        "project": project,
    }
    if ttl is not None:
        body["ttl_seconds"] = ttl
    if credential_ttl is not None:
        body["credential_ttl_seconds"] = credential_ttl
    return body


def _sealbox_http(*, signed_in: bool = True) -> Any:
    """An httpx client for the saved server, with the saved login unless `signed_in` is False."""
    import httpx

    from sealbox.cli import config_file
    from sealbox.sdk.client import tls_verification

    cfg = config_file.load()
    headers = {"Authorization": f"Bearer {cfg.token}"} if signed_in else {}
    return httpx.Client(
        base_url=cfg.url.rstrip("/"), timeout=30, headers=headers, verify=tls_verification(cfg.url)
    )


def _api(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One call to the sealbox API with the saved login; a refusal ends the command with its message."""
    with _sealbox_http() as http:
        response = http.request(method, path, json=body)
    if response.status_code >= 400:
        error = response.json()
        fail(f"{error.get('message')} ({error.get('code')})")
    result: dict[str, Any] = response.json()
    return result


def _kube_api(kubeconfig: str | None, context: str | None) -> Any:
    from sealbox.integrations.kubeapply import KubeApplier, core_api

    return KubeApplier(core_api(kubeconfig=kubeconfig, context=context))


ApplyOpt = Annotated[
    bool,
    typer.Option("--apply", help="create the objects through the Kubernetes API instead of printing them"),
]
KubeconfigOpt = Annotated[
    str | None, typer.Option(help="kubeconfig for --apply; default: KUBECONFIG, ~/.kube/config, in-cluster")
]
ContextOpt = Annotated[str | None, typer.Option(help="the kubeconfig context for --apply")]


@app.command("pod")
def pod(
    file: Annotated[Path, typer.Option("--file", "-f", help="a Pod's YAML/JSON ('-' for stdin)")],
    secret: Annotated[list[str], typer.Option("--secret", help="NAME or NAME:FILE; repeatable")],
    credential_secret: Annotated[str, typer.Option(help="name of the short-lived credential Secret")],
    server_url: Annotated[
        str | None, typer.Option(help="the server's URL as the pod reaches it; default: yours")
    ] = None,
    keeper_url: KeeperOpt = None,
    namespace: Annotated[str | None, typer.Option(help="the namespace of the Pod and Secret")] = None,
    mount_path: Annotated[str, typer.Option(help="where the app containers see the files")] = "/secrets",
    image: Annotated[str | None, typer.Option(help="the sealbox image for the init container")] = None,
    run_as_user: Annotated[
        int | None, typer.Option(help="the app containers' uid, if the Pod does not say")
    ] = None,
    fs_group: Annotated[int | None, typer.Option(help="the pod's fsGroup, if the Pod does not say")] = None,
    project: Annotated[str | None, typer.Option(help="the session's project")] = None,
    ttl: Annotated[int | None, typer.Option(help="the session's lifetime in seconds")] = None,
    credential_ttl: Annotated[
        int | None,
        typer.Option(help="the launch credential's lifetime, 60-900 s (default 60): for slow pod starts"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="write to this new 0600 file instead of stdout")] = None,
    apply: ApplyOpt = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Start a session and print the credential Secret and the patched Pod, for `kubectl apply -f -`.

    The credential in the Secret is one-time and valid for 60 s (or --credential-ttl): apply at once.
    With --apply, sealbox creates the Pod and then the Secret (owned by the Pod, so it goes with it).
    """
    import yaml

    from sealbox.integrations.kubernetes import (
        IMAGE,
        KubeLaunch,
        PodSpecError,
        patch_pod,
    )
    from sealbox.integrations.kubernetes import (
        credential_secret as secret_doc,
    )

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        manifest = yaml.safe_load(text)
    except (OSError, yaml.YAMLError):
        fail(f"cannot read a Pod from {file}")
    if not isinstance(manifest, dict) or manifest.get("kind") != "Pod":
        fail(f"{file} does not hold a Pod")
    if namespace is not None:
        manifest.setdefault("metadata", {})["namespace"] = namespace
    pod_namespace = (manifest.get("metadata") or {}).get("namespace")
    if apply and not pod_namespace:
        fail("--apply needs --namespace (or metadata.namespace in the Pod)")
    session_id = ""
    with _failing_cleanly(ending=lambda: session_id):
        applier = _kube_api(kubeconfig, context) if apply else None
        from sealbox.cli import config_file

        launch = _api(
            "POST", "/api/v1/sessions", _session_body(secret, mount_path, project, ttl, credential_ttl)
        )
        session_id = launch["session"]["id"]
        patched = patch_pod(
            manifest,
            KubeLaunch(
                session_id=session_id,
                credential_secret_name=credential_secret,
                server_url=server_url or config_file.load().url,
                keeper_url=keeper_url,
                mount_path=mount_path,
                image=image or IMAGE,
                run_as_user=run_as_user,
                fs_group=fs_group,
            ),
        )
        if applier is None:
            doc = secret_doc(
                name=credential_secret,
                session_id=session_id,
                credential=launch["launch_credential"],
                namespace=pod_namespace,
            )
            _write_private(out, _dump([doc, patched], "yaml"))
            seconds = credential_ttl or 60
            typer.echo(f"sealbox: session {session_id}; apply within {seconds} s", err=True)
            return
        pod_name, pod_uid = applier.create_pod(patched)
        try:
            doc = secret_doc(
                name=credential_secret,
                session_id=session_id,
                credential=launch["launch_credential"],
                namespace=pod_namespace,
                owner_pod=(pod_name, pod_uid),
            )
            applier.put_secret(doc, replace=True)
        except PodSpecError:
            applier.delete_pod(pod_namespace, pod_name)
            raise
    typer.echo(
        f"sealbox: session {session_id}: created pod {pod_namespace}/{pod_name} and Secret "
        f"{pod_namespace}/{credential_secret}; `sealbox kube end {session_id} --namespace {pod_namespace}` "
        "removes them",
        err=True,
    )


@contextlib.contextmanager
def _failing_cleanly(ending: Callable[[], str] = lambda: "") -> Iterator[None]:
    """One line and a non-zero exit for whatever a kube command meets; when the Kubernetes side fails
    after a session began (`ending()` names it), that session is ended: its objects could not be made."""
    import httpx

    from sealbox.integrations.kubernetes import PodSpecError

    try:
        yield
    except PodSpecError as exc:
        if session_id := ending():
            _end_quietly(session_id)
        fail(str(exc))
    except httpx.HTTPError:
        fail("cannot reach the sealbox server")


def _end_quietly(session_id: str) -> None:
    """End a session whose objects could not be made (best effort; the session expires anyway)."""
    import httpx

    with contextlib.suppress(httpx.HTTPError, typer.Exit, SealboxError):
        _api("DELETE", f"/api/v1/sessions/{session_id}")


@app.command("sync")
def sync(
    secret: Annotated[
        str, typer.Option("--secret", help="the sealbox secret: NAME, NAME:FILE or NAME.FIELD")
    ],
    name: Annotated[str, typer.Option("--name", help="the Kubernetes Secret's name")],
    namespace: Annotated[str, typer.Option(help="the namespace to hold it")],
    project: Annotated[str | None, typer.Option(help="the session's project")] = None,
    keeper_url: KeeperOpt = None,
    out: Annotated[Path | None, typer.Option(help="write to this new 0600 file instead of stdout")] = None,
    apply: ApplyOpt = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """WEAKER, explicit: print a namespace Secret holding the secret's files (etcd will hold the values).

    For platforms that mount only Kubernetes Secrets (Kubeflow). The Secret is labelled with the session
    (sealbox.io/session) that delivered it; its mount path reads /kubernetes/NAMESPACE/NAME in `sealbox
    session ls`. Pipe it to `kubectl apply -f -`, or give --apply to have sealbox create (or update) it;
    it never follows a replaced value (sync again). `sealbox kube end SESSION --namespace NS` deletes it.
    """

    from sealbox.integrations.kubernetes import sync_secret_manifest
    from sealbox.sdk.redeem import redeem

    typer.echo("sealbox: sync stores the values in etcd (weaker than an init container)", err=True)
    session_id = ""
    with _failing_cleanly(ending=lambda: session_id):
        applier = _kube_api(kubeconfig, context) if apply else None
        launch = _api(
            "POST",
            "/api/v1/sessions",
            _session_body([secret], f"/kubernetes/{namespace}/{name}", project, None),
        )
        session_id = launch["session"]["id"]
        with _sealbox_http(signed_in=False) as http:
            delivery = redeem(
                http, session_id=session_id, credential=launch["launch_credential"], keeper_url=keeper_url
            )
        doc = sync_secret_manifest(delivery.items, name=name, namespace=namespace, session_id=session_id)
        if applier is not None:
            done = applier.put_secret(doc, replace=True)
    if applier is None:
        _write_private(out, _dump([doc], "yaml"))
        typer.echo(f"sealbox: session {session_id} synced into {namespace}/{name}", err=True)
    else:
        typer.echo(f"sealbox: session {session_id}: Secret {namespace}/{name} {done.action}", err=True)


@app.command("end")
def end(
    session_id: Annotated[str, typer.Argument(help="the session's id")],
    namespace: Annotated[str, typer.Option(help="the namespace of the session's objects")],
    pods: Annotated[
        bool, typer.Option("--pods", help="also delete the pods labelled with the session")
    ] = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """End a session and delete, through the Kubernetes API, the Secrets labelled with it (credential and
    synced Secrets; with --pods, its pods too)."""

    with _failing_cleanly():
        applier = _kube_api(kubeconfig, context)
        _api("DELETE", f"/api/v1/sessions/{session_id[:64]}")
        done = applier.delete_session_objects(session_id[:64], namespace, pods=pods)
    for item in done:
        typer.echo(f"deleted {item.kind} {item.namespace}/{item.name}", err=True)
    typer.echo(f"sealbox: session {session_id[:64]} ended; {len(done)} object(s) deleted", err=True)


@app.command("gc")
def gc(
    namespace: Annotated[str, typer.Option(help="the namespace to clean")],
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Delete sealbox's Secrets in NAMESPACE whose session (one of yours) has ended or expired: what a
    crash, a session ended elsewhere (web page, API) or an expired sync left behind."""
    from datetime import UTC, datetime

    deleted = 0
    with _failing_cleanly():
        applier = _kube_api(kubeconfig, context)
        with _sealbox_http() as http:
            for session_id in sorted(applier.sessions_in(namespace)):
                response = http.get(f"/api/v1/sessions/{session_id[:64]}")
                if response.status_code != 200:
                    continue  # not a session of yours: someone else's to clean
                session = response.json()
                expires = datetime.fromisoformat(session["expires_at"])
                if session["status"] != "ended" and expires > datetime.now(UTC):
                    continue
                for item in applier.delete_session_objects(session_id, namespace):
                    typer.echo(f"deleted {item.kind} {item.namespace}/{item.name}", err=True)
                    deleted += 1
    typer.echo(f"sealbox: {deleted} object(s) of ended sessions deleted in {namespace}", err=True)
