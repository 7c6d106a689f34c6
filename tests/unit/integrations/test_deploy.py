"""The deployment (issue 7): deploy/kustomize/base rendered and validated, and the Dockerfile checked.

`render()` assembles the base as kustomize would for the features it uses (resources, namespace, labels
without selectors) and refuses any other feature, so a new one cannot slip in untested; the real kustomize
(`kubectl kustomize`) must build the same objects, and the Helm chart must render them too
(tests/integration/test_kubernetes_chart.py). Every object is then validated like the session pods
(validation.py), and the pieces are checked against each other: the NetworkPolicy admits exactly the
server and the session pods that `patch_pod` labels, the server's keeper URL is the keeper Service, every
SEALBOX_* variable is a setting the server reads, and the image is the one the Dockerfile builds.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from typer.testing import CliRunner

import sealbox
from sealbox.cli.main import app
from sealbox.config import ServerSettings
from sealbox.errors import PodSpecError
from sealbox.integrations import kubernetes as k8s
from sealbox.integrations.kubeflow import check_secret_entries
from sealbox.integrations.kubernetes import patch_pod
from tests.unit.integrations.pods import notebook_pod
from tests.unit.integrations.test_kubernetes_pod import launch
from tests.unit.integrations.validation import validate

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "deploy" / "kustomize" / "base"
_SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "resources"}
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def render(base: Path = BASE) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - _SUPPORTED
    assert not unsupported, f"render() does not implement {unsupported}; extend it (and its tests)"
    objects: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        objects.extend(d for d in yaml.safe_load_all((base / resource).read_text()) if d)
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if kustomization.get("namespace") and obj["kind"] not in _CLUSTER_SCOPED:
            meta["namespace"] = kustomization["namespace"]
        for group in kustomization.get("labels") or []:
            assert group.get("includeSelectors", False) is False and not group.get("includeTemplates")
            meta["labels"] = {**(meta.get("labels") or {}), **group["pairs"]}
    return objects


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render()


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    spec = obj["spec"]["template"]["spec"]
    return next(c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == name)


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def test_every_object_is_valid(objects: list[dict[str, Any]]) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert kinds == [
        ("Deployment", "sealbox-keeper"),
        ("Deployment", "sealbox-server"),
        ("Namespace", "sealbox"),
        ("NetworkPolicy", "sealbox-keeper"),
        ("PodDisruptionBudget", "sealbox-server"),
        ("Service", "sealbox-keeper"),
        ("Service", "sealbox-server"),
    ]
    for obj in objects:
        validate(obj)
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "sealbox"
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "sealbox"


def test_pods_are_non_root_with_read_only_roots(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        spec = obj["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["automountServiceAccountToken"] is False
        for c in [*spec["initContainers"], *spec["containers"]]:
            ctx = c["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert c["image"] == k8s.IMAGE == f"sealbox:{sealbox.__version__}"
        for v in spec["volumes"]:
            if "secret" in v:
                assert v["secret"]["defaultMode"] == 0o400


def test_server_is_stateless_replicated_on_postgres(objects: list[dict[str, Any]]) -> None:
    server = find(objects, "Deployment", "sealbox-server")
    assert server["spec"]["replicas"] == 2
    main = container(server, "server")
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "tcpSocket" in main["livenessProbe"]
    env = env_of(main)
    assert env["SEALBOX_DATABASE_URL"] == {"secretKeyRef": {"name": "sealbox-database", "key": "url"}}
    settings = set(ServerSettings.model_fields)
    for name in env:
        assert name.removeprefix("SEALBOX_").lower() in settings, f"{name} is no server setting"
    # Key files: staged from the Secret into the memory folder the server reads them from.
    stage = container(server, "stage-keys")
    assert stage["command"][:3] == ["sealbox", "kube", "stage-keys"]
    source, target = stage["command"][3:]
    for key in ("SEALBOX_MASTER_KEY_PATH", "SEALBOX_SIGNING_KEY_PATH", "SEALBOX_KEEPER_PUBLIC_KEY_PATH"):
        assert str(Path(env[key]).parent) == target
    volumes = {v["name"]: v for v in server["spec"]["template"]["spec"]["volumes"]}
    source_mount = next(m for m in stage["volumeMounts"] if m["mountPath"] == source)
    assert volumes[source_mount["name"]]["secret"]["secretName"] == "sealbox-server-keys"
    run_mount = next(m for m in main["volumeMounts"] if target.startswith(m["mountPath"]))
    assert volumes[run_mount["name"]]["emptyDir"]["medium"] == "Memory"
    assert env["SEALBOX_DATA_DIR"].startswith(run_mount["mountPath"])


def test_server_reaches_the_keeper_service(objects: list[dict[str, Any]]) -> None:
    env = env_of(container(find(objects, "Deployment", "sealbox-server"), "server"))
    keeper_service = find(objects, "Service", "sealbox-keeper")
    port = keeper_service["spec"]["ports"][0]["port"]
    assert env["SEALBOX_KEEPER_URL"] == f"http://sealbox-keeper:{port}"
    assert (
        env["SEALBOX_PUBLIC_KEEPER_URL"]
        == f"http://sealbox-keeper.{keeper_service['metadata']['namespace']}.svc:{port}"
    )
    keeper = find(objects, "Deployment", "sealbox-keeper")
    main = container(keeper, "keeper")
    assert main["ports"][0]["containerPort"] == port
    assert main["args"][main["args"].index("--listen") + 1] == f"tcp://0.0.0.0:{port}"
    selector = keeper_service["spec"]["selector"]
    assert selector.items() <= keeper["spec"]["template"]["metadata"]["labels"].items()


def test_keeper_key_dir_is_its_staged_key_secret(objects: list[dict[str, Any]]) -> None:
    keeper = find(objects, "Deployment", "sealbox-keeper")
    stage, main = container(keeper, "stage-keys"), container(keeper, "keeper")
    source, target = stage["command"][3:]
    assert main["args"][main["args"].index("--dir") + 1] == target
    volumes = {v["name"]: v for v in keeper["spec"]["template"]["spec"]["volumes"]}
    source_mount = next(m for m in stage["volumeMounts"] if m["mountPath"] == source)
    assert volumes[source_mount["name"]]["secret"]["secretName"] == "sealbox-keeper-keys"
    key_mount = next(m for m in main["volumeMounts"] if target.startswith(m["mountPath"] + "/"))
    assert volumes[key_mount["name"]]["emptyDir"]["medium"] == "Memory"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return selector.get("matchLabels", {}).items() <= labels.items() and not selector.get("matchExpressions")


def test_network_policy_admits_only_the_server_and_session_pods(objects: list[dict[str, Any]]) -> None:
    policy = find(objects, "NetworkPolicy", "sealbox-keeper")["spec"]
    keeper = find(objects, "Deployment", "sealbox-keeper")["spec"]["template"]["metadata"]["labels"]
    server = find(objects, "Deployment", "sealbox-server")["spec"]["template"]["metadata"]["labels"]
    assert _selects(policy["podSelector"], keeper)
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8481}]
    peers = rule["from"]

    def admitted(labels: dict[str, str], *, other_namespace: bool) -> bool:
        return any(
            _selects(p.get("podSelector", {}), labels)
            and ("namespaceSelector" in p if other_namespace else True)
            and not p.get("ipBlock")
            for p in peers
        )

    session_pod = patch_pod(notebook_pod(), launch())["metadata"]["labels"]
    assert admitted(server, other_namespace=False)
    assert admitted(session_pod, other_namespace=True)
    assert not admitted(notebook_pod()["metadata"]["labels"], other_namespace=True)  # an unpatched pod
    assert not admitted({"app": "anything"}, other_namespace=False)
    assert all(p.get("namespaceSelector") in (None, {}) for p in peers)


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(re.fullmatch(r'RUN pip install "?\.(\[[a-z,]+\])?"? .*', line) for line in lines)
    user = [line for line in lines if line.startswith("USER ")]
    assert user == ["USER 10001:10001"]
    assert lines.index(user[0]) > max(i for i, line in enumerate(lines) if line.startswith("RUN "))
    assert 'ENTRYPOINT ["sealbox"]' in lines
    # Only what the package needs goes into the image (never .venv, data dirs or keys).
    copies = [line for line in lines if line.startswith("COPY ")]
    assert copies == ["COPY pyproject.toml README.md ./", "COPY src ./src"]


def test_readme_creates_the_secrets_the_manifests_use(objects: list[dict[str, Any]]) -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    created = set(re.findall(r"kubectl -n sealbox create secret generic ([a-z-]+)", readme))
    used: set[str] = set()
    for obj in objects:
        for spec in [o["spec"]["template"]["spec"] for o in [obj] if o["kind"] == "Deployment"]:
            used |= {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
            for c in spec["containers"]:
                used |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "valueFrom" in e}
    assert created == used == {"sealbox-server-keys", "sealbox-keeper-keys", "sealbox-database"}


# Kubeflow's own sample Workspace, as far as these tests need it: our transcription of the data in
# kubeflow/notebooks@8b6105775132f4ea0af2a1dc3833519789651233 (the commit kubeflow.py's schema is pinned
# to), workspaces/controller/manifests/kustomize/samples/jupyterlab_v1beta1_workspace.yaml.
KUBEFLOW_SAMPLE_WORKSPACE: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v1beta1",
    "kind": "Workspace",
    "metadata": {"name": "jupyterlab-workspace"},
    "spec": {
        "paused": False,
        "displayName": "Example JupyterLab Workspace",
        "kind": "jupyterlab",
        "podTemplate": {
            "podMetadata": {"labels": {}, "annotations": {}},
            "volumes": {
                "home": "workspace-home-pvc",
                "data": [{"pvcName": "workspace-data-pvc", "mountPath": "/data/my-data", "readOnly": False}],
                "secrets": [
                    {
                        "secretName": "workspace-secret",  # pragma: allowlist secret -- a Secret's name
                        "mountPath": "/secrets/my-secret",
                        "defaultMode": 420,
                    }
                ],
            },
            "options": {"imageConfig": "jupyter-scipy:v1.10.0", "podConfig": "tiny_cpu"},
        },
    },
}


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, what `kubectl patch --type merge` does with a custom resource."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _readme_kubeflow_patch() -> tuple[list[str], list[str]]:
    """The README's `kubectl ... patch workspace` command: its kubectl part and the sealbox command in it."""
    readme = (ROOT / "deploy" / "README.md").read_text()
    start = readme.index("kubectl -n team-a patch workspace")
    command = readme[start:].split("\n```", 1)[0].split("\nkubectl get", 1)[0].replace("\\\n", " ")
    inner = re.search(r'"\$\((sealbox [^)]*)\)"', command)
    assert inner is not None, command
    return shlex.split(command[: inner.start()]), shlex.split(inner.group(1))


