"""sealbox's own checks of a pod spec: what the Kubernetes schemas do not catch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sealbox.integrations.kubernetes.names import (
    CREDENTIAL_VOLUME,
    INIT_CONTAINER,
    REFRESH_CONTAINER,
    SECRETS_VOLUME,
    TOKEN_VOLUME,
)


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
