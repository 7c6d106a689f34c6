"""`sealbox kube pod|sync|end|gc`: sessions whose objects live in a cluster (a patched Pod and its
credential Secret, a synced Secret), made through the sealbox API and, with --apply, the Kubernetes API."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sealbox.cli.output import fail
from sealbox.cli.secrets import client
from sealbox.errors import BadRequest, ClientError, SealboxError

if TYPE_CHECKING:
    from sealbox.protocol.session_answers import SessionCreated
    from sealbox.protocol.session_api import SessionCreate

KeeperOpt = Annotated[
    str | None, typer.Option("--keeper-url", help="override the keeper address the server gives")
]

ApplyOpt = Annotated[
    bool,
    typer.Option("--apply", help="create the objects through the Kubernetes API instead of printing them"),
]
KubeconfigOpt = Annotated[
    str | None, typer.Option(help="kubeconfig for --apply; default: KUBECONFIG, ~/.kube/config, in-cluster")
]
ContextOpt = Annotated[str | None, typer.Option(help="the kubeconfig context for --apply")]


def pod(
    file: Annotated[Path, typer.Option("--file", "-f", help="a Pod's YAML/JSON ('-' for stdin)")],
    secret: Annotated[list[str], typer.Option("--secret", help="NAME or NAME:FILE; repeatable")],
    credential_secret: Annotated[str, typer.Option(help="name of the short-lived credential Secret")],
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--as",
            help="FILE=FORMAT: that file's secret as its client reads it (aws, gcp, pgpass, netrc, ssh, "
            "docker), its variables set in the app containers; repeatable",
        ),
    ] = None,
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
        typer.Option(help="the session credential's lifetime, 60-900 s (default 60): for slow pod starts"),
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
    from sealbox.cli import config_file
    from sealbox.integrations.kubernetes import IMAGE, KubeSession, patch_pod

    manifest = _read_pod(file, namespace)
    pod_namespace = (manifest.get("metadata") or {}).get("namespace")
    if apply and not pod_namespace:
        fail("--apply needs --namespace (or metadata.namespace in the Pod)")
    request = _session_body(secret, mount_path, project, ttl, credential_ttl)
    chosen = _formats(formats or [], request)
    session_id = ""
    with _failing_cleanly(ending=lambda: session_id):
        applier = _kube_api(kubeconfig, context) if apply else None
        created = _create(request)
        session_id = created.session.id
        patched = patch_pod(
            manifest,
            KubeSession(
                session_id=session_id,
                credential_secret_name=credential_secret,
                server_url=server_url or config_file.load().url,
                keeper_url=keeper_url,
                mount_path=mount_path,
                image=image or IMAGE,
                run_as_user=run_as_user,
                fs_group=fs_group,
                formats=chosen or None,
            ),
        )
        secret_doc = _credential_doc(credential_secret, created, pod_namespace)
        if applier is None:
            _write_private(out, _dump([secret_doc(None), patched], "yaml"))
            seconds = credential_ttl or 60
            typer.echo(f"sealbox: session {session_id}; apply within {seconds} s", err=True)
            return
        pod_name = _create_pod_and_secret(applier, patched, secret_doc)
    typer.echo(
        f"sealbox: session {session_id}: created pod {pod_namespace}/{pod_name} and Secret "
        f"{pod_namespace}/{credential_secret}; `sealbox kube end {session_id} --namespace {pod_namespace}` "
        "removes them",
        err=True,
    )


def _read_pod(file: Path, namespace: str | None) -> dict[str, Any]:
    """The Pod in FILE ('-': stdin), its namespace set to `namespace` when given."""
    import yaml

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        manifest = yaml.safe_load(text)
    except (OSError, yaml.YAMLError):
        fail(f"cannot read a Pod from {file}")
    if not isinstance(manifest, dict) or manifest.get("kind") != "Pod":
        fail(f"{file} does not hold a Pod")
    if namespace is not None:
        manifest.setdefault("metadata", {})["namespace"] = namespace
    return manifest


def _credential_doc(
    name: str, created: SessionCreated, namespace: str | None
) -> Callable[[tuple[str, str] | None], dict[str, Any]]:
    """The credential Secret of a created session, owned by the given pod (name, uid) if any."""
    from sealbox.integrations.kubernetes import credential_secret

    def doc(owner_pod: tuple[str, str] | None) -> dict[str, Any]:
        return credential_secret(
            name=name,
            session_id=created.session.id,
            credential=created.session_credential,
            namespace=namespace,
            owner_pod=owner_pod,
        )

    return doc


def _create_pod_and_secret(
    applier: Any, patched: dict[str, Any], secret_doc: Callable[[tuple[str, str] | None], dict[str, Any]]
) -> str:
    """Create the Pod, then its credential Secret owned by it; a Secret that cannot be made takes the Pod
    away again. Returns the pod's name."""
    from sealbox.errors import PodSpecError

    pod_name, pod_uid = applier.create_pod(patched)
    try:
        applier.put_secret(secret_doc((pod_name, pod_uid)), replace=True)
    except PodSpecError:
        applier.delete_pod(patched["metadata"]["namespace"], pod_name)
        raise
    return str(pod_name)


