"""`aws-role` secrets (issue 17, broker mode): at launch the session side assumes the role with the key pair
the secret holds, after the server has recorded the role and the session, and the session gets an `aws`
credential with a session token that boto3 reads through `--as aws` and `--as aws-process`.

STS, IAM and S3 are moto's standalone server (PyPI moto[server]) with its policy enforcement switched on
after the set-up (`/moto-api/reset-auth`): an AssumeRole by a user whose policy does not allow it is refused,
and the role's own policy decides that a GET is allowed and a PUT denied. What moto does not do that AWS
would: check the role's trust policy, honour SourceIdentity, or expire credentials at their time. The key
pair the secret holds and the minted key must reach no log of the server or the keeper, no output of
sealbox, and nothing but the session's folder.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sealbox.launcher.cloud_roles import mint_roles, renewal_due
from sealbox.launcher.redeem import Delivered
from sealbox.protocol.sessions import RoleAnswer, RoleReport
from tests.integration.formats_support import PRELUDE, run_as, wait_until
from tests.integration.test_run import Person, make_person, unique
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack, free_port

ACCOUNT = "123456789012"  # moto's default account
BUCKET = "sealbox-roles"
SETUP_KEY = {"aws_access_key_id": "AKIA" + "SETUP00000000000", "aws_secret_access_key": "setup"}


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("roles"), "roles")


@pytest.fixture(scope="module")
def moto_iam() -> Iterator[tuple[str, dict[str, Any]]]:
    """A moto server of this module's own (its policy enforcement is switched on for all its clients): a
    role `reader` allowed s3:GetObject on the bucket, a user `broker` allowed to assume it, a user `nobody`
    who is not; yields its URL and the users' key pairs."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    assert exe, "moto_server is missing: pip install -e '.[dev]' (moto[server])"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(up, "moto_server")
        yield url, _set_up(url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _set_up(url: str) -> dict[str, Any]:
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", **SETUP_KEY)
    role_arn = iam.create_role(
        RoleName="reader",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/broker"},
                        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="reader",
        PolicyName="read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
                    {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
                ],
            }
        ),
    )
    keys = {}
    for user in ("broker", "nobody"):
        iam.create_user(UserName=user)
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
    iam.put_user_policy(
        UserName="broker",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
            }
        ),
    )
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **SETUP_KEY)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="data.txt", Body=b"hello from a role")
    # From here on moto checks every request's signature and the caller's policies.
    assert httpx.post(f"{url}/moto-api/reset-auth", content=b"0").status_code == 200
    return {"role_arn": role_arn, **keys}


def session_public_key() -> str:
    key = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(key).decode()


def role_secret(person: Person, url: str, role_arn: str, key: dict[str, str], **extra: str) -> str:
    name = unique("role")
    fields = {
        "role_arn": role_arn,
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "sts_endpoint": url,
        "region": "eu-west-1",
        **extra,
    }
    person.add(name, kind="aws-role", fields=fields)
    return name


S3_CLIENT = (
    PRELUDE
    + """
import boto3
from botocore.exceptions import ClientError
endpoint, bucket, minted = sys.argv[2], sys.argv[3], sys.argv[4]
session = boto3.Session()
creds = session.get_credentials()
frozen = creds.get_frozen_credentials()
out.update(method=creds.method, region=session.region_name, key=frozen.access_key, token=bool(frozen.token))
Path(minted).write_text(frozen.secret_key)  # for the test's scan of the logs: never in the report
s3 = session.client("s3", endpoint_url=endpoint)
out["got"] = s3.get_object(Bucket=bucket, Key="data.txt")["Body"].read().decode()
try:
    s3.put_object(Bucket=bucket, Key="new.txt", Body=b"x")
    out["put"] = "allowed"
except ClientError as denied:
    out["put"] = denied.response["Error"]["Code"]
out["arn"] = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"]
done()
"""
)


