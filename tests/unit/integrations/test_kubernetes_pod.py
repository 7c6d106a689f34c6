"""Session pods (issue 7, "Kubernetes session pods"): what `patch_pod_spec` and friends emit.

No cluster runs here: every object is validated with the kubernetes client's models, with
kubernetes-validate --strict against the pinned version, and with sealbox's own checks (validation.py).
The init container's command itself runs against a real sealbox in tests/integration/test_kubernetes.py.
"""

from __future__ import annotations

import base64
import copy
import json
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient, V1Pod

from sealbox.domain.kinds import Kind, encode_fields
from sealbox.errors import PodSpecError
from sealbox.integrations import kubernetes as k8s
from sealbox.integrations.kubernetes import (
    KubeSession,
    check_pod_spec,
    credential_secret,
    modify_pod_hook,
    patch_pod,
    patch_pod_spec,
    sync_secret_manifest,
)
from sealbox.launcher.redeem import Delivered
from tests.unit.integrations.pods import notebook_pod
from tests.unit.integrations.validation import K8S_VERSION, strict_schema, validate

SESSION = "0123456789abcdef0123456789abcdef"
CREDENTIAL = "sbl_0123456789abcdef_" + "A" * 43
SERVER = "http://sealbox-server.sealbox.svc:8480"
KEEPER = "http://sealbox-keeper.sealbox.svc:8481"


def launch(**overrides: Any) -> KubeSession:
    values: dict[str, Any] = {
        "session_id": SESSION,
        "credential_secret_name": "sealbox-session-alice",
        "server_url": SERVER,
        "keeper_url": KEEPER,
    }
    values.update(overrides)
    return KubeSession(**values)


def refresh_launch() -> KubeSession:
    return launch(
        refresh=True,
        service_token_secret_name="sealbox-hub-token",
        on_behalf_of="alice",
        refresh_interval=30,
    )


