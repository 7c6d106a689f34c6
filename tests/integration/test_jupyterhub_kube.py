"""KubeSpawner with sealbox, without a cluster (none can run here): kubespawner builds the pod with its own
`get_pod_manifest`, our spawner patches it, and the pod and the credential Secret are checked with the
client's models, `kubernetes-validate --strict` and sealbox's own checks. The hub's choices are checked too:
variables are refused for pods (they would sit in the pod spec)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from kubespawner import KubeSpawner
from tornado import web

from sealbox.integrations import kubernetes as k8s
from sealbox.integrations.jupyterhub.kube import SealboxKubeSpawner, credential_secret_name
from sealbox.integrations.jupyterhub.options import parse
from tests.integration.jupyterhub_support import hub_service_token
from tests.integration.test_kubernetes import fake_pod
from tests.support.canaries import find_in_bytes, make_canary
from tests.support.kubeapi import running_kube_api
from tests.support.processes import running_stack
from tests.unit.integrations.validation import validate

SESSION = "0123456789abcdef0123456789abcdef"
CREDENTIAL = "sbl_0123456789abcdef_" + "A" * 43


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KubeSpawner loads a client configuration when constructed; this one names a cluster that is never
    contacted (building a pod manifest makes no API call)."""
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: none\n"
        "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: none, context: {cluster: none, user: none}}]\n"
        "users: [{name: none, user: {}}]\n"
    )
    import kubernetes_asyncio.config.kube_config as loader

    monkeypatch.setattr(loader, "KUBE_CONFIG_DEFAULT_LOCATION", str(config))
    from kubespawner.clients import load_config

    load_config.cache_clear()  # kubespawner loads its configuration once per process
    return config


def _spawner(**options: Any) -> SealboxKubeSpawner:
    spawner = SealboxKubeSpawner(_mock=True, uid=1000, gid=100, fs_gid=100, namespace="jhub")
    spawner.sealbox_url = "http://sealbox-server.sealbox.svc:8480"
    spawner.user_options = options
    return spawner


