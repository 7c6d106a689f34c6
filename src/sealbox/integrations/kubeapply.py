"""The apply mode: sealbox itself puts a session's objects through the Kubernetes API, and removes them.

`sealbox kube pod --apply` creates the session pod and then its short-lived credential Secret, owned by the
pod (so the cluster's garbage collector removes it with the pod); `sealbox kube sync --apply` creates or
updates the sync-mode Secret; `sealbox kube end` ends the session and deletes every object labelled with it
(`sealbox.io/session=<id>`, `app.kubernetes.io/managed-by=sealbox`). Calls go through the official
`kubernetes` client (`pip install 'sealbox[kubernetes]'`), configured from a kubeconfig (`--kubeconfig`,
else `KUBECONFIG`, else `~/.kube/config`) or, inside a pod, from its service account.

Objects are only ever replaced or deleted when they carry sealbox's labels: a Secret of the same name that
someone else made is left alone, and the command fails instead. No value, credential or token appears in
an error raised here: messages name the object and the API server's reason, never a body.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sealbox.errors import KubeAPIError
from sealbox.integrations.kubernetes import LABEL_MANAGED_BY, LABEL_SESSION, MANAGED_BY

if TYPE_CHECKING:
    from kubernetes.client import CoreV1Api


@dataclass(frozen=True, kw_only=True, slots=True)
class Applied:
    kind: str
    namespace: str
    name: str
    action: str  # created, replaced, deleted


def session_selector(session_id: str) -> str:
    return f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_SESSION}={session_id}"


def core_api(*, kubeconfig: str | None = None, context: str | None = None) -> CoreV1Api:
    """A CoreV1Api from the usual places: `kubeconfig`, KUBECONFIG, ~/.kube/config, else in-cluster."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise KubeAPIError(
            "the apply mode needs the kubernetes client: pip install 'sealbox[kubernetes]'"
        ) from None
    try:
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except config.ConfigException:
        if kubeconfig is not None or context is not None:
            raise KubeAPIError("cannot load that kubeconfig (or context)") from None
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            raise KubeAPIError(
                "no kubeconfig found (KUBECONFIG, ~/.kube/config) and not inside a pod"
            ) from None
        api_client = client.ApiClient()
    return client.CoreV1Api(api_client)


def _reason(exc: Exception) -> str:
    """What the API server said, without any body: the HTTP status and its reason phrase."""
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status is None:
        return "the API server cannot be reached"
    return f"the API server answered {status} {reason or ''}".rstrip()


class KubeApplier:
    """Creates, replaces and deletes a session's objects through one CoreV1Api."""

    def __init__(self, api: CoreV1Api) -> None:
        self.api = api

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise KubeAPIError(f"{what}: {_reason(exc)}") from None
        except (HTTPError, OSError):
            raise KubeAPIError(f"{what}: the API server cannot be reached") from None

    def _status(self, fn: Any, *args: Any, **kwargs: Any) -> int | None:
        """Call; return None on success or the HTTP status of a refusal (to branch on 404/409)."""
        from kubernetes.client.exceptions import ApiException

        try:
            # The answer's body is not needed (and a pod's DELETE answers with the Pod, a Secret's with a
            # Status): skip the client's model deserialisation.
            fn(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            return int(exc.status or 0)
        return None

    def create_pod(self, pod: Mapping[str, Any]) -> tuple[str, str]:
        """Create the pod; returns its (name, uid) for the credential Secret's owner reference."""
        meta = pod.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if not namespace or not name:
            raise KubeAPIError("the pod needs metadata.name and a namespace (--namespace)")
        created = self._call(
            f"create pod {namespace}/{name}", self.api.create_namespaced_pod, namespace, dict(pod)
        )
        return name, str(created.metadata.uid)

    def put_secret(self, secret: Mapping[str, Any], *, replace: bool) -> Applied:
        """Create the Secret; if one of that name exists and is sealbox's, replace it when `replace`
        (an immutable credential Secret is deleted and made anew), else fail."""
        meta = secret.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if not namespace:
            raise KubeAPIError("the Secret needs a namespace (--namespace)")
        what = f"Secret {namespace}/{name}"
        body = copy.deepcopy(dict(secret))
        refused = self._status(self.api.create_namespaced_secret, namespace, body)
        if refused is None:
            return Applied(kind="Secret", namespace=namespace, name=name, action="created")
        if refused != 409:
            raise KubeAPIError(f"create {what}: the API server answered {refused}")
        existing = self._call(f"read {what}", self.api.read_namespaced_secret, name, namespace)
        labels = existing.metadata.labels or {}
        if labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
            raise KubeAPIError(f"{what} exists and is not sealbox's; choose another name")
        if not replace:
            raise KubeAPIError(f"{what} exists; choose another name")
        if existing.immutable or body.get("immutable"):
            refused = self._status(self.api.delete_namespaced_secret, name, namespace)
            if refused not in (None, 404):
                raise KubeAPIError(f"delete {what}: the API server answered {refused}")
            self._call(f"create {what}", self.api.create_namespaced_secret, namespace, body)
        else:
            body["metadata"]["resourceVersion"] = existing.metadata.resource_version
            self._call(f"replace {what}", self.api.replace_namespaced_secret, name, namespace, body)
        return Applied(kind="Secret", namespace=namespace, name=name, action="replaced")

    def delete_pod(self, namespace: str, name: str) -> None:
        self._status(self.api.delete_namespaced_pod, name, namespace)

    def sessions_in(self, namespace: str) -> set[str]:
        """The sessions named by the labels of sealbox's Secrets in `namespace`."""
        found = self._call(
            f"list Secrets in {namespace}",
            self.api.list_namespaced_secret,
            namespace,
            label_selector=f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_SESSION}",
        )
        return {str((item.metadata.labels or {}).get(LABEL_SESSION)) for item in found.items}

    def delete_session_objects(self, session_id: str, namespace: str, *, pods: bool = False) -> list[Applied]:
        """Delete the Secrets (and with `pods`, the pods) labelled with this session in `namespace`."""
        selector = session_selector(session_id)
        done: list[Applied] = []
        kinds: list[tuple[str, Any, Any]] = [
            ("Secret", self.api.list_namespaced_secret, self.api.delete_namespaced_secret)
        ]
        if pods:
            kinds.append(("Pod", self.api.list_namespaced_pod, self.api.delete_namespaced_pod))
        for kind, list_fn, delete_fn in kinds:
            found = self._call(f"list {kind}s in {namespace}", list_fn, namespace, label_selector=selector)
            for item in found.items:
                name = str(item.metadata.name)
                refused = self._status(delete_fn, name, namespace)
                if refused not in (None, 404):
                    raise KubeAPIError(f"delete {kind} {namespace}/{name}: the API server answered {refused}")
                done.append(Applied(kind=kind, namespace=namespace, name=name, action="deleted"))
        return done