def by_name(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(i for i in items if i["name"] == name)


def test_patched_notebook_pod_is_valid_and_complete() -> None:
    original = notebook_pod()
    pod = patch_pod(original, launch())
    validate(pod, values=[CREDENTIAL])
    assert original == notebook_pod(), "the input must not change"
    spec = pod["spec"]
    assert pod["metadata"]["labels"][k8s.LABEL_SESSION_SIDE] == "true"
    assert pod["metadata"]["labels"][k8s.LABEL_SESSION] == SESSION
    assert pod["metadata"]["labels"]["hub.jupyter.org/username"] == "alice"

    # The emptyDir is in memory; the credential Secret's volume is 0400 and holds only its two keys.
    secrets_volume = by_name(spec["volumes"], k8s.SECRETS_VOLUME)
    assert secrets_volume["emptyDir"]["medium"] == "Memory"
    credential_volume = by_name(spec["volumes"], k8s.CREDENTIAL_VOLUME)["secret"]
    assert credential_volume["secretName"] == "sealbox-session-alice"
    assert credential_volume["defaultMode"] == 0o400
    assert [i["key"] for i in credential_volume["items"]] == ["credential", "session-id"]

    # The init container runs after the platform's own, as the notebook's user, nothing secret in argv/env.
    names = [c["name"] for c in spec["initContainers"]]
    assert names == ["block-cloud-metadata", k8s.INIT_CONTAINER]
    init = by_name(spec["initContainers"], k8s.INIT_CONTAINER)
    assert init["command"] == ["sealbox", "kube", "init"]
    assert "env" not in init
    assert init["securityContext"]["runAsUser"] == 1000
    assert init["securityContext"]["runAsGroup"] == 100
    assert init["securityContext"]["runAsNonRoot"] is True
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    assert init["args"][init["args"].index("--credential-file") + 1] == "/run/sealbox-credential/credential"
    assert init["args"][init["args"].index("--session-id-file") + 1] == "/run/sealbox-credential/session-id"
    assert "--require-memory" in init["args"]
    assert SESSION not in json.dumps(spec), "the session id reaches the pod through the Secret only"
    assert {m["name"] for m in init["volumeMounts"]} == {k8s.SECRETS_VOLUME, k8s.CREDENTIAL_VOLUME}

    # The notebook sees the folder read-only at /secrets, through the subfolder the init container made.
    notebook = by_name(spec["containers"], "notebook")
    mount = by_name(notebook["volumeMounts"], k8s.SECRETS_VOLUME)
    assert mount == {
        "name": k8s.SECRETS_VOLUME,
        "mountPath": "/secrets",
        "subPath": "secrets",
        "readOnly": True,
    }
    assert {"name": "SEALBOX_SECRETS_DIR", "value": "/secrets"} in notebook["env"]
    assert k8s.CREDENTIAL_VOLUME not in {m["name"] for m in notebook["volumeMounts"]}
    assert spec["securityContext"]["fsGroup"] == 100  # kept


def test_refresh_adds_a_native_sidecar_with_the_token_for_it_alone() -> None:
    pod = patch_pod(notebook_pod(), refresh_launch())
    validate(pod, values=[CREDENTIAL])
    spec = pod["spec"]
    assert [c["name"] for c in spec["initContainers"]][-2:] == [k8s.INIT_CONTAINER, k8s.REFRESH_CONTAINER]
    sidecar = by_name(spec["initContainers"], k8s.REFRESH_CONTAINER)
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["command"] == ["sealbox", "kube", "refresh"]
    args = sidecar["args"]
    assert args[args.index("--on-behalf-of") + 1] == "alice"
    assert args[args.index("--interval") + 1] == "30"
    assert args[args.index("--target") + 1] == k8s.TARGET
    token = by_name(spec["volumes"], k8s.TOKEN_VOLUME)["secret"]
    assert token["defaultMode"] == 0o400 and token["secretName"] == "sealbox-hub-token"
    holders = [
        c["name"]
        for c in [*spec["initContainers"], *spec["containers"]]
        if k8s.TOKEN_VOLUME in {m["name"] for m in c.get("volumeMounts", [])}
    ]
    assert holders == [k8s.REFRESH_CONTAINER]
    # The sidecar writes the folder, so its mount is read-write; every app mount stays read-only.
    assert by_name(sidecar["volumeMounts"], k8s.SECRETS_VOLUME).get("readOnly") is not True


def test_plain_function_patches_a_bare_spec_for_other_spawners() -> None:
    spec = {"containers": [{"name": "job", "image": "python:3.11", "command": ["python", "job.py"]}]}
    patched = patch_pod_spec(
        spec,
        session_id=SESSION,
        credential_secret_name="cred",
        server_url=SERVER,
        mount_path="/var/run/app-secrets/",
        run_as_user=1234,
        run_as_group=1234,
    )
    assert spec == {"containers": [{"name": "job", "image": "python:3.11", "command": ["python", "job.py"]}]}
    assert patched["securityContext"] == {"fsGroup": 1234}
    job = patched["containers"][0]
    assert job["volumeMounts"][0]["mountPath"] == "/var/run/app-secrets"
    assert job["env"] == [{"name": "SEALBOX_SECRETS_DIR", "value": "/var/run/app-secrets"}]
    assert "--keeper-url" not in patched["initContainers"][0]["args"]
    validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "job"}, "spec": patched})


def test_only_the_named_containers_get_the_folder() -> None:
    pod = notebook_pod()
    pod["spec"]["containers"].append(
        {"name": "proxy", "image": "envoyproxy/envoy:v1.31", "securityContext": {"runAsUser": 101}}
    )
    patched = patch_pod(pod, launch(containers=("notebook",)))
    validate(patched)
    proxy = by_name(patched["spec"]["containers"], "proxy")
    assert "volumeMounts" not in proxy and "env" not in proxy
    with pytest.raises(PodSpecError, match="different users"):
        patch_pod(pod, launch())  # both containers, two users: one 0700 folder cannot serve both