@contextlib.contextmanager
def _failing_cleanly(ending: Callable[[], str] = lambda: "") -> Iterator[None]:
    """One line and a non-zero exit when the Kubernetes side fails (sealbox's own errors, an unreachable
    server among them, reach the CLI's one handler); when it fails after a session began (`ending()` names
    it), that session is ended: its objects could not be made."""
    from sealbox.errors import PodSpecError

    try:
        yield
    except PodSpecError as exc:
        if session_id := ending():
            _end_quietly(session_id)
        fail(str(exc))


def _end_quietly(session_id: str) -> None:
    """End a session whose objects could not be made (best effort; the session expires anyway)."""
    with contextlib.suppress(SealboxError):
        _end(session_id)


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

    from sealbox.cli import config_file
    from sealbox.integrations.kubernetes import sync_secret_manifest
    from sealbox.launcher.redeem import redeem
    from sealbox.transport import HTTPClient

    typer.echo("sealbox: sync stores the values in etcd (weaker than an init container)", err=True)
    session_id = ""
    with _failing_cleanly(ending=lambda: session_id):
        applier = _kube_api(kubeconfig, context) if apply else None
        created = _create(_session_body([secret], f"/kubernetes/{namespace}/{name}", project, None))
        session_id = created.session.id
        with HTTPClient(config_file.load().url) as http:
            delivery = redeem(
                http, session_id=session_id, credential=created.session_credential, keeper_url=keeper_url
            )
        doc = sync_secret_manifest(delivery.items, name=name, namespace=namespace, session_id=session_id)
        if applier is not None:
            done = applier.put_secret(doc, replace=True)
    if applier is None:
        _write_private(out, _dump([doc], "yaml"))
        typer.echo(f"sealbox: session {session_id} synced into {namespace}/{name}", err=True)
    else:
        typer.echo(f"sealbox: session {session_id}: Secret {namespace}/{name} {done.action}", err=True)


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
        _end(session_id[:64])
        done = applier.delete_session_objects(session_id[:64], namespace, pods=pods)
    for item in done:
        typer.echo(f"deleted {item.kind} {item.namespace}/{item.name}", err=True)
    typer.echo(f"sealbox: session {session_id[:64]} ended; {len(done)} object(s) deleted", err=True)


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
        with client() as c:
            for session_id in sorted(applier.sessions_in(namespace)):
                try:
                    session = c.get_session(session_id[:64])
                except ClientError as refused:
                    if refused.status_code == 0:
                        raise  # no answer: nothing is known of any session
                    continue  # not a session of yours: someone else's to clean
                if session.status != "ended" and session.expires_at > datetime.now(UTC):
                    continue
                for item in applier.delete_session_objects(session_id, namespace):
                    typer.echo(f"deleted {item.kind} {item.namespace}/{item.name}", err=True)
                    deleted += 1
    typer.echo(f"sealbox: {deleted} object(s) of ended sessions deleted in {namespace}", err=True)


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
    from sealbox.private_files import write_private_file

    write_private_file(path, text, overwrite=True)


def _session_body(
    secrets: list[str],
    mount_path: str,
    project: str | None,
    ttl: int | None,
    credential_ttl: int | None = None,
) -> SessionCreate:
    """`--secret NAME`, `NAME:FILE`, `NAME.FIELD` as `sealbox run` reads them; files only (no env in pods)."""
    from sealbox.launcher.spec import parse_secret_option
    from sealbox.protocol.session_api import SessionCreate, SessionSecretIn

    mappings = [parse_secret_option(option) for option in secrets]
    return SessionCreate(
        secrets=[SessionSecretIn(name=m.secret, field=m.field, file=m.file) for m in mappings],
        mount_path=mount_path,
        project=project,
        ttl_seconds=ttl,
        credential_ttl_seconds=credential_ttl,
    )


def _formats(options: list[str], request: SessionCreate) -> dict[str, str]:
    """`--as FILE=FORMAT`, checked before any session exists: a file of a --secret, a format a pod takes."""
    from sealbox.integrations.initcontainer import parse_formats
    from sealbox.launcher.formats import pod_variables

    try:
        chosen = parse_formats(options)
        files = {m.file for m in request.secrets}
        for file, fmt in chosen.items():
            if file not in files:
                fail(f"--as {file}={fmt}: no --secret is written to the file {file}")
            pod_variables(fmt, request.mount_path or "/secrets")
    except BadRequest as bad:
        fail(bad.message)
    return chosen


def _create(request: SessionCreate) -> SessionCreated:
    """A session with the saved login; a refusal raises the `ClientError` that
    `transport.error_from_response` makes of it (the CLI's handler shows it)."""
    with client() as c:
        return c.create_session(request)


def _end(session_id: str) -> None:
    with client() as c:
        c.end_session(session_id)


def _kube_api(kubeconfig: str | None, context: str | None) -> Any:
    from sealbox.integrations.kubeapply import KubeApplier, core_api

    return KubeApplier(core_api(kubeconfig=kubeconfig, context=context))