def test_kubespawner_pod_gets_the_init_container_memory_folder_and_credential_secret() -> None:
    async def build() -> tuple[Any, dict[str, Any]]:
        spawner = _spawner(
            sealbox={"secrets": ["db_password", "bob/aws"], "mount_path": "/home/jovyan/secrets"}
        )
        selection = spawner.sealbox_selection()
        assert selection is not None and selection.mount_path == "/home/jovyan/secrets"
        description, secret = spawner.sealbox_kube_session(SESSION, CREDENTIAL, selection.mount_path)
        setattr(spawner, k8s.SPAWNER_ATTRIBUTE, description)
        return await spawner.get_pod_manifest(), secret

    pod, secret = asyncio.run(build())
    with ApiClient() as api:
        data = api.sanitize_for_serialization(pod)
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Pod")
    validate(data, values=[CREDENTIAL])
    validate(secret)
    assert secret["metadata"]["name"] == credential_secret_name(SESSION)
    assert secret["metadata"]["namespace"] == "jhub"
    spec = data["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[k8s.SECRETS_VOLUME]["emptyDir"]["medium"] == "Memory"
    assert volumes[k8s.CREDENTIAL_VOLUME]["secret"]["secretName"] == credential_secret_name(SESSION)
    init = next(c for c in spec["initContainers"] if c["name"] == k8s.INIT_CONTAINER)
    assert init["securityContext"]["runAsUser"] == 1000
    notebook = spec["containers"][0]
    mount = next(m for m in notebook["volumeMounts"] if m["name"] == k8s.SECRETS_VOLUME)
    assert (mount["mountPath"], mount["readOnly"]) == ("/home/jovyan/secrets", True)
    assert {"name": "SEALBOX_SECRETS_DIR", "value": "/home/jovyan/secrets"} in notebook["env"]
    assert data["metadata"]["labels"][k8s.LABEL_SESSION] == SESSION
    assert CREDENTIAL not in str(data)


def test_kubespawner_without_secrets_leaves_the_pod_alone() -> None:
    async def build() -> Any:
        spawner = _spawner()
        assert spawner.sealbox_selection() is None
        return await spawner.get_pod_manifest()

    pod = asyncio.run(build())
    assert all(c.name != k8s.INIT_CONTAINER for c in pod.spec.init_containers or [])


@pytest.mark.parametrize(
    "options",
    [
        {"sealbox": {"secrets": [{"name": "db", "env": "DB"}]}},  # variables would sit in the pod spec
        {"sealbox": {"secrets": ["db"], "mount_path": "/"}},
        {"sealbox": {"secrets": ["../db"]}},
        {"sealbox": {"secrets": ["db"], "extra": 1}},
    ],
)
def test_kubespawner_refuses_bad_choices_with_400(options: dict[str, Any]) -> None:
    async def choose() -> None:
        _spawner(**options).sealbox_selection()

    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(choose())
    assert refused.value.status_code == 400


def test_parse_accepts_names_and_objects() -> None:
    selection = parse({"sealbox": {"secrets": ["a", {"name": "bob/b", "file": "b.txt", "env": "B"}]}})
    assert selection is not None
    assert [(m.secret, m.file, m.env) for c in selection.choices for m in c.mappings()] == [
        ("a", "a", None),
        ("bob/b", "b.txt", "B"),
    ]


def test_kubespawner_start_and_stop_against_sealbox_and_a_stand_in_api(
    tmp_path: Path, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our start() and stop() for real, against a real sealbox and the in-process stand-in for the Kubernetes
    API (tests/support/kubeapi.py; no cluster runs here). KubeSpawner's own pod creation and watching, which
    need a cluster, are replaced by building the manifest; the init container then runs as a process on the
    credential Secret that reached the stand-in, into a folder on /dev/shm standing in for the emptyDir."""
    built: list[dict[str, Any]] = []

    async def kubespawner_start(self: SealboxKubeSpawner) -> str:
        pod = await self.get_pod_manifest()
        with ApiClient() as api:
            built.append(api.sanitize_for_serialization(pod))
        return "http://127.0.0.1:8888"

    async def kubespawner_stop(self: SealboxKubeSpawner, now: bool = False) -> None:
        return None

    monkeypatch.setattr(KubeSpawner, "start", kubespawner_start)
    monkeypatch.setattr(KubeSpawner, "stop", kubespawner_stop)
    value = make_canary("kube-hub")
    (tmp_path / "sealbox").mkdir()
    with running_stack(tmp_path / "sealbox") as stack, running_kube_api() as cluster:
        alice = stack.add_user("alice")
        with stack.client(alice) as a:
            assert a.post("/api/v1/secrets", json={"name": "db_password", "value": value}).status_code == 201
        token_file = hub_service_token(stack, tmp_path, kinds=["generic"])
        cluster.write_kubeconfig(kubeconfig, token="stand-in-token", namespace="jhub")
        from kubespawner.clients import load_config

        load_config.cache_clear()

        async def spawn_and_stop() -> str:
            spawner = _spawner(
                sealbox={"secrets": [{"name": "db_password", "file": "db"}], "mount_path": "/work/s"}
            )
            spawner.user.name = "alice"
            spawner.sealbox_url = stack.url
            spawner.sealbox_token_file = str(token_file)
            await spawner.start()
            session_id = spawner.sealbox_session_id
            stored = cluster.get("secrets", "jhub", credential_secret_name(session_id))
            assert stored is not None and stored["metadata"]["labels"][k8s.LABEL_SESSION] == session_id
            pod = {"apiVersion": "v1", "kind": "Pod", **built[-1]}
            validate(pod, values=[value])
            with tempfile.TemporaryDirectory(prefix="sealbox-jhk8s-", dir="/dev/shm") as empty_dir:
                fp = fake_pod(pod, tmp_path / "volumes", Path(empty_dir))
                (tmp_path / "volumes").mkdir()
                fp.mount_secret(k8s.CREDENTIAL_VOLUME, stored)
                done = fp.run(k8s.INIT_CONTAINER)
                assert done.returncode == 0, done.stdout + done.stderr
                assert (Path(empty_dir) / "secrets" / "db").read_text() == value
            with stack.client(alice) as a:
                live = a.get(f"/api/v1/sessions/{session_id}").json()
                assert (live["mount_path"], live["status"] != "ended") == ("/work/s", True)
            await spawner.stop()
            assert cluster.get("secrets", "jhub", credential_secret_name(session_id)) is None
            return session_id

        session_id = asyncio.run(spawn_and_stop())
        with stack.client(alice) as a:
            assert a.get(f"/api/v1/sessions/{session_id}").json()["status"] == "ended"
        assert find_in_bytes(cluster.raw_bytes() + stack.logs(), [value]) == []