@pytest.mark.parametrize(
    ("fmt", "method"), [("aws", "shared-credentials-file"), ("aws-process", "custom-process")]
)
def test_a_role_assumed_at_launch_reads_but_cannot_write(
    person: Person, stack: Stack, moto_iam: tuple[str, dict[str, Any]], tmp_path: Path, fmt: str, method: str
) -> None:
    url, iam = moto_iam
    base = iam["broker"]
    name = role_secret(person, url, iam["role_arn"], base, duration="15m")
    minted_file = tmp_path / "minted"
    ran = run_as(
        person,
        tmp_path,
        ["--secret", name, "--as", fmt],
        S3_CLIENT,
        url,
        BUCKET,
        str(minted_file),
        values=(base["SecretAccessKey"],),
    )
    assert ran.code == 0, ran.stderr
    report = ran.report
    assert report["method"] == method and report["region"] == "eu-west-1"
    assert report["key"] != base["AccessKeyId"] and report["token"]  # a minted key, not the stored one
    assert report["got"] == "hello from a role"
    assert report["put"] == "AccessDenied"  # the role's policy, enforced by moto
    session_name = report["arn"].rsplit("/", 1)[1]
    assert report["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/sealbox.{person.name}.")
    # The audit names the role and the session, recorded by the server before STS was asked.
    with person.api() as api:
        records = api.get("/api/v1/audit", params={"secret": name}).json()["items"]
    assumed = [r for r in records if r["action"] == "session.assume-role"]
    assert len(assumed) == 1 and assumed[0]["outcome"] == "success"
    assert f"role={iam['role_arn']}" in assumed[0]["detail"] and "duration=900" in assumed[0]["detail"]
    assert session_name.endswith(assumed[0]["session_id"][:24]) and session_name in assumed[0]["detail"]
    minted = minted_file.read_text()
    for secret in (base["SecretAccessKey"], minted):
        assert find_in_bytes(stack.logs(), (secret,)) == []
        assert find_in_bytes(ran.stderr.encode() + ran.stdout.encode(), (secret,)) == []


def test_a_key_pair_not_allowed_to_assume_the_role_starts_nothing(
    person: Person, stack: Stack, moto_iam: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    url, iam = moto_iam
    base = iam["nobody"]
    name = role_secret(person, url, iam["role_arn"], base)
    ran = run_as(
        person,
        tmp_path,
        ["--secret", name, "--as", "aws"],
        PRELUDE + "done()\n",
        values=(base["SecretAccessKey"],),
    )
    assert ran.code != 0 and not ran.report
    assert "STS refused to assume the role" in ran.stderr and "AccessDenied" in ran.stderr
    with person.api() as api:
        records = api.get("/api/v1/audit", params={"secret": name}).json()["items"]
    assumed = [r for r in records if r["action"] == "session.assume-role"]
    assert len(assumed) == 1  # on the record before STS answered
    with stack.client(stack.admin_token) as api:  # a failure report names no person: an admin's view
        records = api.get("/api/v1/audit", params={"session": assumed[0]["session_id"]}).json()["items"]
    failed = [r for r in records if r["action"] == "session.redeem" and r["outcome"] == "failed"]
    assert len(failed) == 1 and "reason=launch_refused" in failed[0]["detail"]
    assert find_in_bytes(stack.logs(), (base["SecretAccessKey"],)) == []


def test_the_role_report_is_refused_without_the_sessions_spent_credential(
    person: Person, moto_iam: tuple[str, dict[str, Any]]
) -> None:
    """Only the holder of a session's redeemed credential reports a role, for an aws-role the session has."""
    url, iam = moto_iam
    role = role_secret(person, url, iam["role_arn"], iam["broker"])
    plain = unique("plain")
    person.add(plain, value="not a role")
    with person.api() as api:
        made = api.post(
            "/api/v1/sessions",
            json={"secrets": [{"name": role, "file": "r"}, {"name": plain, "file": "p"}]},
        ).json()
        session_id, credential = made["session"]["id"], made["session_credential"]

        def report(secret: str, *, cred: str = credential, arn: str = iam["role_arn"]) -> httpx.Response:
            body = {"credential": cred, "secret": secret, "role_arn": arn, "duration_seconds": 900}
            return api.post(f"/api/v1/sessions/{session_id}/roles", json=body, headers={"Authorization": ""})

        assert report(f"{person.name}/{role}").status_code == 401  # not redeemed yet
        redeemed = api.post(
            f"/api/v1/sessions/{session_id}/redeem",
            json={"credential": credential, "public_key": session_public_key()},
            headers={"Authorization": ""},
        )
        assert redeemed.status_code == 200, redeemed.text
        other = "sbl_" + "0" * 16 + "_" + "A" * 43
        assert report(f"{person.name}/{role}", cred=other).status_code == 401
        assert report(f"{person.name}/{plain}").status_code == 404  # not an aws-role
        assert report(f"{person.name}/missing").status_code == 404
        refused = report(f"{person.name}/{role}", arn="arn:aws:iam::123456789012:user/alice")
        assert refused.status_code in (400, 422) and refused.json()["code"] != "internal_error"
        answer = report(f"{person.name}/{role}")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "role_session_name": f"sealbox.{person.name}.{session_id[:24]}",
            "source_identity": person.name,
        }
        assert api.delete(f"/api/v1/sessions/{session_id}").status_code in (200, 204)
        assert report(f"{person.name}/{role}").status_code == 404  # the session is over


