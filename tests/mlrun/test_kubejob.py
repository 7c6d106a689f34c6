"""`fn.apply(sealbox_secrets([...]))` on a real MLRun job function, and its redemption for real.

No Kubernetes and no MLRun API server run here (MLRun 1.12's client does not build the job's pod: its API
server does, from the function's spec). What stands in, and nothing more:
- the stand-in Kubernetes API server of tests/support/kubeapi.py receives the credential Secret, through
  the official `kubernetes` client configured from a kubeconfig, as on a cluster;
- the pod is the function's spec as MLRun would send it (`fn.to_dict()`): its volumes, mounts, variables
  and labels are asserted there;
- the job's container is a real process of this venv, with the spec's variables, each mount path replaced
  by a folder standing in for its volume (a /dev/shm folder for the memory emptyDir; the Secret laid out
  as the kubelet lays out a secret volume), running the function locally (`fn.run(local=True)`), whose
  handler reads through `mlrun.get_secret_or_env(..., secret_provider=sealbox's)`: the first read redeems
  the credential against real sealbox server and keeper processes.
"""

from __future__ import annotations

import pytest

from tests.mlrun.support import PYTHON, SKIP_REASON, kubelet_secret_volume, mlrun_env

mlrun = pytest.importorskip("mlrun", reason=SKIP_REASON)

import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from sealbox.errors import PodSpecError  # noqa: E402
from sealbox.integrations.kubernetes import LABEL_SESSION, LABEL_SESSION_SIDE  # noqa: E402
from sealbox.integrations.mlrun import sealbox_secrets  # noqa: E402
from sealbox.sdk.client import Client  # noqa: E402
from tests.integration.test_run import Person, make_person  # noqa: E402
from tests.support.canaries import find_in_bytes  # noqa: E402
from tests.support.kubeapi import KubeAPI, running_kube_api  # noqa: E402
from tests.support.processes import Stack, base_env  # noqa: E402

Canary = Callable[[str], str]
NAMESPACE = "mlrun-jobs"

HANDLER = textwrap.dedent(
    """
    import hashlib
    import mlrun
    from sealbox.integrations.mlrun import secret_provider

    def handler(context):
        value = mlrun.get_secret_or_env("ml_k8s", secret_provider=secret_provider)
        field = mlrun.get_secret_or_env("ml_k8s_aws.secret_access_key", secret_provider=secret_provider)
        context.log_result("db", hashlib.sha256(value.encode()).hexdigest())
        context.log_result("field", hashlib.sha256(field.encode()).hexdigest())
    """
)
POD_MAIN = textwrap.dedent(
    """
    import faulthandler, json, sys
    import mlrun
    faulthandler.dump_traceback_later(240, exit=True)  # a hang fails with its stack, before the timeout
    fn = mlrun.code_to_function(
        "sbx-k8s", filename=sys.argv[1], kind="job", image="mlrun/mlrun", handler="handler"
    )
    run = fn.run(local=True, artifact_path=sys.argv[2])
    # A failed local run stays "created", and its `outputs` would wait for completion for ever.
    state = run.state()
    print(json.dumps({"state": state, "outputs": run.outputs if state == "completed" else None}))
    """
)


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("mlrun-k8s"), prefix="mlk8s")


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeAPI]:
    with running_kube_api() as api:
        api.write_kubeconfig(tmp_path / "kubeconfig", token="kube-tester")
        yield api