@pytest.mark.parametrize(
    ("change", "overrides", "message"),
    [
        (lambda s: None, {"session_id": "not-a-session"}, "32 lowercase hex"),
        (lambda s: None, {"credential_secret_name": "Bad_Name"}, "DNS-1123"),
        (lambda s: None, {"mount_path": "relative"}, "absolute"),
        (lambda s: None, {"mount_path": "/a/../b"}, r"'\.\.'"),
        (lambda s: None, {"server_url": "sealbox:8480"}, "http"),
        (lambda s: None, {"refresh": True}, "service_token_secret_name"),
        (lambda s: s["containers"][0]["securityContext"].pop("runAsUser"), {}, "run_as_user"),
        (lambda s: s.pop("securityContext"), {}, "fsGroup"),
        (
            lambda s: s["containers"][0]["volumeMounts"].append({"name": "x", "mountPath": "/secrets"}),
            {},
            "/secrets",
        ),
        (lambda s: s["volumes"].append({"name": k8s.SECRETS_VOLUME, "emptyDir": {}}), {}, "patched twice"),
        (lambda s: s["containers"].clear(), {}, "no app container"),
        # Client formats: their variables go into the spec before any value is known.
        (lambda s: None, {"formats": {"gh": "git"}}, "cannot take --as git"),  # keyed by the token's host
        (lambda s: None, {"formats": {"aws": "aws-process"}}, "cannot take --as aws-process"),
        (lambda s: None, {"formats": {"x": "nope"}}, "unknown format"),
        (lambda s: None, {"formats": {"../x": "aws"}}, "file name"),
        (lambda s: None, {"formats": {"a": "aws", "b": "aws"}}, "both set AWS_"),
        (
            lambda s: s["containers"][0].setdefault("env", []).append({"name": "NETRC", "value": "/n"}),
            {"formats": {"gh": "netrc"}},
            "sets NETRC itself",
        ),
    ],
)
def test_refusals(change: Any, overrides: dict[str, Any], message: str) -> None:
    pod = notebook_pod()
    if "fsGroup" in message:
        pod["spec"]["containers"][0]["securityContext"].pop("runAsGroup")
    change(pod["spec"])
    with pytest.raises(PodSpecError, match=message):
        patch_pod(pod, launch(**overrides))


def test_a_client_format_sets_path_variables_and_asks_the_init_container() -> None:
    pod = patch_pod(notebook_pod(), launch(formats={"gh": "netrc", "gcp-sa": "gcp"}, mount_path="/run/s"))
    validate(pod)
    app = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in app["env"]}
    assert (
        env["NETRC"] == "/run/s/gh/netrc"
        and env["GOOGLE_APPLICATION_CREDENTIALS"] == "/run/s/gcp-sa/key.json"
    )
    init = next(c for c in pod["spec"]["initContainers"] if c["name"] == k8s.INIT_CONTAINER)
    assert init["args"][-4:] == ["--as", "gh=netrc", "--as", "gcp-sa=gcp"]


def test_patching_twice_is_refused() -> None:
    once = patch_pod(notebook_pod(), launch())
    with pytest.raises(PodSpecError, match="patched twice"):
        patch_pod(once, launch())


# --- sealbox's own checks catch what the schemas let through ---------------------------------------------


def _patched() -> dict[str, Any]:
    return patch_pod(notebook_pod(), refresh_launch())


def _schemas_pass(pod: dict[str, Any]) -> None:
    """The point of the own checks: the strict schema accepts each of these mistakes."""
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_medium_must_be_spelled_memory() -> None:
    pod = _patched()
    by_name(pod["spec"]["volumes"], k8s.SECRETS_VOLUME)["emptyDir"]["medium"] = "memory"
    _schemas_pass(pod)
    assert any("not 'Memory'" in p for p in check_pod_spec(pod["spec"]))