def test_a_role_two_items_bring_in_is_assumed_once_and_renewed_half_way(
    moto_iam: tuple[str, dict[str, Any]],
) -> None:
    """The session side's step alone (launcher/cloud_roles.py), with the server's answer given here."""
    url, iam = moto_iam
    base = iam["broker"]
    fields = {
        "role_arn": iam["role_arn"],
        "access_key_id": base["AccessKeyId"],
        "secret_access_key": base["SecretAccessKey"],
        "sts_endpoint": url,
        "duration": "1h",
    }
    value = json.dumps(fields).encode()
    common = {"name": "r", "owner": "o", "kind": "aws-role", "version": 3, "value": value}
    items = (
        Delivered(field=None, file="r", env=None, **common),
        Delivered(field="secret_access_key", file=None, env="KEY", **common),
        Delivered(name="p", owner="o", kind="generic", field=None, file="p", env=None, version=1, value=b"x"),
    )
    reports: list[RoleReport] = []

    def report(role: RoleReport) -> RoleAnswer:
        reports.append(role)
        return RoleAnswer(role_session_name="sealbox.owner.test", source_identity="owner")

    before = time.time()
    minted = mint_roles(items, credential="sbl_" + "0" * 16 + "_" + "A" * 43, report=report)
    assert [r.secret for r in reports] == ["o/r"] and reports[0].duration_seconds == 3600
    assert [i.kind for i in minted] == ["aws", "aws", "generic"] and minted[2] == items[2]
    first, second = minted[0], minted[1]
    assert first.value == second.value and first.renew_at == second.renew_at
    parts = json.loads(first.value)
    assert set(parts) == {"access_key_id", "secret_access_key", "session_token", "expiration"}
    assert parts["access_key_id"] != base["AccessKeyId"]
    assert second.selected() == parts["secret_access_key"].encode()
    expires = datetime.fromisoformat(parts["expiration"]).timestamp()
    assert first.renew_at is not None and before <= first.renew_at <= before + (expires - before) / 2 + 1
    assert not renewal_due(minted, first.renew_at - 1) and renewal_due(minted, first.renew_at)
    assert not renewal_due(items, expires + 1)  # nothing minted, nothing to renew
    for shown in (repr(first), repr(minted)):
        assert parts["secret_access_key"] not in shown and base["SecretAccessKey"] not in shown
