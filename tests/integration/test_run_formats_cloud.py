"""`sealbox run --as aws | aws-process | gcp | docker`: each secret written where its real client looks,
the client pointed there by its own variable, and read by that client (issue 16).

boto3 signs requests to a local moto server (`moto_server`, started here on loopback); boto3's
`RefreshableCredentials` re-runs the `aws-process` program and picks up a replaced key after `--refresh`
swaps the folder; `google.auth.default()` loads the service-account key and signs with it; docker-py
(`docker.auth`) reads config.json as the docker CLI's format. No docker daemon runs here, so no image is
pulled: the file is checked against the documented format and docker-py's reading of it. Every run has an
empty home folder that must stay empty, and no value may reach sealbox's output or the child's report.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sealbox.launcher.memory import private_roots
from tests.integration.formats_support import PRELUDE, run_as, sha, wait_until
from tests.integration.test_run import Person, make_person, unique
from tests.support.processes import Stack, free_port

Canary = Callable[[str], str]
KEY_ID = "AKIA" + "FORMATS000000001"
KEY_ID_2 = "AKIA" + "FORMATS000000002"


def run_folders() -> set[Path]:
    return {p for root in private_roots() for p in root.glob("run-*")}


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("formats"), "formats")


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """A moto server (PyPI moto[server]) on a loopback port: S3 and STS as boto3 talks to them."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    assert exe, "moto_server is missing: pip install -e '.[dev]' (moto[server])"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(up, "moto_server")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


AWS_CLIENT = (
    PRELUDE
    + """
import boto3
endpoint, bucket = sys.argv[2], sys.argv[3]
session = boto3.Session()
creds = session.get_credentials()
frozen = creds.get_frozen_credentials()
out.update(method=creds.method, region=session.region_name, key=frozen.access_key,
           secret=sha(frozen.secret_key), token=sha(frozen.token or ""),
           modes=[mode(os.environ["AWS_SHARED_CREDENTIALS_FILE"]), mode(os.environ["AWS_CONFIG_FILE"])])
s3 = session.client("s3", endpoint_url=endpoint)
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": session.region_name})
out["buckets"] = [b["Name"] for b in s3.list_buckets()["Buckets"]]
out["caller"] = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
done()
"""
)


def test_aws_files_read_by_boto3_against_moto(
    person: Person, moto: str, canary: Canary, tmp_path: Path
) -> None:
    name, secret, token = unique("aws"), canary("aws-sk"), canary("aws-st")
    fields = {
        "access_key_id": KEY_ID,
        "secret_access_key": secret,
        "session_token": token,
        "region": "eu-central-1",
    }
    person.add(name, kind="aws", fields=fields)
    bucket = unique("bucket")
    ran = run_as(
        person, tmp_path, ["--secret", name, "--as", "aws"], AWS_CLIENT, moto, bucket, values=(secret, token)
    )
    assert ran.code == 0, ran.stderr
    report = ran.report
    assert report["method"] == "shared-credentials-file" and report["region"] == "eu-central-1"
    assert (report["key"], report["secret"], report["token"]) == (KEY_ID, sha(secret), sha(token))
    assert report["modes"] == ["0o400", "0o400"]
    assert bucket in report["buckets"] and report["caller"]
    assert "warning" not in ran.stderr


def test_a_variable_that_outranks_the_files_is_named(
    person: Person, moto: str, canary: Canary, tmp_path: Path
) -> None:
    name, secret = unique("aws"), canary("aws-sk")
    person.add(
        name, kind="aws", fields={"access_key_id": KEY_ID, "secret_access_key": secret, "region": "eu-west-1"}
    )
    ran = run_as(
        person,
        tmp_path,
        ["--secret", name, "--as", "aws"],
        AWS_CLIENT,
        moto,
        unique("bucket"),
        env={"AWS_ACCESS_KEY_ID": KEY_ID_2, "AWS_SECRET_ACCESS_KEY": "elsewhere"},
        values=(secret,),
    )
    assert ran.code == 0, ran.stderr
    assert ran.report["key"] == KEY_ID_2  # the variable won, as the warning said it would
    warnings = [line for line in ran.stderr.splitlines() if line.startswith("sealbox: warning:")]
    assert [w.split()[2] for w in warnings] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert "elsewhere" not in ran.stderr


REFRESHING = (
    PRELUDE
    + """
import time
from botocore.credentials import RefreshableCredentials
creds = __import__("boto3").Session().get_credentials()
out.update(refreshable=isinstance(creds, RefreshableCredentials), method=creds.method,
           first=creds.get_frozen_credentials().access_key, due=creds.refresh_needed())
Path(sys.argv[2] + ".tmp").write_text(out["dir"])
Path(sys.argv[2] + ".tmp").rename(sys.argv[2])
go, waited = Path(sys.argv[2] + ".go"), time.monotonic()
while not go.exists() and time.monotonic() - waited < 90:
    time.sleep(0.05)
creds._protected_refresh(is_mandatory=True)  # what botocore does once the expiry is near
frozen = creds.get_frozen_credentials()
out.update(second=frozen.access_key, secret=sha(frozen.secret_key))
done()
"""
)


