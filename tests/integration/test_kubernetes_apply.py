"""The apply mode (issue 7): sealbox creates and removes a session's Kubernetes objects itself.

`sealbox kube pod --apply`, `sealbox kube sync --apply` and `sealbox kube end` run as real processes against
real sealbox server and keeper processes, and make their calls with the official `kubernetes` client.
The API server they reach is tests/support/kubeapi.py: an in-process HTTP server that STANDS IN FOR A
CLUSTER (no kube-apiserver can run here). It answers create/read/replace/delete/list of Pods and Secrets
as the API server documents them and records every request, so these tests assert what reached the
"cluster": the objects, their labels, that the credential Secret holds the credential (and its session id)
and nothing else, that no value travels anywhere but in the explicit sync Secret, and the cleanup.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sealbox.integrations import kubernetes as k8s
from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import find_in_bytes
from tests.support.kubeapi import KubeAPI, running_kube_api
from tests.support.processes import Stack, base_env, free_port, sealbox_cmd
from tests.unit.integrations.pods import notebook_pod
from tests.unit.integrations.validation import validate

API = "/api/v1"
Canary = Callable[[str], str]
VALUES: list[str] = []
KUBE_TOKEN = "kube-stand-in-" + uuid.uuid4().hex


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class User:
    stack: Stack
    name: str
    token: str = field(repr=False)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.stack.client(self.token) as api:
            resp = api.request(method, f"{API}{path}", **kwargs)
        assert resp.status_code < 400, resp.text
        return resp.json() if resp.content else None


@pytest.fixture(scope="module")
def alice(stack: Stack) -> User:
    name = unique("alice")
    return User(stack=stack, name=name, token=stack.add_user(name))


@pytest.fixture
def kube() -> Iterator[KubeAPI]:
    with running_kube_api() as api:
        yield api
    # Every request carried the kubeconfig's token, and none carried a stored value.
    assert all(r.headers.get("authorization") == f"Bearer {KUBE_TOKEN}" for r in api.requests)


@pytest.fixture
def env(stack: Stack, alice: User, kube: KubeAPI, tmp_path: Path) -> dict[str, str]:
    """alice's CLI login, and a kubeconfig (found through KUBECONFIG) naming the stand-in API server."""
    config = tmp_path / "config.toml"
    config.write_text(f"url = {json.dumps(stack.url)}\ntoken = {json.dumps(alice.token)}\n")
    config.chmod(0o600)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", token=KUBE_TOKEN)
    return base_env(SEALBOX_CONFIG=str(config), KUBECONFIG=str(kubeconfig), HOME=str(tmp_path))


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(sealbox_cmd(*args), env=env, capture_output=True, timeout=120)
    assert find_in_bytes(done.stdout + done.stderr, VALUES) == []
    return done


def add_secret(alice: User, canary: Canary, label: str) -> tuple[str, str]:
    value, name = canary(label), unique(label)
    VALUES.append(value)
    alice.call("POST", "/secrets", json={"name": name, "value": value})
    return name, value


def session(alice: User, session_id: str) -> dict[str, Any]:
    found: dict[str, Any] = alice.call("GET", f"/sessions/{session_id}")
    return found


