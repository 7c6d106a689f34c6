"""Patching a pod so its containers receive a session's files: the init container, the memory emptyDir,
the credential Secret's volume, the optional refresh sidecar, and the read-only mounts in the apps."""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sealbox.domain.sessions import check_file_name
from sealbox.errors import BadRequest, PodSpecError
from sealbox.integrations.kubernetes.names import (
    CREDENTIAL_DIR,
    CREDENTIAL_KEY,
    CREDENTIAL_MODE,
    CREDENTIAL_VOLUME,
    DEFAULT_REFRESH_INTERVAL_S,
    DEFAULT_SIZE_LIMIT,
    IMAGE,
    INIT_CONTAINER,
    REFRESH_CONTAINER,
    SECRETS_VOLUME,
    SESSION_KEY,
    SUBDIR,
    TARGET,
    TOKEN_DIR,
    TOKEN_KEY,
    TOKEN_VOLUME,
    VOLUME_ROOT,
    check_mount_path,
    check_name,
    check_session_id,
    session_pod_labels,
)
from sealbox.launcher.formats import pod_variables

_RESOURCES = {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


@dataclass(frozen=True, kw_only=True, slots=True)
class KubeSession:
    """What a spawner knows about a session when it builds the pod (no value, no credential)."""

    session_id: str
    credential_secret_name: str
    server_url: str
    keeper_url: str | None = None
    mount_path: str = "/secrets"
    image: str = IMAGE
    refresh: bool = False
    service_token_secret_name: str | None = None
    on_behalf_of: str | None = None
    project: str | None = None
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL_S
    run_as_user: int | None = None
    run_as_group: int | None = None
    fs_group: int | None = None
    containers: tuple[str, ...] | None = None
    formats: Mapping[str, str] | None = None  # file -> client format (`sealbox run --as`)


def patch_pod(pod: Mapping[str, Any], session: KubeSession) -> dict[str, Any]:
    """A copy of a whole Pod (dict) with the session's labels and a patched spec."""
    patched = copy.deepcopy(dict(pod))
    metadata = patched.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **session_pod_labels(session.session_id)}
    patched["spec"] = patch_pod_spec(
        patched.get("spec") or {},
        session_id=session.session_id,
        credential_secret_name=session.credential_secret_name,
        server_url=session.server_url,
        keeper_url=session.keeper_url,
        mount_path=session.mount_path,
        image=session.image,
        refresh=session.refresh,
        service_token_secret_name=session.service_token_secret_name,
        on_behalf_of=session.on_behalf_of,
        project=session.project,
        refresh_interval=session.refresh_interval,
        run_as_user=session.run_as_user,
        formats=session.formats,
        run_as_group=session.run_as_group,
        fs_group=session.fs_group,
        containers=session.containers,
    )
    return patched


