"""Cloud credentials: AWS shared files, an AWS `credential_process` profile, a GCP service-account key."""

from __future__ import annotations

import json
import shlex

from sealbox.domain.kinds import Kind, check_gcp_key
from sealbox.launcher.formats import Place, Rendered, Source, check_text

# Set in a session, these win over the shared files (or change which profile or region is read).
AWS_OUTRANKING = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
# gcloud reads these before GOOGLE_APPLICATION_CREDENTIALS.
GCP_OUTRANKING = ("CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE")
# The program `aws-process` profiles run; it reads the folder at each call (formats/aws_process.py).
PROCESS_MODULE = "sealbox.launcher.formats.aws_process"


def _aws_parts(source: Source, fmt: str) -> dict[str, str]:
    if source.kind != Kind.AWS.value:
        raise source.refuse_kind(fmt, "aws")
    parts = source.parts()
    source.need(fmt, parts, "access_key_id", "secret_access_key")
    for name, value in parts.items():
        check_text(source, fmt, name, value)
    return parts


def _config(region: str | None, *lines: str) -> bytes:
    body = [*lines, *([f"region = {region}"] if region else [])]
    return ("[default]\n" + "".join(f"{line}\n" for line in body)).encode()


def aws_variables(place: Place) -> dict[str, str]:
    return {
        "AWS_SHARED_CREDENTIALS_FILE": f"{place.folder}/credentials",
        "AWS_CONFIG_FILE": f"{place.folder}/config",
    }


def gcp_variables(place: Place) -> dict[str, str]:
    return {"GOOGLE_APPLICATION_CREDENTIALS": f"{place.folder}/key.json"}


def aws(source: Source, place: Place) -> Rendered:
    """`credentials` and `config` with a `default` profile: key pair, session token, region."""
    parts = _aws_parts(source, "aws")
    credentials = [
        f"aws_access_key_id = {parts['access_key_id']}",
        f"aws_secret_access_key = {parts['secret_access_key']}",
    ]
    if parts.get("session_token"):
        credentials.append(f"aws_session_token = {parts['session_token']}")
    return Rendered(
        files={
            "credentials": _config(None, *credentials),
            "config": _config(parts.get("region")),
        },
        env=aws_variables(place),
        outranked_by=AWS_OUTRANKING,
    )


def aws_process(source: Source, place: Place) -> Rendered:
    """A `config` whose `default` profile runs a program that reads `process.json` from the folder at
    each call, so a client that refreshes its credentials picks up a swapped value. An empty `credentials`
    file stands in for ~/.aws/credentials, whose `default` profile botocore would read before the process."""
    parts = _aws_parts(source, "aws-process")
    answer = {
        "Version": 1,
        "AccessKeyId": parts["access_key_id"],
        "SecretAccessKey": parts["secret_access_key"],
    }
    if parts.get("session_token"):
        answer["SessionToken"] = parts["session_token"]
    if parts.get("expiration"):  # minted from an aws-role: botocore asks the program again before then
        answer["Expiration"] = parts["expiration"]
    command = shlex.join([place.python, "-I", "-m", PROCESS_MODULE, f"{place.folder}/process.json"])
    return Rendered(
        files={
            "process.json": json.dumps(answer, sort_keys=True).encode(),
            "credentials": b"",
            "config": _config(parts.get("region"), f"credential_process = {command}"),
        },
        env=aws_variables(place),
        outranked_by=AWS_OUTRANKING,
    )


def gcp(source: Source, place: Place) -> Rendered:
    """The service-account key as Google Cloud gave it, in `key.json`."""
    if source.kind != Kind.GCP.value:
        raise source.refuse_kind("gcp", "gcp")
    check_gcp_key(source.value)  # checked on entry too; a value stored before the rule is checked here
    return Rendered(
        files={"key.json": source.value},
        env=gcp_variables(place),
        outranked_by=GCP_OUTRANKING,
    )