def test_readme_kubeflow_patch_keeps_what_the_workspace_mounts() -> None:
    """Issue 12, new-user finding 12: the README's merge patch replaced a workspace's whole `secrets`
    list (on Kubeflow's sample, `workspace-secret` was lost). The command it shows now is a JSON patch
    that appends; applied to Kubeflow's sample with a real RFC 6902 implementation, the entry stays."""
    kubectl, sealbox = _readme_kubeflow_patch()
    assert kubectl[kubectl.index("--type") + 1] == "json", kubectl
    assert sealbox[0] == "sealbox"
    emitted = CliRunner().invoke(app, sealbox[1:])
    assert emitted.exit_code == 0, emitted.output
    patched = jsonpatch.apply_patch(KUBEFLOW_SAMPLE_WORKSPACE, json.loads(emitted.stdout))
    secrets = patched["spec"]["podTemplate"]["volumes"]["secrets"]
    assert [e["secretName"] for e in secrets] == ["workspace-secret", "warehouse-creds"]
    assert secrets[0] == KUBEFLOW_SAMPLE_WORKSPACE["spec"]["podTemplate"]["volumes"]["secrets"][0]
    assert check_secret_entries(secrets) == []
    # What the README says about the alternative: a merge patch replaces the list (so only for an empty
    # one), and an append needs the list to be there.
    merge = CliRunner().invoke(app, [*sealbox[1:-1], "--patch", "--format", "json"])
    assert merge.exit_code == 0, merge.output
    merged = _merge_patch(KUBEFLOW_SAMPLE_WORKSPACE, json.loads(merge.stdout))
    assert [e["secretName"] for e in merged["spec"]["podTemplate"]["volumes"]["secrets"]] == [
        "warehouse-creds"
    ]
    without = copy.deepcopy(KUBEFLOW_SAMPLE_WORKSPACE)
    del without["spec"]["podTemplate"]["volumes"]["secrets"]
    with pytest.raises((jsonpatch.JsonPatchConflict, jsonpatch.JsonPointerException)):
        jsonpatch.apply_patch(without, json.loads(emitted.stdout))


def test_readme_says_what_happens_to_a_pod_without_fsgroup() -> None:
    """The README said fsGroup is "set when missing", while `sealbox kube pod` refused a pod without one.
    It now says: set from --fs-group, else from runAsGroup; with neither, refused in one line."""
    readme = " ".join((ROOT / "deploy" / "README.md").read_text().split())
    assert "set when missing" not in readme
    assert "to `--fs-group`" in readme and "else to the containers' `runAsGroup`" in readme
    assert "a non-root pod with neither is refused" in readme
    pod = notebook_pod()
    pod["spec"].pop("securityContext", None)
    for c in pod["spec"]["containers"]:
        c["securityContext"].pop("runAsGroup", None)
    with pytest.raises(PodSpecError, match="no fsGroup"):
        patch_pod(pod, launch())
    assert patch_pod(pod, launch(fs_group=4321))["spec"]["securityContext"]["fsGroup"] == 4321
    pod["spec"]["containers"][0]["securityContext"]["runAsGroup"] = 100
    assert patch_pod(pod, launch())["spec"]["securityContext"]["fsGroup"] == 100