@pytest.mark.parametrize("mode", [512, -1, 0o1777])
def test_default_mode_must_be_0_to_511(mode: int) -> None:
    pod = _patched()
    by_name(pod["spec"]["volumes"], k8s.CREDENTIAL_VOLUME)["secret"]["defaultMode"] = mode
    _schemas_pass(pod)
    assert any("defaultMode" in p for p in check_pod_spec(pod["spec"]))


def test_item_mode_is_checked_too() -> None:
    pod = _patched()
    by_name(pod["spec"]["volumes"], k8s.TOKEN_VOLUME)["secret"]["items"][0]["mode"] = 4096
    assert any("item mode" in p for p in check_pod_spec(pod["spec"]))


def test_app_mounts_must_be_read_only() -> None:
    pod = _patched()
    by_name(pod["spec"]["containers"][0]["volumeMounts"], k8s.SECRETS_VOLUME)["readOnly"] = False
    _schemas_pass(pod)
    assert any("not mounted read-only" in p for p in check_pod_spec(pod["spec"]))


def test_no_value_in_any_variable_or_argument() -> None:
    pod = _patched()
    pod["spec"]["containers"][0]["env"].append({"name": "DB_PASSWORD", "value": "hunter2-canary"})
    pod["spec"]["initContainers"][0]["args"] = ["--password", "hunter2-canary"]
    _schemas_pass(pod)
    problems = check_pod_spec(pod["spec"], values=["hunter2-canary"])
    assert any("DB_PASSWORD holds a secret value" in p for p in problems)
    assert any("block-cloud-metadata: its command line" in p for p in problems)
    assert check_pod_spec(_patched()["spec"], values=["hunter2-canary", CREDENTIAL]) == []


def test_credential_secret_only_for_sealbox_containers() -> None:
    pod = _patched()
    notebook = pod["spec"]["containers"][0]
    notebook["env"].append(
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "sealbox-session-alice", "key": "credential"}}}
    )
    notebook["envFrom"] = [{"secretRef": {"name": "sealbox-hub-token"}}]
    notebook["volumeMounts"].append({"name": k8s.CREDENTIAL_VOLUME, "mountPath": "/c", "readOnly": True})
    problems = check_pod_spec(pod["spec"])
    assert any("variable X reads sealbox's credential Secret" in p for p in problems)
    assert any("envFrom reads" in p for p in problems)
    assert any("container notebook (containers) mounts sealbox-credential" in p for p in problems)


# --- the credential Secret ---------------------------------------------------------------------------