@pytest.fixture
def shm() -> Iterator[Path]:
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm: the memory emptyDir stands on a tmpfs folder")
    path = Path(tempfile.mkdtemp(prefix="sealbox-mlrun-", dir="/dev/shm"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def job_function(tmp_path: Path) -> Any:
    (tmp_path / "job.py").write_text(HANDLER)
    return mlrun.code_to_function(
        "sbx-k8s", filename=str(tmp_path / "job.py"), kind="job", image="mlrun/mlrun", handler="handler"
    )


def run_as_pod(
    spec: dict[str, Any], secret: dict[str, Any], *, tmp_path: Path, empty_dir: Path
) -> subprocess.CompletedProcess[bytes]:
    """The job's container: the spec's variables, its mounts replaced by the folders standing for them."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    hosts: dict[str, Path] = {}
    for mount in spec["volume_mounts"]:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            assert volume["emptyDir"]["medium"] == "Memory"
            hosts[mount["mountPath"]] = empty_dir
        else:
            hosts[mount["mountPath"]] = kubelet_secret_volume(tmp_path / mount["name"], volume, secret)
    env: dict[str, str] = {}
    for item in spec["env"]:
        value = item["value"]
        for mount_path, host in hosts.items():
            if value == mount_path or value.startswith(mount_path + "/"):
                value = str(host) + value[len(mount_path) :]
        env[item["name"]] = value
    (tmp_path / "pod_main.py").write_text(POD_MAIN)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [PYTHON, str(tmp_path / "pod_main.py"), str(tmp_path / "job.py"), str(tmp_path / "artifacts")],
        env=base_env(**mlrun_env(home), **env),
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
        check=False,
    )


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_modifier_gives_the_job_a_credential_and_the_job_redeems_it(
    person: Person, stack: Stack, kube: KubeAPI, shm: Path, canary: Canary, tmp_path: Path
) -> None:
    value, key = canary("mlk8s"), canary("mlk8sk")
    person.add("ml_k8s", value=value)
    person.add(
        "ml_k8s_aws",
        kind="aws",
        fields={"access_key_id": "AKIA" + "ABCDEFGH12345678", "secret_access_key": key},
    )
    fn = job_function(tmp_path)
    with Client(stack.url, person.token) as client:
        modifier = sealbox_secrets(
            ["ml_k8s", "ml_k8s_aws"],
            client=client,
            namespace=NAMESPACE,
            kubeconfig=str(tmp_path / "kubeconfig"),
        )
        assert fn.apply(modifier) is fn

    # The Secret reached the "cluster": the credential and session id only, labelled with the session.
    assert modifier.session_id is not None and modifier.secret is not None
    name = modifier.secret["metadata"]["name"]
    stored = kube.get("secrets", NAMESPACE, name)
    assert stored is not None and set(stored["data"]) == {"credential", "session-id"}
    assert stored["metadata"]["labels"][LABEL_SESSION] == modifier.session_id

    # The pod MLRun would build: sealbox's two volumes, two mounts, the variables, the labels; no value,
    # no credential anywhere in the function's record (which MLRun stores and shows).
    record = fn.to_dict()
    spec = record["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["sealbox-secrets"]["emptyDir"]["medium"] == "Memory"
    assert volumes["sealbox-credential"]["secret"]["secretName"] == name
    assert volumes["sealbox-credential"]["secret"]["defaultMode"] == 0o400
    mounts = {m["name"]: m for m in spec["volume_mounts"]}
    assert mounts["sealbox-credential"]["readOnly"] is True
    env = {e["name"]: e.get("value") for e in spec["env"]}
    assert env["SEALBOX_SECRETS_DIR"] == "/run/sealbox/secrets"
    assert env["SEALBOX_MLRUN_SERVER_URL"] == stack.url
    assert record["metadata"]["labels"][LABEL_SESSION_SIDE] == "true"
    # What docs/mlrun.md says: a job's spec has no field for init containers or sidecars.
    fields = type(fn.spec)._dict_fields
    assert not [f for f in fields if "init_container" in f or "sidecar" in f], fields
    credential = stored["data"]["credential"]
    dumped = json.dumps(record).encode()
    assert credential.encode() not in dumped
    assert find_in_bytes(dumped, [value, key]) == []

    # The job's container: the first read redeems, then serves the files.
    done = run_as_pod(spec, stored, tmp_path=tmp_path, empty_dir=shm)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert result["state"] == "completed", result
    assert result["outputs"] == {"db": sha(value), "field": sha(key)}
    folder = shm / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert find_in_bytes(done.stdout + done.stderr, [value, key]) == []
    assert find_in_bytes(kube.raw_bytes(), [value, key]) == []

    # The credential was spent: a second pod with the same Secret gets nothing.
    second = Path(tempfile.mkdtemp(prefix="sealbox-mlrun-", dir="/dev/shm"))
    (tmp_path / "second").mkdir()
    (tmp_path / "second" / "job.py").write_text(HANDLER)
    try:
        again = run_as_pod(spec, stored, tmp_path=tmp_path / "second", empty_dir=second)
    finally:
        shutil.rmtree(second, ignore_errors=True)
    outcome = json.loads(again.stdout.decode().strip().splitlines()[-1])
    assert outcome == {"state": "created", "outputs": None}  # MLRun's state of a local run that raised
    assert b"(invalid_credential, HTTP 401)" in again.stderr
    assert not (second / "secrets").exists()
    assert find_in_bytes(again.stdout + again.stderr, [value, key]) == []


def test_a_modifier_serves_one_run(person: Person, stack: Stack, kube: KubeAPI, tmp_path: Path) -> None:
    person.add("ml_once", value="not-a-real-value-1234")
    with Client(stack.url, person.token) as client:
        modifier = sealbox_secrets(
            ["ml_once"], client=client, namespace=NAMESPACE, kubeconfig=str(tmp_path / "kubeconfig")
        )
        job_function(tmp_path).apply(modifier)
        with pytest.raises(PodSpecError, match="applied already"):
            job_function(tmp_path).apply(modifier)
        before = person.session_count()
        with pytest.raises(PodSpecError, match="kind job"):
            sealbox_secrets(["ml_once"], client=client, namespace=NAMESPACE)(object())
        assert person.session_count() == before  # refused before a session was made
        with pytest.raises(PodSpecError, match="60-900"):
            sealbox_secrets(["ml_once"], client=client, credential_ttl=30)
    assert len(kube.of("secrets", NAMESPACE)) == 1
