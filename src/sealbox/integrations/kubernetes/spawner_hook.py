"""KubeSpawner's `modify_pod_hook`: patches the spawner's pod for the session set on the spawner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sealbox.errors import PodSpecError
from sealbox.integrations.kubernetes.pod_spec import KubeSession, patch_pod

SPAWNER_ATTRIBUTE = "sealbox_pod_session"


def modify_pod_hook(spawner: Any, pod: Any) -> Any:
    """KubeSpawner's `modify_pod_hook`: `c.KubeSpawner.modify_pod_hook = modify_pod_hook`.

    Works on the kubernetes client's V1Pod. Whoever created the session for this spawn (for example a
    `pre_spawn_hook` acting with a service account) sets `spawner.sealbox_pod_session` to a `KubeSession` and
    creates the credential Secret; without it the pod is returned unchanged. The spawner's uid, gid and
    fs_gid are used where the pod does not say them.
    """
    session = getattr(spawner, SPAWNER_ATTRIBUTE, None)
    if session is None:
        return pod
    if not isinstance(session, KubeSession):
        raise PodSpecError(f"spawner.{SPAWNER_ATTRIBUTE} must be a KubeSession")
    from kubernetes.client import ApiClient

    def spawner_int(name: str) -> int | None:
        value = getattr(spawner, name, None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    with ApiClient() as api:
        data = api.sanitize_for_serialization(pod)
        spec = data.get("spec") or {}
        pod_ctx = spec.get("securityContext") or {}
        uid = session.run_as_user
        if uid is None:
            uid = _first_container_uid(spec)
        if uid is None:
            uid = spawner_int("uid")
        gid = session.run_as_group
        if gid is None:
            gid = pod_ctx.get("runAsGroup")
        if gid is None:
            gid = spawner_int("gid")
        fs_group = session.fs_group if session.fs_group is not None else spawner_int("fs_gid")
        patched = patch_pod(data, replace(session, run_as_user=uid, run_as_group=gid, fs_group=fs_group))
        return api._ApiClient__deserialize(patched, "V1Pod")


def _first_container_uid(spec: Mapping[str, Any]) -> int | None:
    pod_uid = (spec.get("securityContext") or {}).get("runAsUser")
    for c in spec.get("containers") or []:
        uid = (c.get("securityContext") or {}).get("runAsUser", pod_uid)
        if isinstance(uid, int):
            return uid
    return pod_uid if isinstance(pod_uid, int) else None