def test_aws_process_refreshes_from_the_folder(person: Person, canary: Canary, tmp_path: Path) -> None:
    name, first, second = unique("awsp"), canary("aws-sk1"), canary("aws-sk2")
    person.add(name, kind="aws", fields={"access_key_id": KEY_ID, "secret_access_key": first})
    marker = tmp_path / "started"

    def replace_when_started() -> None:
        wait_until(marker.exists, "the child to start", timeout=120)
        folder = Path(marker.read_text())
        person.replace(name, fields={"access_key_id": KEY_ID_2, "secret_access_key": second})

        def swapped() -> bool:
            manifest = json.loads((folder / "..data" / "@sealbox.json").read_text())
            return bool(manifest["files"][0]["version"] == 2)

        wait_until(swapped, "the refresh swap")
        Path(f"{marker}.go").write_text("")

    helper = threading.Thread(target=replace_when_started, daemon=True)
    helper.start()
    ran = run_as(
        person,
        tmp_path,
        ["--refresh", "--secret", name, "--as", "aws-process"],
        REFRESHING,
        str(marker),
        values=(first, second),
    )
    helper.join(timeout=5)
    assert ran.code == 0, ran.stderr
    report = ran.report
    assert report["refreshable"] and report["method"] == "custom-process" and not report["due"]
    assert (report["first"], report["second"], report["secret"]) == (KEY_ID, KEY_ID_2, sha(second))


GCP_CLIENT = (
    PRELUDE
    + """
import base64
import google.auth
from google.oauth2 import service_account
creds, project = google.auth.default()
out.update(kind=type(creds).__name__, is_sa=isinstance(creds, service_account.Credentials),
           email=creds.service_account_email, project=project,
           signature=base64.b64encode(creds.sign_bytes(b"signed by the session")).decode(),
           mode=mode(os.environ["GOOGLE_APPLICATION_CREDENTIALS"]))
done()
"""
)


def test_gcp_key_loaded_by_google_auth(person: Person, tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = {
        "type": "service_account",
        "project_id": "sealbox-test",
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": "runner@sealbox-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    name = unique("gcp")
    person.add(name, kind="gcp", value=json.dumps(key))
    inner = pem.splitlines()[5]  # a line of the key's body, to scan for
    ran = run_as(
        person,
        tmp_path,
        ["--secret", name, "--as", "gcp"],
        GCP_CLIENT,
        env={"GOOGLE_CLOUD_PROJECT": "sealbox-project"},
        values=(inner,),
    )
    assert ran.code == 0, ran.stderr
    report = ran.report
    assert report["is_sa"] and report["email"] == key["client_email"]
    assert report["project"] == "sealbox-project" and report["mode"] == "0o400"
    private.public_key().verify(
        base64.b64decode(report["signature"]), b"signed by the session", padding.PKCS1v15(), hashes.SHA256()
    )


def test_gcp_values_are_checked_on_entry(person: Person, canary: Canary) -> None:
    value = canary("gcp")
    with person.api() as api:
        bad = api.post(
            "/api/v1/secrets",
            json={"name": unique("gcp"), "kind": "gcp", "value": json.dumps({"private_key": value})},
        )
    assert bad.status_code == 400 and bad.json()["code"] == "missing_field"
    assert value not in bad.text


DOCKER_CLIENT = (
    PRELUDE
    + """
import base64
from docker.auth import load_config, resolve_authconfig
config_dir = os.environ["DOCKER_CONFIG"]
document = json.loads(Path(config_dir, "config.json").read_text())
# The documented format (docs.docker.com, `docker login`):
# {"auths": {REGISTRY: {"auth": base64(user:password)}}}
auths = document["auths"]
out["shape"] = sorted(document) == ["auths"] and all(sorted(v) == ["auth"] for v in auths.values())
user, _, password = base64.b64decode(auths[sys.argv[2]]["auth"]).decode().partition(":")
resolved = resolve_authconfig(load_config(), registry=sys.argv[2])
out.update(user=user, password=sha(password), docker_py_user=resolved["username"],
           docker_py_password=sha(resolved["password"]), mode=mode(Path(config_dir, "config.json")))
done()
"""
)


def test_docker_config_read_by_docker_py(person: Person, canary: Canary, tmp_path: Path) -> None:
    name, token = unique("registry"), canary("docker")
    person.add(name, kind="token", fields={"token": token, "host": "ghcr.io", "username": "octo"})
    ran = run_as(
        person, tmp_path, ["--secret", name, "--as", "docker"], DOCKER_CLIENT, "ghcr.io", values=(token,)
    )
    assert ran.code == 0, ran.stderr
    report = ran.report
    assert report["shape"] and report["mode"] == "0o400"
    assert (report["user"], report["password"]) == ("octo", sha(token))
    assert (report["docker_py_user"], report["docker_py_password"]) == ("octo", sha(token))


@pytest.mark.parametrize(
    ("kind", "body", "fmt", "message"),
    [
        ("token", {"value": "t0ken-alone"}, "docker", "it has no field host"),
        ("token", {"fields": {"token": "t0ken", "host": "ghcr.io"}}, "git", "it has no field username"),
        ("generic", {"value": "v"}, "aws", "takes a secret of kind aws"),
    ],
)
def test_a_format_the_secret_cannot_fill_is_refused(
    person: Person, tmp_path: Path, kind: str, body: dict[str, object], fmt: str, message: str
) -> None:
    name = unique("unfit")
    person.add(name, kind=kind, **body)
    before = run_folders()
    ran = run_as(person, tmp_path, ["--secret", name, "--as", fmt], PRELUDE + "done()\n")
    assert ran.code == 1 and ran.report == {}  # the command never ran
    assert run_folders() == before  # and no folder was written
    lines = ran.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], ran.stderr


def test_unknown_format_and_misplaced_as(person: Person, tmp_path: Path) -> None:
    for args, message in (
        (["--secret", "x", "--as", "yaml"], "unknown format"),
        (["--as", "aws", "--secret", "x"], "--as FORMAT follows the --secret"),
    ):
        ran = run_as(person, tmp_path, args, PRELUDE + "done()\n")
        assert ran.code == 1 and message in ran.stderr, ran.stderr