def test_kube_pod_apply_creates_the_pod_then_its_credential_secret_and_end_removes_them(
    stack: Stack, alice: User, kube: KubeAPI, env: dict[str, str], canary: Canary, tmp_path: Path
) -> None:
    name, value = add_secret(alice, canary, "apply")
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(yaml.safe_dump(notebook_pod()))
    done = run(
        env,
        "kube", "pod", "-f", str(pod_file), "--secret", f"{name}:token",
        "--credential-secret", "sealbox-session-a", "--namespace", "jhub", "--apply",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""  # nothing to pipe anywhere: the objects went to the API server
    assert [(r.method, r.path) for r in kube.requests] == [
        ("POST", "/api/v1/namespaces/jhub/pods"),
        ("POST", "/api/v1/namespaces/jhub/secrets"),
    ]
    pod_sent, secret_sent = (r.body for r in kube.requests)
    validate(pod_sent, values=VALUES)
    validate(secret_sent)
    session_id = pod_sent["metadata"]["labels"][k8s.LABEL_SESSION]
    assert pod_sent["metadata"]["labels"][k8s.LABEL_SESSION_SIDE] == "true"
    assert secret_sent["metadata"]["labels"] == {
        k8s.LABEL_MANAGED_BY: "sealbox",
        k8s.LABEL_SESSION: session_id,
    }
    created_pod = kube.get("pods", "jhub", "jupyter-alice")
    assert created_pod is not None
    assert secret_sent["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "jupyter-alice",
            "uid": created_pod["metadata"]["uid"],
            "blockOwnerDeletion": False,
        }
    ]
    # The credential Secret holds the one-time credential and its session id, nothing else.
    assert secret_sent["immutable"] is True and secret_sent["type"] == "Opaque"
    data = {k: base64.b64decode(v).decode() for k, v in secret_sent["data"].items()}
    assert set(data) == {k8s.CREDENTIAL_KEY, k8s.SESSION_KEY} and set(secret_sent) <= {
        "apiVersion", "kind", "metadata", "type", "immutable", "data"
    }  # fmt: skip
    assert data[k8s.SESSION_KEY] == session_id
    assert re.fullmatch(r"sbl_[a-f0-9]{16}_[A-Za-z0-9_-]{43}", data[k8s.CREDENTIAL_KEY])
    assert find_in_bytes(kube.raw_bytes(), VALUES) == []
    assert data[k8s.CREDENTIAL_KEY].encode() not in done.stdout + done.stderr

    # What the init container does with it: the value arrives, once.
    with HTTPClient(stack.url) as server, httpx.Client(base_url=stack.url, timeout=30) as http:
        delivery = redeem(server, session_id=session_id, credential=data[k8s.CREDENTIAL_KEY])
        assert [(i.file, i.selected().decode()) for i in delivery.items] == [("token", value)]
        again = http.post(
            f"{API}/sessions/{session_id}/redeem",
            json={
                "credential": data[k8s.CREDENTIAL_KEY],
                "public_key": base64.b64encode(_x25519_public()).decode(),
            },
        )
        assert again.status_code == 401  # spent (an all-zero key would be a 400 before the credential counts)

    # Another session's objects in the namespace are left alone by the cleanup.
    other = k8s.credential_secret(name="other", session_id="f" * 32, credential="sbl_x", namespace="jhub")
    kube.objects[("secrets", "jhub", "other")] = other
    ended = run(env, "kube", "end", session_id, "--namespace", "jhub", "--pods")
    assert ended.returncode == 0, ended.stderr
    deletes = [(r.method, r.path) for r in kube.requests if r.method == "DELETE"]
    assert deletes == [
        ("DELETE", "/api/v1/namespaces/jhub/secrets/sealbox-session-a"),
        ("DELETE", "/api/v1/namespaces/jhub/pods/jupyter-alice"),
    ]
    lists = [
        r.query["labelSelector"] for r in kube.requests if r.method == "GET" and "labelSelector" in r.query
    ]
    assert lists == [[f"{k8s.LABEL_MANAGED_BY}=sealbox,{k8s.LABEL_SESSION}={session_id}"]] * 2
    assert kube.of("pods") == [] and [s["metadata"]["name"] for s in kube.of("secrets")] == ["other"]
    assert session(alice, session_id)["status"] == "ended"


