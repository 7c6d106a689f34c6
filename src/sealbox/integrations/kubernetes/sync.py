"""The weaker, explicit sync mode: a chosen secret's files in a namespace Secret (etcd then holds them)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sealbox.errors import PodSpecError
from sealbox.integrations.kubernetes.names import (
    ANNOTATION_KIND,
    ANNOTATION_PURPOSE,
    ANNOTATION_SECRET,
    ANNOTATION_VERSION,
    LABEL_MANAGED_BY,
    LABEL_SESSION,
    LABEL_SYNC,
    MANAGED_BY,
    b64,
    check_name,
    check_session_id,
)
from sealbox.launcher.redeem import Delivered

_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


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
            "name": check_name(name, "the Secret's name"),
            "namespace": check_name(namespace, "the namespace"),
            "labels": {
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_SESSION: check_session_id(session_id),
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
        "data": {k: b64(v) for k, v in sorted(data.items())},
    }
