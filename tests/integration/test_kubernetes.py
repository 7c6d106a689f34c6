"""Kubernetes session pods, for real (issue 7): the emitted pod's own commands, against a real sealbox.

No kube-apiserver or kubelet can run here. What stands in for them, and nothing more:
- a folder under /dev/shm (tmpfs) stands in for the pod's emptyDir with medium: Memory;
- a folder laid out as the kubelet lays out a Secret volume (`..data` symlinks, 0400 files) stands in for
  the credential Secret's (and the service token's) volume, filled from the very Secret object we emit;
- the container's command and args are taken from the patched pod spec as emitted, with each container
  mount path replaced by the folder standing in for that volume, and run as a real process (the image's
  `sealbox` is this checkout's `python -m sealbox`) against real sealbox server and keeper processes.
Every emitted object is first validated as in tests/unit/integrations (models, strict schema, own checks).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sealbox.integrations import kubernetes as k8s
from sealbox.integrations.kubeflow import parse_secret_option, secret_volumes, workspaces_by_secret
from sealbox.integrations.kubernetes import KubeSession, credential_secret, patch_pod
from sealbox.launcher.spool import SecretFolder
from sealbox.sdk.providers import FolderProvider
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack, base_env, free_port, sealbox_cmd, wait_for
from tests.unit.integrations.pods import notebook_pod
from tests.unit.integrations.validation import validate

API = "/api/v1"
Canary = Callable[[str], str]
VALUES: list[str] = []


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def shm() -> Iterator[Path]:
    """A folder on a memory filesystem: the emptyDir (medium: Memory) of one pod."""
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm")
    path = Path(tempfile.mkdtemp(prefix="sealbox-k8s-", dir="/dev/shm"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def no_value_in_logs(stack: Stack) -> Iterator[None]:
    yield
    assert find_in_bytes(stack.logs(), VALUES) == []


@dataclass
class User:
    stack: Stack
    name: str
    token: str = field(repr=False)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.stack.client(self.token) as api:
            resp = api.request(method, f"{API}{path}", **kwargs)
        assert resp.status_code < 400, resp.text
        assert find_in_bytes(resp.content, VALUES) == [], (method, path)
        return resp.json() if resp.content else None

    def add(self, name: str, **body: Any) -> None:
        self.call("POST", "/secrets", json={"name": name, **body})


@pytest.fixture(scope="module")
def alice(stack: Stack) -> User:
    name = unique("alice")
    return User(stack=stack, name=name, token=stack.add_user(name))


def canary_value(canary: Canary, label: str) -> str:
    value = canary(label)
    VALUES.append(value)
    return value


# --- the kubelet's part, as little as the commands need ---------------------------------------------------


@dataclass
class FakePod:
    """The folders standing in for one pod's volumes; runs its containers' commands as processes."""

    pod: dict[str, Any]
    root: Path  # for Secret volumes
    volumes: dict[str, Path] = field(default_factory=dict)

    def mount_secret(self, volume_name: str, secret: dict[str, Any]) -> None:
        spec = next(v for v in self.pod["spec"]["volumes"] if v["name"] == volume_name)["secret"]
        assert spec["secretName"] == secret["metadata"]["name"]
        data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
        files = {item["path"]: data[item["key"]] for item in spec["items"]}
        path = self.root / volume_name
        SecretFolder.create(path).write(files, {"files": []})  # the kubelet's atomic-writer layout
        for name in files:
            os.chmod(os.path.realpath(path / name), spec["defaultMode"])  # the kubelet applies defaultMode
        self.volumes[volume_name] = path

    def container(self, name: str) -> dict[str, Any]:
        spec = self.pod["spec"]
        return next(c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == name)

    def argv(self, name: str) -> list[str]:
        c = self.container(name)
        assert c["command"][0] == "sealbox"
        mounts = {m["mountPath"]: self.volumes[m["name"]] for m in c["volumeMounts"]}
        args = []
        for arg in [*c["command"][1:], *c.get("args", [])]:
            for mount_path, host in mounts.items():
                if arg == mount_path or arg.startswith(mount_path + "/"):
                    arg = str(host) + arg[len(mount_path) :]
            args.append(arg)
        return sealbox_cmd(*args)

    def run(self, name: str) -> subprocess.CompletedProcess[bytes]:
        assert "env" not in self.container(name)
        return subprocess.run(self.argv(name), env=base_env(), capture_output=True, timeout=60)

    def start(self, name: str, out: Path) -> subprocess.Popen[bytes]:
        with out.open("wb") as log:
            return subprocess.Popen(self.argv(name), env=base_env(), stdout=log, stderr=subprocess.STDOUT)


def fake_pod(pod: dict[str, Any], root: Path, empty_dir: Path) -> FakePod:
    fp = FakePod(pod=pod, root=root)
    fp.volumes[k8s.SECRETS_VOLUME] = empty_dir
    return fp


def new_session(user: User, secrets: list[dict[str, Any]]) -> dict[str, Any]:
    launch: dict[str, Any] = user.call(
        "POST", "/sessions", json={"secrets": secrets, "mount_path": "/secrets"}
    )
    return launch


def assert_folder(folder: Path) -> dict[str, Any]:
    """0700 folders and 0400 files, ours, in the atomic-writer layout; returns the manifest."""
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700
    data = folder / os.readlink(folder / "..data")
    for dirpath, dirnames, filenames in os.walk(data):
        for d in dirnames:
            assert stat.S_IMODE(os.lstat(Path(dirpath) / d).st_mode) == 0o700
        for f in filenames:
            st = os.lstat(Path(dirpath) / f)
            assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o400 and st.st_uid == os.getuid()
    manifest: dict[str, Any] = json.loads((data / "@sealbox.json").read_text())
    return manifest


# --- the init container ----------------------------------------------------------------------------------


def test_init_container_redeems_once_into_the_memory_folder(
    stack: Stack, alice: User, canary: Canary, shm: Path, tmp_path: Path
) -> None:
    api_key, password = canary_value(canary, "k8s-api"), canary_value(canary, "k8s-db")
    key_name, db_name = unique("api-key"), unique("warehouse")
    alice.add(key_name, value=api_key)
    alice.add(
        db_name, kind="database", fields={"host": "db.example.org", "user": alice.name, "password": password}
    )
    launch = new_session(
        alice,
        [
            {"name": key_name, "file": "api-key"},
            {"name": db_name, "file": "warehouse"},
            {"name": db_name, "field": "password", "file": "db-password"},
            {"name": key_name, "env": "API_KEY"},
        ],
    )
    session_id, credential = launch["session"]["id"], launch["session_credential"]
    secret = credential_secret(
        name="sealbox-session-alice", namespace="jhub", session_id=session_id, credential=credential
    )
    pod = patch_pod(
        notebook_pod(),
        KubeSession(
            session_id=session_id, credential_secret_name="sealbox-session-alice", server_url=stack.url
        ),
    )
    validate(secret)
    validate(pod, values=[*VALUES, credential])

    fp = fake_pod(pod, tmp_path, shm)
    fp.mount_secret(k8s.CREDENTIAL_VOLUME, secret)
    done = fp.run(k8s.INIT_CONTAINER)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert b"3 file(s)" in output and b"1 variable mapping(s) not delivered" in output
    assert find_in_bytes(output, [*VALUES, credential]) == []

    folder = shm / "secrets"  # what the notebook container sees at /secrets (subPath "secrets")
    manifest = assert_folder(folder)
    assert manifest["session"] == session_id
    assert sorted(f["file"] for f in manifest["files"]) == ["api-key", "db-password", "warehouse"]
    assert (folder / "api-key").read_text() == api_key
    assert (folder / "db-password").read_text() == password
    assert (folder / "warehouse" / "host").read_text() == "db.example.org"
    # get_secret() in the notebook finds them through SEALBOX_SECRETS_DIR and the manifest.
    provider = FolderProvider(folders=(folder,))
    assert provider.get(db_name, "password") == password
    assert provider.get(key_name, None) == api_key
    session = alice.call("GET", f"/sessions/{session_id}")
    assert {s["version"] for s in session["secrets"]} == {1}

    # One-time: the same Secret mounted into a restarted pod opens nothing, and leaves nothing behind.
    again = fake_pod(pod, tmp_path / "again", shm / "second")
    (tmp_path / "again").mkdir()
    (shm / "second").mkdir(mode=0o700)
    again.mount_secret(k8s.CREDENTIAL_VOLUME, secret)
    refused = again.run(k8s.INIT_CONTAINER)
    assert refused.returncode != 0
    assert b"invalid_credential" in refused.stderr
    assert not (shm / "second" / "secrets").exists()


def test_init_container_refuses_a_disk_folder_without_spending_the_credential(
    stack: Stack, alice: User, canary: Canary, shm: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "empty-dir"
    disk.mkdir()
    if k8s_memory(disk):
        pytest.skip("the temporary folder is itself on tmpfs")
    value, name = canary_value(canary, "k8s-disk"), unique("disk")
    alice.add(name, value=value)
    launch = new_session(alice, [{"name": name, "file": name}])
    session_id = launch["session"]["id"]
    secret = credential_secret(name="cred", session_id=session_id, credential=launch["session_credential"])
    pod = patch_pod(
        notebook_pod(),
        KubeSession(session_id=session_id, credential_secret_name="cred", server_url=stack.url),
    )
    fp = fake_pod(pod, tmp_path, disk)
    fp.mount_secret(k8s.CREDENTIAL_VOLUME, secret)
    refused = fp.run(k8s.INIT_CONTAINER)
    assert refused.returncode != 0 and b"memory filesystem" in refused.stderr
    assert os.listdir(disk) == []
    # The credential is unspent: the same pod on a memory emptyDir starts.
    fp.volumes[k8s.SECRETS_VOLUME] = shm
    assert fp.run(k8s.INIT_CONTAINER).returncode == 0
    assert (shm / "secrets" / name).read_text() == value


def k8s_memory(path: Path) -> bool:
    from sealbox.integrations.initcontainer import on_memory_filesystem

    return on_memory_filesystem(path)


# --- the refresh sidecar ---------------------------------------------------------------------------------


def add_service(stack: Stack, name: str) -> str:
    out = subprocess.run(
        sealbox_cmd(
            "admin", "service", "add", name, "--kind", "generic", "--kind", "database", "--kind", "aws"
        ),
        env=stack.env(),
        capture_output=True,
        check=True,
    )
    return out.stdout.decode().strip()


def test_refresh_sidecar_swaps_replaced_values_atomically(
    stack: Stack, alice: User, canary: Canary, shm: Path, tmp_path: Path
) -> None:
    service = unique("hub")
    token = add_service(stack, service)
    first, second = canary_value(canary, "k8s-r1"), canary_value(canary, "k8s-r2")
    name, still = unique("rotating"), unique("still")
    alice.add(name, value=first)
    alice.add(still, kind="database", fields={"host": "h.example.org", "password": second + "-db"})
    launch = new_session(alice, [{"name": name, "file": "rotating"}, {"name": still, "file": "db"}])
    session_id = launch["session"]["id"]
    secret = credential_secret(name="cred", session_id=session_id, credential=launch["session_credential"])
    token_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hub-token"},
        "type": "Opaque",
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }
    pod = patch_pod(
        notebook_pod(),
        KubeSession(
            session_id=session_id,
            credential_secret_name="cred",
            server_url=stack.url,
            refresh=True,
            service_token_secret_name="hub-token",
            on_behalf_of=alice.name,
            refresh_interval=1,
        ),
    )
    validate(pod, values=[*VALUES, token, launch["session_credential"]])
    fp = fake_pod(pod, tmp_path, shm)
    fp.mount_secret(k8s.CREDENTIAL_VOLUME, secret)
    fp.mount_secret(k8s.TOKEN_VOLUME, token_secret)
    assert fp.run(k8s.INIT_CONTAINER).returncode == 0
    folder = shm / "secrets"
    assert (folder / "rotating").read_text() == first
    out = tmp_path / "sidecar.out"
    sidecar = fp.start(k8s.REFRESH_CONTAINER, out)
    try:
        time.sleep(1.5)  # at least one poll with nothing to swap
        assert len([e for e in os.listdir(folder) if e.startswith("..") and e != "..data"]) == 1
        alice.call("PUT", f"/secrets/{name}/value", json={"value": second})
        deadline = time.monotonic() + 20
        while (folder / "rotating").read_text() != second:
            assert sidecar.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        manifest = assert_folder(folder)
        assert manifest["session"] == session_id
        assert {f["file"]: f["version"] for f in manifest["files"]} == {"rotating": 2, "db": 1}
        assert (folder / "db" / "password").read_text() == second + "-db"
        assert len([e for e in os.listdir(folder) if e.startswith("..") and e != "..data"]) <= 2
    finally:
        sidecar.send_signal(signal.SIGTERM)
        code = sidecar.wait(timeout=10)
    log = out.read_bytes()
    assert code == 0, log
    assert b"swapped in 1 replaced secret(s)" in log
    assert find_in_bytes(log, [*VALUES, token]) == []
    # Each poll is a launch by the service, for alice, and audited so.
    records = alice.call("GET", "/audit", params={"secret": name, "limit": 1000})["items"]
    assert any(r["actor"] == service and r["on_behalf_of"] == alice.name for r in records), records[:5]


AWS_KEY_ID = "AKIA" + "SEALBOXPOD000001"  # built from parts: no key-shaped literal in the repository
READ_AWS = (
    "import boto3, hashlib, json\n"
    "c = boto3.Session().get_credentials().get_frozen_credentials()\n"
    "print(json.dumps([c.access_key, hashlib.sha256(c.secret_key.encode()).hexdigest()]))\n"
)


def _boto3_in_app(pod: dict[str, Any], shm: Path, home: Path) -> list[str]:
    """What boto3 finds with the app container's variables, /secrets being the emptyDir's folder here."""
    app = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"].replace("/secrets", str(shm / "secrets")) for e in app["env"]}
    aws = {k: v for k, v in env.items() if k.startswith("AWS_")}
    read = subprocess.run(
        [sys.executable, "-c", READ_AWS],
        env={**aws, "PATH": os.environ["PATH"], "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert read.returncode == 0, read.stderr[-2000:]
    found: list[str] = json.loads(read.stdout)
    return found


def test_a_secret_in_its_clients_format_reaches_the_pod_and_is_refreshed(
    stack: Stack, alice: User, canary: Canary, shm: Path, tmp_path: Path
) -> None:
    """`--as aws` in a pod: the init container writes the credentials and config files, the app container's
    spec names them (paths only), boto3 finds the key with nothing else; the sidecar re-renders a replaced
    value in the same form."""
    token = add_service(stack, unique("hub"))
    first, second = canary_value(canary, "k8s-aws1"), canary_value(canary, "k8s-aws2")
    name = unique("aws")
    alice.add(name, kind="aws", fields={"access_key_id": AWS_KEY_ID, "secret_access_key": first})
    launch = new_session(alice, [{"name": name, "file": "aws"}])
    session_id = launch["session"]["id"]
    secret = credential_secret(name="cred", session_id=session_id, credential=launch["session_credential"])
    token_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hub-token"},
        "type": "Opaque",
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }
    pod = patch_pod(
        notebook_pod(),
        KubeSession(
            session_id=session_id,
            credential_secret_name="cred",
            server_url=stack.url,
            refresh=True,
            service_token_secret_name="hub-token",
            on_behalf_of=alice.name,
            refresh_interval=1,
            formats={"aws": "aws"},
        ),
    )
    validate(pod, values=[*VALUES, token, launch["session_credential"]])
    app_env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert app_env["AWS_SHARED_CREDENTIALS_FILE"] == "/secrets/aws/credentials"
    assert app_env["AWS_CONFIG_FILE"] == "/secrets/aws/config"
    fp = fake_pod(pod, tmp_path, shm)
    fp.mount_secret(k8s.CREDENTIAL_VOLUME, secret)
    fp.mount_secret(k8s.TOKEN_VOLUME, token_secret)
    done = fp.run(k8s.INIT_CONTAINER)
    assert done.returncode == 0, done.stderr
    assert find_in_bytes(done.stdout + done.stderr, VALUES) == []
    manifest = assert_folder(shm / "secrets")
    assert [(f["file"], f.get("format")) for f in manifest["files"]] == [("aws", "aws")]
    assert _boto3_in_app(pod, shm, tmp_path) == [AWS_KEY_ID, hashlib.sha256(first.encode()).hexdigest()]

    out = tmp_path / "sidecar.out"
    sidecar = fp.start(k8s.REFRESH_CONTAINER, out)
    try:
        alice.call(
            "PUT",
            f"/secrets/{name}/value",
            json={"fields": {"access_key_id": AWS_KEY_ID, "secret_access_key": second}},
        )
        deadline = time.monotonic() + 30
        while second not in (shm / "secrets" / "aws" / "credentials").read_text():
            assert sidecar.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
    finally:
        sidecar.send_signal(signal.SIGTERM)
        sidecar.wait(timeout=10)
    assert _boto3_in_app(pod, shm, tmp_path) == [AWS_KEY_ID, hashlib.sha256(second.encode()).hexdigest()]
    assert find_in_bytes(out.read_bytes(), [*VALUES, token]) == []


# --- the person's commands: a pod for kubectl, and the explicit sync -----------------------------------


@pytest.fixture
def alice_cli(stack: Stack, alice: User, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text(f"url = {json.dumps(stack.url)}\ntoken = {json.dumps(alice.token)}\n")
    config.chmod(0o600)
    return base_env(SEALBOX_CONFIG=str(config))


def test_kube_pod_prints_a_secret_and_pod_that_start(
    stack: Stack, alice: User, alice_cli: dict[str, str], canary: Canary, shm: Path, tmp_path: Path
) -> None:
    value, name = canary_value(canary, "k8s-cli"), unique("cli")
    alice.add(name, value=value)
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(yaml.safe_dump(notebook_pod()))
    out = tmp_path / "apply.yaml"
    done = subprocess.run(
        sealbox_cmd(
            "kube",
            "pod",
            "-f",
            str(pod_file),
            "--secret",
            f"{name}:token",
            "--credential-secret",
            "sealbox-session-1",
            "--namespace",
            "jhub",
            "--out",
            str(out),
        ),
        env=alice_cli,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    secret, pod = yaml.safe_load_all(out.read_text())
    validate(secret)
    validate(pod, values=VALUES)
    assert secret["metadata"]["namespace"] == pod["metadata"]["namespace"] == "jhub"
    fp = fake_pod(pod, tmp_path, shm)
    fp.mount_secret(k8s.CREDENTIAL_VOLUME, secret)
    assert fp.run(k8s.INIT_CONTAINER).returncode == 0
    assert (shm / "secrets" / "token").read_text() == value


def test_kube_pod_writes_a_secret_in_its_clients_format(
    stack: Stack, alice: User, alice_cli: dict[str, str], canary: Canary, shm: Path, tmp_path: Path
) -> None:
    secret_key, name = canary_value(canary, "k8s-cli-aws"), unique("cli-aws")
    alice.add(name, kind="aws", fields={"access_key_id": AWS_KEY_ID, "secret_access_key": secret_key})
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(yaml.safe_dump(notebook_pod()))

    def kube_pod(*extra: str) -> subprocess.CompletedProcess[bytes]:
        argv = ["kube", "pod", "-f", str(pod_file), "--credential-secret", "cred", "--namespace", "jhub"]
        return subprocess.run(sealbox_cmd(*argv, *extra), env=alice_cli, capture_output=True, timeout=60)

    before = len(alice.call("GET", "/sessions", params={"all": "true"}))
    for bad, message in (
        (["--secret", f"{name}:aws", "--as", "other=aws"], b"no --secret is written to the file other"),
        (["--secret", f"{name}:aws", "--as", "aws=git"], b"cannot take --as git"),
        (["--secret", f"{name}:aws", "--as", "aws"], b"FILE=FORMAT"),
    ):
        refused = kube_pod(*bad)
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    assert len(alice.call("GET", "/sessions", params={"all": "true"})) == before  # refused before a session

    out = tmp_path / "apply.yaml"
    done = kube_pod("--secret", f"{name}:aws", "--as", "aws=aws", "--out", str(out))
    assert done.returncode == 0, done.stderr
    secret, pod = yaml.safe_load_all(out.read_text())
    validate(pod, values=VALUES)
    fp = fake_pod(pod, tmp_path, shm)
    fp.mount_secret(k8s.CREDENTIAL_VOLUME, secret)
    assert fp.run(k8s.INIT_CONTAINER).returncode == 0
    assert _boto3_in_app(pod, shm, tmp_path) == [AWS_KEY_ID, hashlib.sha256(secret_key.encode()).hexdigest()]


def test_kube_sync_writes_a_labelled_secret_that_kubeflow_mounts(
    stack: Stack, alice: User, alice_cli: dict[str, str], canary: Canary, tmp_path: Path
) -> None:
    password, name = canary_value(canary, "k8s-sync"), unique("dw")
    alice.add(name, kind="database", fields={"host": "dw.example.org", "password": password})
    out = tmp_path / "secret.yaml"
    done = subprocess.run(
        sealbox_cmd(
            "kube", "sync", "--secret", name, "--name", "dw-creds", "--namespace", "team-a", "--out", str(out)
        ),
        env=alice_cli,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert b"etcd" in done.stderr  # the person is told it is the weaker mode
    assert find_in_bytes(done.stdout + done.stderr, VALUES) == []
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = yaml.safe_load(out.read_text())
    validate(doc)
    assert base64.b64decode(doc["data"]["password"]).decode() == password
    session_id = doc["metadata"]["labels"][k8s.LABEL_SESSION]
    session = alice.call("GET", f"/sessions/{session_id}")
    assert session["mount_path"] == "/kubernetes/team-a/dw-creds"
    assert [s["name"] for s in session["secrets"]] == [name]
    # Kubeflow: the workspace mounts the synced Secret, and the listing finds it.
    entries = secret_volumes([parse_secret_option("dw-creds")])
    ws = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "analysis", "namespace": "team-a"},
        "spec": {"podTemplate": {"volumes": {"secrets": entries}}},
    }
    assert [m.workspace for m in workspaces_by_secret([ws])[("team-a", "dw-creds")]] == ["analysis"]


# --- the deployment's key handling, with the real keeper and server --------------------------------------


def test_keygen_and_stage_keys_boot_a_keeper_and_server(tmp_path: Path, shm: Path) -> None:
    from tests.unit.integrations.test_deploy import container, find, render

    objects = render()
    server_env = {
        e["name"]: e["value"]
        for e in container(find(objects, "Deployment", "sealbox-server"), "server")["env"]
        if "value" in e
    }
    keys = tmp_path / "keys"
    subprocess.run(sealbox_cmd("kube", "keygen", str(keys)), env=base_env(), check=True, capture_output=True)
    assert sorted(os.listdir(keys / "server")) == ["keeper.pub", "master.key", "signing.key"]
    assert sorted(os.listdir(keys / "keeper")) == ["keeper.key", "keeper.pub", "server.pub", "wrap.key"]
    staged: dict[str, Path] = {}
    for part in ("server", "keeper"):
        volume = tmp_path / f"{part}-secret"  # as the kubelet mounts `kubectl create secret --from-file`
        SecretFolder.create(volume).write(
            {f.name: f.read_bytes() for f in (keys / part).iterdir()}, {"files": []}
        )
        staged[part] = shm / part
        subprocess.run(
            sealbox_cmd("kube", "stage-keys", str(volume), str(staged[part])), env=base_env(), check=True
        )
    port, keeper_port = free_port(), free_port()
    keeper = subprocess.Popen(
        sealbox_cmd("keeper", "--dir", str(staged["keeper"]), "--listen", f"tcp://127.0.0.1:{keeper_port}"),
        env=base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = base_env(
        SEALBOX_DATA_DIR=str(shm / "data"),
        SEALBOX_MASTER_KEY_PATH=str(staged["server"] / "master.key"),
        SEALBOX_SIGNING_KEY_PATH=str(staged["server"] / "signing.key"),
        SEALBOX_KEEPER_PUBLIC_KEY_PATH=str(staged["server"] / "keeper.pub"),
        SEALBOX_KEEPER_URL=f"http://127.0.0.1:{keeper_port}",
    )
    assert set(env) >= {
        k for k in server_env if k.endswith("_PATH") or k in {"SEALBOX_DATA_DIR", "SEALBOX_KEEPER_URL"}
    }
    server = subprocess.Popen(
        sealbox_cmd("server", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200,
            server,
            "server",
        )
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health == {"status": "ok", "database": "ok", "database_write": "ok", "keeper": "ok"}
    finally:
        for proc in (server, keeper):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
