"""Validating Kubernetes objects without a cluster: the client's models, the pinned schemas, sealbox's checks.

No kube-apiserver can run on these machines. Each object is checked three ways:
- the `kubernetes` client's models: the object is deserialized into its V1 model and serialized back, and
  must come back equal (a misspelt or unknown field is dropped by the model, so the round trip catches it);
- `kubernetes-validate --strict` against the pinned Kubernetes version's OpenAPI schemas (strict: no
  additional properties anywhere);
- `sealbox.integrations.kubernetes.check_pod_spec` on every pod spec, for what both miss.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import kubernetes_validate
from kubernetes.client import ApiClient

from sealbox.integrations.kubernetes import check_pod_spec

# The newest version kubernetes-validate ships a strict schema for (pinned: a new one is a conscious bump).
K8S_VERSION = "1.37.0"

_MODELS = {
    ("v1", "Pod"): "V1Pod",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("v1", "Namespace"): "V1Namespace",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
}


def model_round_trip(obj: dict[str, Any], model: str | None = None) -> Any:
    """Deserialize into the client's model and back; the result must equal the input."""
    name = model or _MODELS[(obj["apiVersion"], obj["kind"])]
    with ApiClient() as api:
        instance = api._ApiClient__deserialize(copy.deepcopy(obj), name)
        back = api.sanitize_for_serialization(instance)
    assert _normalise(back) == _normalise(obj), f"{name}: the model dropped or changed fields"
    return instance


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def strict_schema(obj: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        raise AssertionError(f"{obj['kind']} {path}: {exc.message}") from None


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] == "Pod":
        return [obj["spec"]]
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return [obj["spec"]["template"]["spec"]]
    return []


def validate(obj: dict[str, Any], *, values: Iterable[str | bytes] = ()) -> None:
    """All three checks; raises AssertionError naming the first problem."""
    model_round_trip(obj)
    strict_schema(obj)
    for spec in pod_specs(obj):
        problems = check_pod_spec(spec, values=values)
        assert problems == [], problems
