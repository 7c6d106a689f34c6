"""Kubernetes session pods: values reach the pod through an init container, never through etcd (by default).

The flow, for a platform (a spawner, an operator, a person with kubectl) that starts a pod for a user:

1. Create a session for the user (`POST /api/v1/sessions`, or `/api/v1/service/sessions` as a service account
   acting for the user). It returns the session id and a one-time launch credential (valid 60 s, or up to
   900 s when the session asks with `credential_ttl_seconds`, for pods that start late).
2. `credential_secret(...)`: a short-lived Kubernetes Secret holding only that credential and the session id.
   The credential is spent by the first redemption; what etcd keeps afterwards opens nothing.
3. `patch_pod_spec(...)` (or `patch_pod`, or the KubeSpawner `modify_pod_hook`): an init container running
   `sealbox kube init` redeems the credential into an `emptyDir` with `medium: Memory`; the app containers
   mount that folder read-only at the mount path (default `/secrets`) with `SEALBOX_SECRETS_DIR` set, so
   `sealbox.get_secret(NAME)` finds the files. With `refresh=True` a native sidecar (`sealbox kube refresh`)
   swaps in replaced values atomically, as `sealbox run --refresh` does.

Only files are delivered into pods: a value in a container's environment would sit in the pod spec, i.e. in
etcd. Env mappings of a session are therefore not delivered here; code reads the files (or `get_secret`).

The weaker, explicit alternative is `sync_secret_manifest`: a chosen secret's files in a namespace Secret,
for platforms that can only mount Kubernetes Secrets (Kubeflow Notebooks). etcd then holds the value.

Every function returns new dicts and leaves its input alone. `check_pod_spec` holds sealbox's own checks
for what the Kubernetes schemas do not catch (`medium` spelled exactly `Memory`, `defaultMode` 0-511,
read-only mounts, no value in any environment variable).
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sealbox.errors import PodSpecError
from sealbox.launcher.redeem import Delivered

IMAGE = "sealbox:0.1.0"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "sealbox"
LABEL_SESSION = "sealbox.io/session"
LABEL_SESSION_SIDE = "sealbox.io/session-side"  # the keeper's NetworkPolicy admits pods with this label
LABEL_SYNC = "sealbox.io/sync"
ANNOTATION_SECRET = "sealbox.io/secret"  # noqa: S105 -- a name, not a credential  # nosec B105
ANNOTATION_VERSION = "sealbox.io/version"
ANNOTATION_KIND = "sealbox.io/kind"
ANNOTATION_PURPOSE = "sealbox.io/purpose"

SECRETS_VOLUME = "sealbox-secrets"
CREDENTIAL_VOLUME = "sealbox-credential"
TOKEN_VOLUME = "sealbox-service-token"  # noqa: S105 -- a name, not a credential  # nosec B105
INIT_CONTAINER = "sealbox-init"
REFRESH_CONTAINER = "sealbox-refresh"
# Where sealbox's own containers see the volumes. The emptyDir's root belongs to root (mode 0777); the
# init container makes its own 0700 folder `secrets` inside it, and the app containers mount only that.
VOLUME_ROOT = "/run/sealbox"
SUBDIR = "secrets"
TARGET = f"{VOLUME_ROOT}/{SUBDIR}"
CREDENTIAL_DIR = "/run/sealbox-credential"
TOKEN_DIR = "/run/sealbox-token"  # noqa: S105 -- a name, not a credential  # nosec B105
CREDENTIAL_KEY = "credential"
SESSION_KEY = "session-id"
TOKEN_KEY = "token"  # noqa: S105 -- a name, not a credential  # nosec B105
CREDENTIAL_MODE = 0o400
DEFAULT_SIZE_LIMIT = "16Mi"
DEFAULT_REFRESH_INTERVAL_S = 60.0

_SESSION_ID = re.compile(r"[a-f0-9]{32}")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _check_session_id(session_id: str) -> str:
    if not _SESSION_ID.fullmatch(session_id):
        raise PodSpecError("a session id is 32 lowercase hex digits")
    return session_id


def _check_name(name: str, what: str) -> str:
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        raise PodSpecError(f"{what} must be a DNS-1123 subdomain (lowercase letters, digits, '-', '.')")
    return name


def _check_mount_path(path: str) -> str:
    parts = path.split("/")
    if not path.startswith("/") or path == "/" or "\x00" in path or ":" in path:
        raise PodSpecError("the mount path must be an absolute path below /, without ':'")
    if any(p in {".", ".."} for p in parts):
        raise PodSpecError("the mount path must not contain '.' or '..'")
    return path.rstrip("/")


def session_pod_labels(session_id: str) -> dict[str, str]:
    """Labels for a session pod: its session, and the one the keeper's NetworkPolicy admits."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_SESSION: _check_session_id(session_id),
        LABEL_SESSION_SIDE: "true",
    }


