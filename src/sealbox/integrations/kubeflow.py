"""Kubeflow Notebooks 2.0: mount synced secrets into workspaces, and show which workspaces mount each secret.

A Workspace mounts Kubernetes Secrets of its namespace as whole folders (no subPath) through
`spec.podTemplate.volumes.secrets[]`: entries `{secretName, mountPath, defaultMode}`. sealbox fills such a
Secret with `sealbox kube sync` (the explicit, weaker mode: etcd holds the values); this module emits the
entries and answers the question Kubeflow's Secrets page asks: which workspaces mount this secret?

The constraints below are pinned from the Workspace CRD in kubeflow/notebooks, branch notebooks-v2 at
commit 8b6105775132f4ea0af2a1dc3833519789651233, file
workspaces/controller/manifests/kustomize/base/crd/kubeflow.org_workspaces.yaml, version v1beta1, property
spec.podTemplate.volumes.secrets (items: secretName 1-253 chars, DNS-1123 subdomain; mountPath 2-4096 chars,
pattern ^/[^/].*$; defaultMode int32 0-511, default 420; required secretName and mountPath; the list is a
map keyed by mountPath). The schema here is our own transcription of those rules, not a copy of the CRD.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealbox.errors import WorkspaceError

CRD_SOURCE = (
    "kubeflow/notebooks@8b6105775132f4ea0af2a1dc3833519789651233:"
    "workspaces/controller/manifests/kustomize/base/crd/kubeflow.org_workspaces.yaml"
)
WORKSPACE_API_VERSION = "kubeflow.org/v1beta1"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
MOUNT_PATH = r"^/[^/].*$"
# Kubeflow's default is 420 (0644). Synced secrets default to 0440: the owner and the pod's fsGroup (the
# kubelet adds group read for it on Secret volumes), so a non-root notebook user can read them, others not.
DEFAULT_MODE = 0o440
DEFAULT_ROOT = "/secrets"

SECRET_ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["secretName", "mountPath"],
    "additionalProperties": False,
    "properties": {
        "secretName": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": DNS1123_SUBDOMAIN},
        "mountPath": {"type": "string", "minLength": 2, "maxLength": 4096, "pattern": MOUNT_PATH},
        "defaultMode": {"type": "integer", "minimum": 0, "maximum": 511},
    },
}
SECRETS_LIST_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": SECRET_ENTRY_SCHEMA,
    # x-kubernetes-list-type: map, keyed by mountPath: checked by check_secret_entries (JSON Schema cannot).
}

_DNS1123 = re.compile(DNS1123_SUBDOMAIN)
_MOUNT = re.compile(MOUNT_PATH, re.DOTALL)


def check_secret_entries(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The CRD's rules for `spec.podTemplate.volumes.secrets`; returns the problems (empty when valid)."""
    problems: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"secrets[{index}]"
        extra = set(entry) - {"secretName", "mountPath", "defaultMode"}
        if extra:
            problems.append(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        name, path, mode = entry.get("secretName"), entry.get("mountPath"), entry.get("defaultMode")
        if not isinstance(name, str) or not 1 <= len(name) <= 253 or not _DNS1123.match(name):
            problems.append(f"{where}: secretName must be a DNS-1123 subdomain of 1-253 characters")
        if not isinstance(path, str) or not 2 <= len(path) <= 4096 or not _MOUNT.match(path):
            problems.append(f"{where}: mountPath must match ^/[^/].*$ (2-4096 characters)")
        elif path in seen:
            problems.append(f"{where}: mountPath {path} is used twice (the list is keyed by mountPath)")
        else:
            seen.add(path)
        if mode is not None and (isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 511):
            problems.append(f"{where}: defaultMode must be an integer 0-511 (0000-0777 octal)")
    return problems


@dataclass(frozen=True, slots=True)
class SecretMount:
    secret_name: str
    mount_path: str
    default_mode: int = DEFAULT_MODE

    def entry(self) -> dict[str, Any]:
        return {
            "secretName": self.secret_name,
            "mountPath": self.mount_path,
            "defaultMode": self.default_mode,
        }


def parse_secret_option(
    option: str, *, root: str = DEFAULT_ROOT, default_mode: int = DEFAULT_MODE
) -> SecretMount:
    """`NAME` (mounted at ROOT/NAME) or `NAME:/mount/path`."""
    name, colon, path = option.partition(":")
    if not colon:
        path = f"{root.rstrip('/')}/{name}"
    return SecretMount(secret_name=name, mount_path=path, default_mode=default_mode)


def secret_volumes(mounts: Iterable[SecretMount]) -> list[dict[str, Any]]:
    """The `spec.podTemplate.volumes.secrets` entries, checked against the CRD's rules."""
    entries = [m.entry() for m in mounts]
    problems = check_secret_entries(entries)
    if problems:
        raise WorkspaceError("; ".join(problems))
    return entries


def workspace_patch(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A merge patch for a Workspace (`kubectl patch workspace NAME --type merge -p ...`).

    A merge patch replaces the whole list: give every secret the workspace should mount (for a workspace
    that mounts none yet; otherwise `workspace_json_patch` appends).
    """
    return {"spec": {"podTemplate": {"volumes": {"secrets": [dict(e) for e in entries]}}}}


SECRETS_POINTER = "/spec/podTemplate/volumes/secrets"


def workspace_json_patch(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A JSON patch (RFC 6902; `kubectl patch workspace NAME --type json -p ...`) that appends the entries
    to the workspace's `secrets` list and keeps the ones it has. The list must exist (it may be empty):
    an "add" at `/-` of a list that is not there fails, and changes nothing."""
    return [{"op": "add", "path": f"{SECRETS_POINTER}/-", "value": dict(e)} for e in entries]


@dataclass(frozen=True, slots=True)
class WorkspaceMount:
    namespace: str
    workspace: str
    mount_path: str
    default_mode: int | None


def _workspace_items(workspaces: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(workspaces, Mapping):
        if workspaces.get("kind") == "Workspace":
            return [workspaces]
        return list(workspaces.get("items") or [])  # a WorkspaceList, or `kubectl get -o json`'s List
    return list(workspaces)


def workspaces_by_secret(
    workspaces: Mapping[str, Any] | Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], list[WorkspaceMount]]:
    """(namespace, secret name) -> the workspaces that mount it, and where. Objects that are not
    kubeflow.org Workspaces are skipped; a Secret is namespaced, so the key carries the namespace."""
    result: dict[tuple[str, str], list[WorkspaceMount]] = {}
    for ws in _workspace_items(workspaces):
        if ws.get("kind", "Workspace") != "Workspace" or not str(
            ws.get("apiVersion", "kubeflow.org/")
        ).startswith("kubeflow.org/"):
            continue
        meta = ws.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
        volumes = (((ws.get("spec") or {}).get("podTemplate") or {}).get("volumes") or {}).get(
            "secrets"
        ) or []
        for entry in volumes:
            secret = entry.get("secretName")
            if not isinstance(secret, str):
                continue
            result.setdefault((namespace, secret), []).append(
                WorkspaceMount(
                    namespace=namespace,
                    workspace=name,
                    mount_path=str(entry.get("mountPath")),
                    default_mode=entry.get("defaultMode"),
                )
            )
    for mounts in result.values():
        mounts.sort(key=lambda m: (m.workspace, m.mount_path))
    return dict(sorted(result.items()))
