"""The short-lived Kubernetes Secret that carries a session's one-time credential into its pod."""

from __future__ import annotations

from typing import Any

from sealbox.errors import PodSpecError
from sealbox.integrations.kubernetes.names import (
    ANNOTATION_PURPOSE,
    CREDENTIAL_KEY,
    LABEL_MANAGED_BY,
    LABEL_SESSION,
    MANAGED_BY,
    SESSION_KEY,
    b64,
    check_name,
    check_session_id,
)


def credential_secret(
    *,
    name: str,
    session_id: str,
    credential: str,
    namespace: str | None = None,
    owner_pod: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The short-lived Secret that carries a session credential (and its session id) into a pod; nothing else.

    `owner_pod` = (pod name, pod uid) makes the Secret garbage-collected with the pod. Either way the
    credential is one-time and short-lived (60 s unless the session asked for up to 900 s): delete the
    Secret once the pod has started (`sealbox kube end` deletes what is labelled with the session).
    """
    if not credential or any(c in credential for c in "\r\n\x00"):
        raise PodSpecError("the session credential is one line of text")
    metadata: dict[str, Any] = {
        "name": check_name(name, "the Secret's name"),
        "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_SESSION: check_session_id(session_id)},
        "annotations": {ANNOTATION_PURPOSE: "session-credential"},
    }
    if namespace is not None:
        metadata["namespace"] = check_name(namespace, "the namespace")
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
        "data": {CREDENTIAL_KEY: b64(credential.encode()), SESSION_KEY: b64(session_id.encode())},
    }