def test_credential_secret_holds_the_credential_and_session_only() -> None:
    doc = credential_secret(
        name="sealbox-session-alice",
        namespace="jhub",
        session_id=SESSION,
        credential=CREDENTIAL,
        owner_pod=("jupyter-alice", "7b0b3c9e-2f5c-4f43-9d1e-0a3d7d1d9f10"),
    )
    validate(doc)
    assert doc["immutable"] is True and doc["type"] == "Opaque"
    decoded = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
    assert decoded == {"credential": CREDENTIAL, "session-id": SESSION}
    assert doc["metadata"]["labels"] == {k8s.LABEL_MANAGED_BY: "sealbox", k8s.LABEL_SESSION: SESSION}
    assert doc["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    with pytest.raises(PodSpecError):
        credential_secret(name="x", session_id=SESSION, credential=CREDENTIAL + "\nextra")


# --- KubeSpawner's modify_pod_hook on V1Pod objects -------------------------------------------------------


def _v1pod(data: dict[str, Any]) -> V1Pod:
    with ApiClient() as api:
        pod: V1Pod = api._ApiClient__deserialize(copy.deepcopy(data), "V1Pod")
    return pod


def _as_dict(pod: V1Pod) -> dict[str, Any]:
    with ApiClient() as api:
        data: dict[str, Any] = api.sanitize_for_serialization(pod)
    return data


def test_modify_pod_hook_patches_a_v1pod() -> None:
    spawner = SimpleNamespace(sealbox_pod_session=refresh_launch(), uid=1000, gid=100, fs_gid=100)
    result = modify_pod_hook(spawner, _v1pod(notebook_pod()))
    assert isinstance(result, V1Pod)
    data = _as_dict(result)
    validate(data, values=[CREDENTIAL])
    assert data == patch_pod(notebook_pod(), refresh_launch())


def test_modify_pod_hook_takes_the_spawners_ids_when_the_pod_has_none() -> None:
    pod = notebook_pod()
    pod["spec"]["containers"][0].pop("securityContext")
    pod["spec"].pop("securityContext")
    spawner = SimpleNamespace(sealbox_pod_session=launch(), uid=1000, gid=100, fs_gid=100)
    data = _as_dict(modify_pod_hook(spawner, _v1pod(pod)))
    validate(data)
    init = by_name(data["spec"]["initContainers"], k8s.INIT_CONTAINER)
    assert init["securityContext"]["runAsUser"] == 1000
    assert data["spec"]["securityContext"]["fsGroup"] == 100


def test_modify_pod_hook_leaves_pods_without_a_launch_alone() -> None:
    pod = _v1pod(notebook_pod())
    assert modify_pod_hook(SimpleNamespace(), pod) is pod
    with pytest.raises(PodSpecError):
        modify_pod_hook(SimpleNamespace(sealbox_pod_session={"session_id": SESSION}), pod)


# --- the explicit sync mode --------------------------------------------------------------------------


def _delivered(
    name: str, kind: Kind, value: bytes, *, file: str | None = None, field: str | None = None
) -> Delivered:
    return Delivered(
        name=name,
        owner="alice",
        kind=kind.value,
        field=field,
        file=file or name,
        env=None,
        version=3,
        value=value,
    )


def test_sync_writes_one_secret_into_a_labelled_namespace_secret() -> None:
    db = _delivered(
        "warehouse",
        Kind.DATABASE,
        encode_fields(Kind.DATABASE, {"host": "db.example.org", "user": "alice", "password": "pw-canary"}),
    )
    doc = sync_secret_manifest(db, name="warehouse-creds", namespace="team-a", session_id=SESSION)
    validate(doc)
    labels = doc["metadata"]["labels"]
    assert labels == {k8s.LABEL_MANAGED_BY: "sealbox", k8s.LABEL_SESSION: SESSION, k8s.LABEL_SYNC: "true"}
    assert doc["metadata"]["annotations"][k8s.ANNOTATION_SECRET] == "alice/warehouse"
    assert doc["metadata"]["annotations"][k8s.ANNOTATION_VERSION] == "3"
    assert "pw-canary" not in json.dumps(doc["metadata"])
    decoded = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
    assert decoded == {"host": "db.example.org", "password": "pw-canary", "user": "alice"}
    assert "etcd" in (sync_secret_manifest.__doc__ or "")


def test_sync_of_single_values_and_fields() -> None:
    token = _delivered("gh-token", Kind.TOKEN, b"ghp_canary", file="token")
    aws = _delivered(
        "aws",
        Kind.AWS,
        encode_fields(Kind.AWS, {"access_key_id": "AKIA0123456789ABCDEF", "secret_access_key": "s3cr3t"}),
        file="aws-secret",
        field="secret_access_key",
    )
    doc = sync_secret_manifest([token, aws], name="tokens", namespace="team-a", session_id=SESSION)
    strict_schema(doc)
    assert {k: base64.b64decode(v) for k, v in doc["data"].items()} == {
        "token": b"ghp_canary",
        "aws-secret": b"s3cr3t",
    }
    with pytest.raises(PodSpecError, match="same key"):
        sync_secret_manifest([token, token], name="t", namespace="team-a", session_id=SESSION)
    with pytest.raises(PodSpecError, match="choose"):
        sync_secret_manifest([], name="t", namespace="team-a", session_id=SESSION)
    with pytest.raises(PodSpecError, match="DNS-1123"):
        sync_secret_manifest(token, name="t", namespace="Team_A", session_id=SESSION)
