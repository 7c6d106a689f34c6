"""Kubernetes session pods: values reach the pod through an init container, never through etcd (by default).

The flow, for a platform (a spawner, an operator, a person with kubectl) that starts a pod for a user:

1. Create a session for the user (`POST /api/v1/sessions`, or `/api/v1/service/sessions` as a service account
   acting for the user). It returns the session id and a one-time session credential (valid 60 s, or up to
   900 s when the session asks with `credential_ttl_seconds`, for pods that start late).
2. `credential_secret(...)`: a short-lived Kubernetes Secret holding only that credential and the session id.
   The credential is spent by the first redemption; what etcd keeps afterwards opens nothing.
3. `patch_pod_spec(...)` (or `patch_pod` with a `KubeSession`, or the KubeSpawner `modify_pod_hook`): an init
   container running `sealbox kube init` redeems the credential into an `emptyDir` with `medium: Memory`; the
   app containers mount that folder read-only at the mount path (default `/secrets`) with
   `SEALBOX_SECRETS_DIR` set, so `sealbox.get_secret(NAME)` finds the files. With `refresh=True` a native
   sidecar (`sealbox kube refresh`) swaps in replaced values atomically, as `sealbox run --refresh` does.

Only files are delivered into pods: a value in a container's environment would sit in the pod spec, i.e. in
etcd. Env mappings of a session are therefore not delivered here; code reads the files (or `get_secret`).

The weaker, explicit alternative is `sync_secret_manifest`: a chosen secret's files in a namespace Secret,
for platforms that can only mount Kubernetes Secrets (Kubeflow Notebooks). etcd then holds the value.

Every function returns new dicts and leaves its input alone. `check_pod_spec` holds sealbox's own checks
for what the Kubernetes schemas do not catch (`medium` spelled exactly `Memory`, `defaultMode` 0-511,
read-only mounts, no value in any environment variable).

The modules: `names` (labels, volumes, paths), `credential` (the credential Secret),
`pod_spec` (`KubeSession`, `patch_pod_spec`, `patch_pod`), `spawner_hook` (`modify_pod_hook`), `sync` (the
namespace Secret) and `checks` (`check_pod_spec`). Everything public is importable from this package.
"""

from __future__ import annotations

from sealbox.errors import PodSpecError
from sealbox.integrations.kubernetes.checks import check_pod_spec
from sealbox.integrations.kubernetes.credential import credential_secret
from sealbox.integrations.kubernetes.names import (
    ANNOTATION_KIND,
    ANNOTATION_PURPOSE,
    ANNOTATION_SECRET,
    ANNOTATION_VERSION,
    CREDENTIAL_DIR,
    CREDENTIAL_KEY,
    CREDENTIAL_MODE,
    CREDENTIAL_VOLUME,
    DEFAULT_REFRESH_INTERVAL_S,
    DEFAULT_SIZE_LIMIT,
    IMAGE,
    INIT_CONTAINER,
    LABEL_MANAGED_BY,
    LABEL_SESSION,
    LABEL_SESSION_SIDE,
    LABEL_SYNC,
    MANAGED_BY,
    REFRESH_CONTAINER,
    SECRETS_VOLUME,
    SESSION_KEY,
    SUBDIR,
    TARGET,
    TOKEN_DIR,
    TOKEN_KEY,
    TOKEN_VOLUME,
    VOLUME_ROOT,
    session_pod_labels,
)
from sealbox.integrations.kubernetes.pod_spec import KubeSession, patch_pod, patch_pod_spec
from sealbox.integrations.kubernetes.spawner_hook import SPAWNER_ATTRIBUTE, modify_pod_hook
from sealbox.integrations.kubernetes.sync import secret_data, sync_secret_manifest

__all__ = [
    "ANNOTATION_KIND",
    "ANNOTATION_PURPOSE",
    "ANNOTATION_SECRET",
    "ANNOTATION_VERSION",
    "CREDENTIAL_DIR",
    "CREDENTIAL_KEY",
    "CREDENTIAL_MODE",
    "CREDENTIAL_VOLUME",
    "DEFAULT_REFRESH_INTERVAL_S",
    "DEFAULT_SIZE_LIMIT",
    "IMAGE",
    "INIT_CONTAINER",
    "LABEL_MANAGED_BY",
    "LABEL_SESSION",
    "LABEL_SESSION_SIDE",
    "LABEL_SYNC",
    "MANAGED_BY",
    "REFRESH_CONTAINER",
    "SECRETS_VOLUME",
    "SESSION_KEY",
    "SPAWNER_ATTRIBUTE",
    "SUBDIR",
    "TARGET",
    "TOKEN_DIR",
    "TOKEN_KEY",
    "TOKEN_VOLUME",
    "VOLUME_ROOT",
    "KubeSession",
    "PodSpecError",
    "check_pod_spec",
    "credential_secret",
    "modify_pod_hook",
    "patch_pod",
    "patch_pod_spec",
    "secret_data",
    "session_pod_labels",
    "sync_secret_manifest",
]