def credential_secret(
    *,
    name: str,
    session_id: str,
    credential: str,
    namespace: str | None = None,
    owner_pod: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The short-lived Secret that carries a launch credential (and its session id) into a pod; nothing else.

    `owner_pod` = (pod name, pod uid) makes the Secret garbage-collected with the pod. Either way the
    credential is one-time and short-lived (60 s unless the session asked for up to 900 s): delete the
    Secret once the pod has started (`sealbox kube end` deletes what is labelled with the session).
    """
    if not credential or any(c in credential for c in "\r\n\x00"):
        raise PodSpecError("the launch credential is one line of text")
    metadata: dict[str, Any] = {
        "name": _check_name(name, "the Secret's name"),
        "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_SESSION: _check_session_id(session_id)},
        "annotations": {ANNOTATION_PURPOSE: "launch-credential"},
    }
    if namespace is not None:
        metadata["namespace"] = _check_name(namespace, "the namespace")
    if owner_pod is not None:
        pod_name, pod_uid = owner_pod
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": pod_uid, "blockOwnerDeletion": False}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "immutable": True,
        "data": {CREDENTIAL_KEY: _b64(credential.encode()), SESSION_KEY: _b64(session_id.encode())},
    }


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


_RESOURCES = {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


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
    """
    _check_session_id(session_id)
    _check_name(credential_secret_name, "the credential Secret's name")
    mount = _check_mount_path(mount_path)
    if not server_url.startswith(("http://", "https://")):
        raise PodSpecError("the server URL starts with http:// or https://")
    if refresh:
        if service_token_secret_name is None or not on_behalf_of:
            raise PodSpecError("refresh needs service_token_secret_name and on_behalf_of")
        _check_name(service_token_secret_name, "the service token Secret's name")
        if not 1 <= refresh_interval <= 86400:
            raise PodSpecError("the refresh interval is 1-86400 seconds")
    spec = copy.deepcopy(dict(pod_spec))
    apps: list[dict[str, Any]] = [
        c for c in spec.get("containers") or [] if containers is None or c.get("name") in containers
    ]
    if not apps:
        raise PodSpecError("no app container to give the secrets to")
    if containers is not None and {c.get("name") for c in apps} != set(containers):
        raise PodSpecError("a container named in `containers` is not in the pod spec")
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

    uid, gid = _user_ids(spec, apps, run_as_user, run_as_group)
    pod_ctx: dict[str, Any] = spec.setdefault("securityContext", {})
    if uid != 0 and pod_ctx.get("fsGroup") is None:
        group = fs_group if fs_group is not None else gid
        if group is None:
            raise PodSpecError(
                "the pod has no fsGroup: give fs_group (or run_as_group), so that the non-root init "
                "container can read the credential Secret's file"
            )
        pod_ctx["fsGroup"] = group

    volumes.append({"name": SECRETS_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": size_limit}})
    volumes.append(
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
        }
    )
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
    init_containers.append(
        {
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
    )
    if refresh and service_token_secret_name is not None and on_behalf_of is not None:  # checked above
        volumes.append(
            {
                "name": TOKEN_VOLUME,
                "secret": {
                    "secretName": service_token_secret_name,
                    "defaultMode": CREDENTIAL_MODE,
                    "optional": False,
                    "items": [{"key": TOKEN_KEY, "path": TOKEN_KEY}],
                },
            }
        )
        refresh_args = [
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
            refresh_args += ["--project", project]
        if keeper_url is not None:
            refresh_args += ["--keeper-url", keeper_url]
        init_containers.append(
            {
                "name": REFRESH_CONTAINER,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "restartPolicy": "Always",  # a native sidecar: starts after sealbox-init, stops after the app
                "command": ["sealbox", "kube", "refresh"],
                "args": refresh_args,
                "volumeMounts": [
                    {"name": SECRETS_VOLUME, "mountPath": VOLUME_ROOT},
                    {"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True},
                ],
                "securityContext": _container_security(uid, gid),
                "resources": copy.deepcopy(_RESOURCES),
            }
        )
    for c in apps:
        c.setdefault("volumeMounts", []).append(
            {"name": SECRETS_VOLUME, "mountPath": mount, "subPath": SUBDIR, "readOnly": True}
        )
        env = [e for e in c.get("env") or [] if e.get("name") != "SEALBOX_SECRETS_DIR"]
        env.append({"name": "SEALBOX_SECRETS_DIR", "value": mount})
        c["env"] = env
    return spec


@dataclass(frozen=True, kw_only=True, slots=True)
class KubeLaunch:
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


def patch_pod(pod: Mapping[str, Any], launch: KubeLaunch) -> dict[str, Any]:
    """A copy of a whole Pod (dict) with the session's labels and a patched spec."""
    patched = copy.deepcopy(dict(pod))
    metadata = patched.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **session_pod_labels(launch.session_id)}
    patched["spec"] = patch_pod_spec(
        patched.get("spec") or {},
        session_id=launch.session_id,
        credential_secret_name=launch.credential_secret_name,
        server_url=launch.server_url,
        keeper_url=launch.keeper_url,
        mount_path=launch.mount_path,
        image=launch.image,
        refresh=launch.refresh,
        service_token_secret_name=launch.service_token_secret_name,
        on_behalf_of=launch.on_behalf_of,
        project=launch.project,
        refresh_interval=launch.refresh_interval,
        run_as_user=launch.run_as_user,
        run_as_group=launch.run_as_group,
        fs_group=launch.fs_group,
        containers=launch.containers,
    )
    return patched


SPAWNER_ATTRIBUTE = "sealbox_launch"


def modify_pod_hook(spawner: Any, pod: Any) -> Any:
    """KubeSpawner's `modify_pod_hook`: `c.KubeSpawner.modify_pod_hook = modify_pod_hook`.

    Works on the kubernetes client's V1Pod. Whoever created the session for this spawn (for example a
    `pre_spawn_hook` acting with a service account) sets `spawner.sealbox_launch` to a `KubeLaunch` and
    creates the credential Secret; without it the pod is returned unchanged. The spawner's uid, gid and
    fs_gid are used where the pod does not say them.
    """
    launch = getattr(spawner, SPAWNER_ATTRIBUTE, None)
    if launch is None:
        return pod
    if not isinstance(launch, KubeLaunch):
        raise PodSpecError(f"spawner.{SPAWNER_ATTRIBUTE} must be a KubeLaunch")
    from kubernetes.client import ApiClient

    def spawner_int(name: str) -> int | None:
        value = getattr(spawner, name, None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    with ApiClient() as api:
        data = api.sanitize_for_serialization(pod)
        spec = data.get("spec") or {}
        pod_ctx = spec.get("securityContext") or {}
        uid = launch.run_as_user
        if uid is None:
            uid = _first_container_uid(spec)
        if uid is None:
            uid = spawner_int("uid")
        gid = launch.run_as_group
        if gid is None:
            gid = pod_ctx.get("runAsGroup")
        if gid is None:
            gid = spawner_int("gid")
        fs_group = launch.fs_group if launch.fs_group is not None else spawner_int("fs_gid")
        patched = patch_pod(data, replace(launch, run_as_user=uid, run_as_group=gid, fs_group=fs_group))
        return api._ApiClient__deserialize(patched, "V1Pod")


def _first_container_uid(spec: Mapping[str, Any]) -> int | None:
    pod_uid = (spec.get("securityContext") or {}).get("runAsUser")
    for c in spec.get("containers") or []:
        uid = (c.get("securityContext") or {}).get("runAsUser", pod_uid)
        if isinstance(uid, int):
            return uid
    return pod_uid if isinstance(pod_uid, int) else None


# --- the explicit sync mode ---------------------------------------------------------------------------


def secret_data(item: Delivered) -> dict[str, bytes]:
    """The keys of a synced Secret: the fields of a whole multi-field secret, else one key for the file."""
    fields = item.fields
    if item.field is None and fields is not None:
        data = {k: v.encode() for k, v in fields.items()}
    else:
        data = {item.file or item.name: item.selected()}
    for key in data:
        if len(key) > 253 or not _SECRET_KEY.fullmatch(key) or key in {".", ".."}:
            raise PodSpecError("a Secret's key is letters, digits, '-', '_' and '.'; rename the file")
    return data


def sync_secret_manifest(
    items: Delivered | Iterable[Delivered],
    *,
    name: str,
    namespace: str,
    session_id: str,
) -> dict[str, Any]:
    """A namespace Secret holding the files of one chosen secret (or of several, as one folder).

    WEAKER than the init container: the values are then stored in etcd (base64, encrypted at rest only if the
    cluster is configured so), readable by anyone who may read Secrets in the namespace, and they stay until
    the Secret is deleted. Use it only for platforms that mount nothing but Kubernetes Secrets (Kubeflow
    Notebooks). The Secret is labelled with the owning session (`sealbox.io/session`), so that
    `kubectl get secrets -l sealbox.io/session=<id>` finds it, and deleting it ends the exposure; the secrets'
    names and versions are annotations (never values). Replaced values are not followed: sync again.
    """
    chosen = [items] if isinstance(items, Delivered) else list(items)
    if not chosen:
        raise PodSpecError("choose at least one secret to sync")
    data: dict[str, bytes] = {}
    for item in chosen:
        for key, value in secret_data(item).items():
            if key in data:
                raise PodSpecError("two synced secrets use the same key; give them distinct file names")
            data[key] = value
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": _check_name(name, "the Secret's name"),
            "namespace": _check_name(namespace, "the namespace"),
            "labels": {
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_SESSION: _check_session_id(session_id),
                LABEL_SYNC: "true",
            },
            "annotations": {
                ANNOTATION_PURPOSE: "sync (weaker: etcd holds the values)",
                ANNOTATION_SECRET: ",".join(f"{i.owner}/{i.name}" for i in chosen),
                ANNOTATION_VERSION: ",".join(str(i.version) for i in chosen),
                ANNOTATION_KIND: ",".join(i.kind for i in chosen),
            },
        },
        "type": "Opaque",
        "data": {k: _b64(v) for k, v in sorted(data.items())},
    }


# --- sealbox's own checks -------------------------------------------------------------------------------


def _all_containers(spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (kind, c)
        for kind in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(kind) or []
    ]


def check_pod_spec(spec: Mapping[str, Any], *, values: Iterable[str | bytes] = ()) -> list[str]:
    """What the Kubernetes schemas miss; returns the problems found (empty when fine).

    Every emptyDir medium is "" or exactly "Memory" (the API accepts any string, and a misspelt medium
    would quietly put the files on the node's disk); every defaultMode/mode is 0-511; sealbox's folder is
    mounted read-only into every container but sealbox's own, and its credential/token only into sealbox's
    containers; no environment variable holds one of `values` (or reads the credential Secret); names unique.
    """
    problems: list[str] = []
    needles = [v.encode() if isinstance(v, str) else v for v in values if v]
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    if len(volumes) != len(spec.get("volumes") or []):
        problems.append("two volumes share a name")
    secret_names: dict[str, str] = {}
    for name, v in volumes.items():
        if "emptyDir" in v:
            medium = (v["emptyDir"] or {}).get("medium", "")
            if medium not in ("", "Memory"):
                problems.append(f"volume {name}: emptyDir medium {medium!r} is not 'Memory'")
            if name == SECRETS_VOLUME and medium != "Memory":
                problems.append(f"volume {name}: sealbox's folder must be on medium 'Memory'")
        for source in ("secret", "configMap"):
            if source in v:
                mode = v[source].get("defaultMode")
                if mode is not None and not (isinstance(mode, int) and 0 <= mode <= 0o777):
                    problems.append(f"volume {name}: defaultMode {mode!r} is not 0-511")
                for it in v[source].get("items") or []:
                    m = it.get("mode")
                    if m is not None and not (isinstance(m, int) and 0 <= m <= 0o777):
                        problems.append(f"volume {name}: item mode {m!r} is not 0-511")
        if "secret" in v:
            secret_names[name] = str(v["secret"].get("secretName"))
    if SECRETS_VOLUME in volumes and "emptyDir" not in volumes[SECRETS_VOLUME]:
        problems.append(f"volume {SECRETS_VOLUME} is not an emptyDir")
    ours = {INIT_CONTAINER, REFRESH_CONTAINER}
    names = [c.get("name") for _, c in _all_containers(spec)]
    if len(set(names)) != len(names):
        problems.append("two containers share a name")
    credential_secrets = {secret_names.get(CREDENTIAL_VOLUME), secret_names.get(TOKEN_VOLUME)} - {None}
    for kind, c in _all_containers(spec):
        cname = c.get("name")
        mounts = c.get("volumeMounts") or []
        paths = [m.get("mountPath") for m in mounts]
        if len(set(paths)) != len(paths):
            problems.append(f"container {cname}: two mounts at one path")
        for m in mounts:
            vname = m.get("name")
            if vname == SECRETS_VOLUME and cname not in ours and m.get("readOnly") is not True:
                problems.append(f"container {cname}: {SECRETS_VOLUME} is not mounted read-only")
            if vname in (CREDENTIAL_VOLUME, TOKEN_VOLUME):
                if m.get("readOnly") is not True:
                    problems.append(f"container {cname}: {vname} is not mounted read-only")
                allowed = INIT_CONTAINER if vname == CREDENTIAL_VOLUME else REFRESH_CONTAINER
                if cname != allowed:
                    problems.append(f"container {cname} ({kind}) mounts {vname}")
        for e in c.get("env") or []:
            ename = str(e.get("name", ""))
            raw = str(e.get("value", "")).encode()
            if any(n in raw for n in needles):
                problems.append(f"container {cname}: variable {ename} holds a secret value")
            ref = (e.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref and ref.get("name") in credential_secrets:
                problems.append(f"container {cname}: variable {ename} reads sealbox's credential Secret")
        for from_ in c.get("envFrom") or []:
            if (from_.get("secretRef") or {}).get("name") in credential_secrets:
                problems.append(f"container {cname}: envFrom reads sealbox's credential Secret")
        argv = " ".join(str(a) for a in [*(c.get("command") or []), *(c.get("args") or [])]).encode()
        if any(n in argv for n in needles):
            problems.append(f"container {cname}: its command line holds a secret value")
    return problems