def patch_pod_spec(
    pod_spec: Mapping[str, Any],
    *,
    session_id: str,
    credential_secret_name: str,
    server_url: str,
    keeper_url: str | None = None,
    mount_path: str = "/secrets",
    image: str = IMAGE,
    refresh: bool = False,
    service_token_secret_name: str | None = None,
    on_behalf_of: str | None = None,
    project: str | None = None,
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL_S,
    run_as_user: int | None = None,
    run_as_group: int | None = None,
    fs_group: int | None = None,
    containers: Collection[str] | None = None,
    size_limit: str = DEFAULT_SIZE_LIMIT,
    formats: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A copy of `pod_spec` whose containers receive the session's files at `mount_path`.

    Adds the init container (`sealbox kube init`, which redeems the credential once), an emptyDir with
    medium Memory, the credential Secret's volume (mode 0400, mounted into the init container only), and in
    every app container (or those named in `containers`) a read-only mount and SEALBOX_SECRETS_DIR.

    `refresh=True` adds `sealbox kube refresh` as a native sidecar (an init container with restartPolicy
    Always, Kubernetes 1.29+): it fetches the same secrets again as the service account whose token is in
    the Secret `service_token_secret_name` (key `token`), acting for `on_behalf_of`, and swaps the folder
    when a value was replaced. That token is mounted into the sidecar only.

    sealbox's containers run as the app containers' user (the folder is 0700); a non-root user reads the
    credential through the pod's fsGroup, which is set (to `fs_group`, else the group) when missing.
    `session_id` is checked here (and labels the pod in `patch_pod`); the containers learn it only from
    the credential Secret, never from argv or the environment.

    `formats` (file -> format) writes those files' secrets as their clients read them (`sealbox run --as`):
    the init container renders them, and the app containers get the variables that point the clients there
    (paths only, known before any value; aws-process and git are refused, see `pod_variables`).
    """
    check_session_id(session_id)
    check_name(credential_secret_name, "the credential Secret's name")
    mount = check_mount_path(mount_path)
    variables = _format_variables(formats or {}, mount)
    if not server_url.startswith(("http://", "https://")):
        raise PodSpecError("the server URL starts with http:// or https://")
    if refresh:
        _check_refresh(service_token_secret_name, on_behalf_of, refresh_interval)
    spec = copy.deepcopy(dict(pod_spec))
    apps = _app_containers(spec, containers)
    _refuse_clashes(spec, apps, mount, refresh=refresh)
    uid, gid = _user_ids(spec, apps, run_as_user, run_as_group)
    _ensure_fs_group(spec, uid=uid, gid=gid, fs_group=fs_group)
    volumes: list[dict[str, Any]] = spec["volumes"]
    init_containers: list[dict[str, Any]] = spec["initContainers"]
    volumes += _session_volumes(credential_secret_name, size_limit)
    init_containers.append(_init_container(image, server_url, keeper_url, uid, gid, formats or {}))
    if refresh and service_token_secret_name is not None and on_behalf_of is not None:  # checked above
        volumes.append(_token_volume(service_token_secret_name))
        init_containers.append(
            _refresh_sidecar(
                image=image,
                server_url=server_url,
                keeper_url=keeper_url,
                on_behalf_of=on_behalf_of,
                project=project,
                refresh_interval=refresh_interval,
                ids=(uid, gid),
            )
        )
    _mount_into(apps, mount, variables)
    return spec


def _format_variables(formats: Mapping[str, str], mount: str) -> dict[str, str]:
    """The variables the formats set in the app containers, checked (one secret per variable)."""
    found: dict[str, str] = {}
    for file, fmt in formats.items():
        try:
            variables = pod_variables(fmt, f"{mount}/{check_file_name(file)}")
        except BadRequest as bad:
            raise PodSpecError(bad.message) from None
        for var, value in variables.items():
            if var in found:
                raise PodSpecError(f"two secrets written as {fmt} would both set {var}: a pod takes one")
            found[var] = value
    return found


def _check_refresh(
    service_token_secret_name: str | None, on_behalf_of: str | None, refresh_interval: float
) -> None:
    if service_token_secret_name is None or not on_behalf_of:
        raise PodSpecError("refresh needs service_token_secret_name and on_behalf_of")
    check_name(service_token_secret_name, "the service token Secret's name")
    if not 1 <= refresh_interval <= 86400:
        raise PodSpecError("the refresh interval is 1-86400 seconds")


def _app_containers(spec: dict[str, Any], containers: Collection[str] | None) -> list[dict[str, Any]]:
    """The containers that receive the files: all, or those named in `containers` (each must exist)."""
    apps: list[dict[str, Any]] = [
        c for c in spec.get("containers") or [] if containers is None or c.get("name") in containers
    ]
    if not apps:
        raise PodSpecError("no app container to give the secrets to")
    if containers is not None and {c.get("name") for c in apps} != set(containers):
        raise PodSpecError("a container named in `containers` is not in the pod spec")
    return apps


def _refuse_clashes(spec: dict[str, Any], apps: list[dict[str, Any]], mount: str, *, refresh: bool) -> None:
    """Refuse a spec that already has sealbox's volumes or containers, or a mount at `mount`."""
    volumes: list[dict[str, Any]] = spec.setdefault("volumes", [])
    init_containers: list[dict[str, Any]] = spec.setdefault("initContainers", [])
    taken_volumes = {v.get("name") for v in volumes}
    taken_containers = {c.get("name") for c in [*init_containers, *(spec.get("containers") or [])]}
    ours_v = {SECRETS_VOLUME, CREDENTIAL_VOLUME} | ({TOKEN_VOLUME} if refresh else set())
    ours_c = {INIT_CONTAINER} | ({REFRESH_CONTAINER} if refresh else set())
    if taken_volumes & ours_v or taken_containers & ours_c:
        raise PodSpecError("the pod spec already has sealbox's volumes or containers (patched twice?)")
    for c in apps:
        if any(m.get("mountPath", "").rstrip("/") == mount for m in c.get("volumeMounts") or []):
            raise PodSpecError(f"container {c.get('name')} already mounts something at {mount}")


def _user_ids(
    spec: Mapping[str, Any], apps: list[dict[str, Any]], run_as_user: int | None, run_as_group: int | None
) -> tuple[int, int | None]:
    """The uid/gid the init container must run as: the app containers', so the 0700 folder is theirs."""
    pod_ctx = spec.get("securityContext") or {}
    uids = {(c.get("securityContext") or {}).get("runAsUser", pod_ctx.get("runAsUser")) for c in apps}
    known = {u for u in uids if u is not None}
    if run_as_user is None:
        if len(known) > 1:
            raise PodSpecError("the app containers run as different users; one folder cannot serve them all")
        if not known or None in uids:
            raise PodSpecError(
                "cannot tell which user the app containers run as: give run_as_user "
                "(or set securityContext.runAsUser), since the secret folder is 0700 and theirs"
            )
        run_as_user = known.pop()
    elif known - {run_as_user}:
        raise PodSpecError("an app container runs as another user than run_as_user")
    if run_as_group is None:
        gids = {(c.get("securityContext") or {}).get("runAsGroup", pod_ctx.get("runAsGroup")) for c in apps}
        gids.discard(None)
        run_as_group = gids.pop() if len(gids) == 1 else None
    return int(run_as_user), run_as_group


def _ensure_fs_group(spec: dict[str, Any], *, uid: int, gid: int | None, fs_group: int | None) -> None:
    """A non-root init container reads the credential Secret's 0400 file through the pod's fsGroup."""
    pod_ctx: dict[str, Any] = spec.setdefault("securityContext", {})
    if uid != 0 and pod_ctx.get("fsGroup") is None:
        group = fs_group if fs_group is not None else gid
        if group is None:
            raise PodSpecError(
                "the pod has no fsGroup: give fs_group (or run_as_group), so that the non-root init "
                "container can read the credential Secret's file"
            )
        pod_ctx["fsGroup"] = group


def _container_security(run_as_user: int, run_as_group: int | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "runAsUser": run_as_user,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if run_as_user != 0:
        ctx["runAsNonRoot"] = True
    if run_as_group is not None:
        ctx["runAsGroup"] = run_as_group
    return ctx


def _session_volumes(credential_secret_name: str, size_limit: str) -> list[dict[str, Any]]:
    """The memory emptyDir for the files, and the credential Secret's volume (0400)."""
    return [
        {"name": SECRETS_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": size_limit}},
        {
            "name": CREDENTIAL_VOLUME,
            "secret": {
                "secretName": credential_secret_name,
                "defaultMode": CREDENTIAL_MODE,
                "optional": False,
                "items": [
                    {"key": CREDENTIAL_KEY, "path": CREDENTIAL_KEY},
                    {"key": SESSION_KEY, "path": SESSION_KEY},
                ],
            },
        },
    ]


def _init_container(
    image: str, server_url: str, keeper_url: str | None, uid: int, gid: int | None, formats: Mapping[str, str]
) -> dict[str, Any]:
    """`sealbox kube init`: redeems the credential once into the emptyDir."""
    args = [
        "--server",
        server_url,
        "--credential-file",
        f"{CREDENTIAL_DIR}/{CREDENTIAL_KEY}",
        "--session-id-file",
        f"{CREDENTIAL_DIR}/{SESSION_KEY}",
        "--target",
        TARGET,
        "--require-memory",
    ]
    if keeper_url is not None:
        args += ["--keeper-url", keeper_url]
    for file, fmt in formats.items():
        args += ["--as", f"{file}={fmt}"]
    return {
        "name": INIT_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sealbox", "kube", "init"],
        "args": args,
        "volumeMounts": [
            {"name": SECRETS_VOLUME, "mountPath": VOLUME_ROOT},
            {"name": CREDENTIAL_VOLUME, "mountPath": CREDENTIAL_DIR, "readOnly": True},
        ],
        "securityContext": _container_security(uid, gid),
        "resources": copy.deepcopy(_RESOURCES),
    }


def _token_volume(service_token_secret_name: str) -> dict[str, Any]:
    return {
        "name": TOKEN_VOLUME,
        "secret": {
            "secretName": service_token_secret_name,
            "defaultMode": CREDENTIAL_MODE,
            "optional": False,
            "items": [{"key": TOKEN_KEY, "path": TOKEN_KEY}],
        },
    }


def _refresh_sidecar(
    *,
    image: str,
    server_url: str,
    keeper_url: str | None,
    on_behalf_of: str,
    project: str | None,
    refresh_interval: float,
    ids: tuple[int, int | None],
) -> dict[str, Any]:
    """`sealbox kube refresh` as a native sidecar, with the service token mounted into it only."""
    args = [
        "--server",
        server_url,
        "--token-file",
        f"{TOKEN_DIR}/{TOKEN_KEY}",
        "--on-behalf-of",
        on_behalf_of,
        "--target",
        TARGET,
        "--interval",
        f"{refresh_interval:g}",
    ]
    if project is not None:
        args += ["--project", project]
    if keeper_url is not None:
        args += ["--keeper-url", keeper_url]
    return {
        "name": REFRESH_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "restartPolicy": "Always",  # a native sidecar: starts after sealbox-init, stops after the app
        "command": ["sealbox", "kube", "refresh"],
        "args": args,
        "volumeMounts": [
            {"name": SECRETS_VOLUME, "mountPath": VOLUME_ROOT},
            {"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True},
        ],
        "securityContext": _container_security(*ids),
        "resources": copy.deepcopy(_RESOURCES),
    }


def _mount_into(apps: list[dict[str, Any]], mount: str, variables: Mapping[str, str]) -> None:
    """Each app container sees the folder read-only at `mount`, named by SEALBOX_SECRETS_DIR, and the
    formats' variables (a container that sets one itself is refused: its client would read the other)."""
    for c in apps:
        c.setdefault("volumeMounts", []).append(
            {"name": SECRETS_VOLUME, "mountPath": mount, "subPath": SUBDIR, "readOnly": True}
        )
        env = [e for e in c.get("env") or [] if e.get("name") != "SEALBOX_SECRETS_DIR"]
        taken = sorted({e.get("name") for e in env} & set(variables))
        if taken:
            raise PodSpecError(f"container {c.get('name')} sets {taken[0]} itself; a client format sets it")
        env.append({"name": "SEALBOX_SECRETS_DIR", "value": mount})
        env += [{"name": var, "value": value} for var, value in variables.items()]
        c["env"] = env