def test_kube_sync_apply_creates_updates_and_end_deletes_the_labelled_secret(
    stack: Stack, alice: User, kube: KubeAPI, env: dict[str, str], canary: Canary
) -> None:
    name, first = add_secret(alice, canary, "sync")
    done = run(
        env,
        "kube",
        "sync",
        "--secret",
        f"{name}:password",
        "--name",
        "dw",
        "--namespace",
        "team-a",
        "--apply",
    )
    assert done.returncode == 0, done.stderr
    assert b"etcd" in done.stderr and b"created" in done.stderr
    created = kube.get("secrets", "team-a", "dw")
    assert created is not None
    validate(kube.requests[0].body)
    labels = created["metadata"]["labels"]
    first_session = labels[k8s.LABEL_SESSION]
    assert labels == {
        k8s.LABEL_MANAGED_BY: "sealbox",
        k8s.LABEL_SESSION: first_session,
        k8s.LABEL_SYNC: "true",
    }
    assert {k: base64.b64decode(v).decode() for k, v in created["data"].items()} == {"password": first}
    assert created["metadata"]["annotations"][k8s.ANNOTATION_SECRET] == f"{alice.name}/{name}"

    # Replaced in sealbox, synced again: the same Secret is updated in place, now labelled by the new session.
    second = canary("sync-2")
    VALUES.append(second)
    alice.call("PUT", f"/secrets/{name}/value", json={"value": second})
    again = run(
        env,
        "kube",
        "sync",
        "--secret",
        f"{name}:password",
        "--name",
        "dw",
        "--namespace",
        "team-a",
        "--apply",
    )
    assert again.returncode == 0, again.stderr
    assert b"replaced" in again.stderr
    put = [r for r in kube.requests if r.method == "PUT"]
    assert [r.path for r in put] == ["/api/v1/namespaces/team-a/secrets/dw"]
    assert put[0].body["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    updated = kube.get("secrets", "team-a", "dw")
    assert updated is not None and updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert base64.b64decode(updated["data"]["password"]).decode() == second
    second_session = updated["metadata"]["labels"][k8s.LABEL_SESSION]
    assert second_session != first_session

    # The first session's end finds nothing of its own left; the second's deletes the Secret.
    assert run(env, "kube", "end", first_session, "--namespace", "team-a").returncode == 0
    assert kube.get("secrets", "team-a", "dw") is not None
    assert run(env, "kube", "end", second_session, "--namespace", "team-a").returncode == 0
    assert kube.get("secrets", "team-a", "dw") is None
    assert session(alice, second_session)["status"] == "ended"
    # The values went to the API server only inside the sync Secret's data, as the weaker mode says.
    for r in kube.requests:
        outside_data = json.dumps({k: v for k, v in (r.body or {}).items() if k != "data"}).encode()
        assert find_in_bytes(outside_data, VALUES) == []


def test_kube_gc_deletes_what_sessions_ended_elsewhere_left_behind(
    stack: Stack, alice: User, kube: KubeAPI, env: dict[str, str], canary: Canary
) -> None:
    name, _ = add_secret(alice, canary, "gc")
    for secret_name in ("ended-here", "still-live"):
        done = run(
            env, "kube", "sync", "--secret", name, "--name", secret_name, "--namespace", "team-c", "--apply"
        )
        assert done.returncode == 0, done.stderr
    ended = kube.get("secrets", "team-c", "ended-here")
    assert ended is not None
    # Ended on the web page or through the API: nothing told the cluster.
    alice.call("DELETE", f"/sessions/{ended['metadata']['labels'][k8s.LABEL_SESSION]}")
    # Someone else's session (unknown to alice): never hers to delete.
    theirs = k8s.credential_secret(name="theirs", session_id="e" * 32, credential="sbl_x", namespace="team-c")
    kube.objects[("secrets", "team-c", "theirs")] = theirs
    done = run(env, "kube", "gc", "--namespace", "team-c")
    assert done.returncode == 0, done.stderr
    assert sorted(s["metadata"]["name"] for s in kube.of("secrets", "team-c")) == ["still-live", "theirs"]
    assert b"1 object(s)" in done.stderr


def test_sync_apply_leaves_a_secret_that_is_not_sealboxs_alone(
    stack: Stack, alice: User, kube: KubeAPI, env: dict[str, str], canary: Canary
) -> None:
    name, _ = add_secret(alice, canary, "foreign")
    theirs = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "team-b", "uid": "u1"},
    }
    kube.objects[("secrets", "team-b", "db")] = theirs
    done = run(env, "kube", "sync", "--secret", name, "--name", "db", "--namespace", "team-b", "--apply")
    assert done.returncode == 1
    assert b"exists and is not sealbox's" in done.stderr
    assert kube.get("secrets", "team-b", "db") == theirs
    assert [r.method for r in kube.requests] == ["POST", "GET"]
    # The session that fetched the value for it is ended, not left live.
    assert not [s for s in alice.call("GET", "/sessions") if s["mount_path"] == "/kubernetes/team-b/db"]


def test_apply_refuses_cleanly_without_a_cluster(
    stack: Stack, alice: User, env: dict[str, str], canary: Canary, tmp_path: Path
) -> None:
    name, _ = add_secret(alice, canary, "nocluster")
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(yaml.safe_dump(notebook_pod()))
    live_before = alice.call("GET", "/sessions")
    no_config = {**env, "KUBECONFIG": str(tmp_path / "missing")}
    args = ["kube", "pod", "-f", str(pod_file), "--secret", name, "--credential-secret", "c", "--apply"]
    done = run(no_config, *args)
    assert done.returncode == 1
    assert b"no kubeconfig found" in done.stderr
    assert b"Traceback" not in done.stderr
    # An API server that cannot be reached: the session made for the pod is ended again.
    unreachable = KubeAPI(url=f"http://127.0.0.1:{free_port()}")
    down = {**env, "KUBECONFIG": str(unreachable.write_kubeconfig(tmp_path / "down", token=KUBE_TOKEN))}
    done = run(down, *args)
    assert done.returncode == 1
    assert b"cannot be reached" in done.stderr and b"Traceback" not in done.stderr
    assert alice.call("GET", "/sessions") == live_before


def _x25519_public() -> bytes:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
