"""The format renderers (`sealbox run --as`): each file read back by the parser its client uses, the
variables naming paths only, and refusals that name the missing field and never the value."""

from __future__ import annotations

import base64
import configparser
import json
import netrc as netrc_module
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from sealbox.errors import BadRequest
from sealbox.launcher.formats import FORMATS, Place, Rendered, Source, parse_format, render
from sealbox.launcher.formats.logins import hostname
from sealbox.launcher.formats.ssh import key_file

Canary = Callable[[str], str]
PLACE = Place(folder="/dev/shm/sealbox-0/run-1/it", python="/usr/bin/python3")
KEY_ID = "AKIA" + "0123456789ABCDEF"
PEM = "-----BEGIN PRIVATE" + " KEY-----\nMIIB\n-----END PRIVATE" + " KEY-----\n"


def source(kind: str, value: dict[str, str] | str) -> Source:
    raw = json.dumps(value) if isinstance(value, dict) else value
    return Source(ref="me/it", kind=kind, value=raw.encode())


def refused(call: Callable[[], object], code: str, field: str, *hidden: str) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        call()
    assert (info.value.code, info.value.field) == (code, field)
    for value in hidden:
        assert value not in str(info.value) and value not in repr(info.value)
    return info.value


def no_value_in_env(rendered: Rendered, *values: str) -> None:
    text = json.dumps([rendered.env, rendered.git_config])
    assert not any(v in text for v in values)


def ini(data: bytes) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()  # what botocore's config loader uses
    parser.read_string(data.decode())
    return parser


def test_every_format_is_listed_and_unknown_ones_refused() -> None:
    assert [parse_format(f) for f in FORMATS] == list(FORMATS)
    assert "aws, aws-process, gcp" in refused(lambda: parse_format("kube"), "invalid_format", None).message


def test_aws_credentials_and_config(canary: Canary) -> None:
    secret, token = canary("sk"), canary("st")
    fields = {
        "access_key_id": KEY_ID,
        "secret_access_key": secret,
        "session_token": token,
        "region": "eu-west-1",
    }
    out = render("aws", source("aws", fields), PLACE)
    creds, config = ini(out.files["credentials"]), ini(out.files["config"])
    assert dict(creds["default"]) == {
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": secret,
        "aws_session_token": token,
    }
    assert dict(config["default"]) == {"region": "eu-west-1"}
    assert out.env == {
        "AWS_SHARED_CREDENTIALS_FILE": f"{PLACE.folder}/credentials",
        "AWS_CONFIG_FILE": f"{PLACE.folder}/config",
    }
    assert "AWS_ACCESS_KEY_ID" in out.outranked_by and "AWS_PROFILE" in out.outranked_by
    no_value_in_env(out, secret, token)


def test_aws_without_region_or_token() -> None:
    out = render("aws", source("aws", {"access_key_id": KEY_ID, "secret_access_key": "s"}), PLACE)
    assert "aws_session_token" not in ini(out.files["credentials"])["default"]
    assert dict(ini(out.files["config"])["default"]) == {}


def test_aws_process_runs_the_folder_reader(canary: Canary) -> None:
    secret = canary("sk")
    out = render("aws-process", source("aws", {"access_key_id": KEY_ID, "secret_access_key": secret}), PLACE)
    assert set(out.files) == {"process.json", "config", "credentials"} and out.files["credentials"] == b""
    assert set(out.env) == {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}  # not ~/.aws/credentials
    command = shlex.split(ini(out.files["config"])["default"]["credential_process"])
    assert command == [
        "/usr/bin/python3",
        "-I",
        "-m",
        "sealbox.launcher.formats.aws_process",
        f"{PLACE.folder}/process.json",
    ]
    assert json.loads(out.files["process.json"]) == {
        "Version": 1,
        "AccessKeyId": KEY_ID,
        "SecretAccessKey": secret,
    }
    no_value_in_env(out, secret)


def test_aws_formats_refuse_other_kinds_and_line_breaks(canary: Canary) -> None:
    value = canary("db")
    refused(
        lambda: render("aws", source("database", {"host": "h", "password": value}), PLACE),
        "invalid_format",
        "format",
        value,
    )
    broken = {"access_key_id": KEY_ID, "secret_access_key": value + "\n[evil]"}
    refused(lambda: render("aws", source("aws", broken), PLACE), "invalid_field", "secret_access_key", value)


def test_gcp_key_as_given() -> None:
    key = {
        "type": "service_account",
        "client_email": "a@p.iam.gserviceaccount.com",
        "private_key": PEM,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    out = render("gcp", source("gcp", key), PLACE)
    assert json.loads(out.files["key.json"]) == key
    assert out.env == {"GOOGLE_APPLICATION_CREDENTIALS": f"{PLACE.folder}/key.json"}
    refused(
        lambda: render("gcp", source("gcp", {**key, "token_uri": ""}), PLACE), "missing_field", "token_uri"
    )
    refused(lambda: render("gcp", source("token", "t"), PLACE), "invalid_format", "format")


def pgpass_fields(line: bytes) -> list[str]:
    """libpq's reading of one pgpass line: `:` separates, `\\` escapes the next character."""
    fields, current, chars = [], "", iter(line.decode().rstrip("\n"))
    for c in chars:
        if c == "\\":
            current += next(chars)
        elif c == ":":
            fields.append(current)
            current = ""
        else:
            current += c
    return [*fields, current]


def test_pgpass_escapes_and_wildcards(canary: Canary) -> None:
    password = canary("pw") + r":\x:"
    out = render(
        "pgpass",
        source("database", {"host": "db.internal", "port": "5433", "user": "me", "password": password}),
        PLACE,
    )
    assert pgpass_fields(out.files["pgpass"]) == ["db.internal", "5433", "*", "me", password]
    assert out.files["pgpass"].count(b"\n") == 1
    assert out.env == {"PGPASSFILE": f"{PLACE.folder}/pgpass"} and out.outranked_by == ("PGPASSWORD",)


def test_pgpass_from_a_postgresql_url(canary: Canary) -> None:
    password = canary("pw")
    url = f"postgresql://app%3Auser:{password}%40x@db.example.org:6543/sales"
    out = render("pgpass", source("database", {"url": url}), PLACE)
    assert pgpass_fields(out.files["pgpass"]) == [
        "db.example.org",
        "6543",
        "sales",
        "app:user",
        password + "@x",
    ]
    refused(
        lambda: render("pgpass", source("database", {"url": "mysql://u:p@h/d"}), PLACE),
        "missing_field",
        "host",
    )


def test_pgpass_names_the_missing_field(canary: Canary) -> None:
    value = canary("pw")
    error = refused(
        lambda: render("pgpass", source("database", {"host": "h"}), PLACE), "missing_field", "password"
    )
    assert error.message == 'secret "me/it" cannot be written as pgpass: it has no field password'
    refused(
        lambda: render("pgpass", source("database", {"host": "h", "password": value + "\nx"}), PLACE),
        "invalid_field",
        "password",
        value,
    )


def test_netrc_read_by_python_netrc(tmp_path: Path, canary: Canary) -> None:
    token = canary("tok")
    for secret in (token, 'a "quoted" \\ #token'):
        out = render(
            "netrc",
            source("token", {"token": secret, "host": "https://git.example.org:8443/x", "username": "me"}),
            PLACE,
        )
        path = tmp_path / "netrc"
        path.write_bytes(out.files["netrc"])
        assert netrc_module.netrc(str(path)).authenticators("git.example.org") == ("me", "", secret)
        assert out.env == {"NETRC": f"{PLACE.folder}/netrc"}
    db = render("netrc", source("database", {"host": "db", "user": "u", "password": "p w"}), PLACE)
    path.write_bytes(db.files["netrc"])
    assert netrc_module.netrc(str(path)).authenticators("db") == ("u", "", "p w")


def test_logins_need_host_and_username(canary: Canary) -> None:
    token = canary("tok")
    for fmt in ("netrc", "git", "docker"):
        refused(lambda fmt=fmt: render(fmt, source("token", token), PLACE), "missing_field", "host", token)
        no_user = source("token", {"token": token, "host": "h.example"})
        refused(lambda fmt=fmt, s=no_user: render(fmt, s, PLACE), "missing_field", "username", token)
        refused(
            lambda fmt=fmt: render(fmt, source("generic", token), PLACE), "invalid_format", "format", token
        )
    refused(
        lambda: render("git", source("database", {"host": "h", "user": "u", "password": token}), PLACE),
        "invalid_format",
        "format",
        token,
    )


def test_git_helper_for_the_host_only(canary: Canary) -> None:
    token = canary("tok")
    out = render("git", source("token", {"token": token, "host": "github.com", "username": "me"}), PLACE)
    assert out.files == {"credentials": f"username=me\npassword={token}\n".encode()}
    (clear_key, cleared), (key, helper) = out.git_config
    assert clear_key == key == "credential.https://github.com.helper" and cleared == ""
    assert helper.startswith("!") and f"cat {PLACE.folder}/credentials" in helper
    assert out.env == {}
    no_value_in_env(out, token)
    http = render(
        "git", source("token", {"token": token, "host": "http://127.0.0.1:8080/", "username": "me"}), PLACE
    )
    assert http.git_config[0][0] == "credential.http://127.0.0.1:8080.helper"


def test_docker_config_auths(canary: Canary) -> None:
    token = canary("tok")
    out = render("docker", source("token", {"token": token, "host": "ghcr.io", "username": "me"}), PLACE)
    document = json.loads(out.files["config.json"])
    assert list(document) == ["auths"]
    assert base64.b64decode(document["auths"]["ghcr.io"]["auth"]).decode() == f"me:{token}"
    assert out.env == {"DOCKER_CONFIG": PLACE.folder}


def test_ssh_key_file_and_command() -> None:
    out = render("ssh", source("ssh-key", PEM.replace("\n", "\r\n").rstrip()), PLACE)
    assert out.files == {"id": PEM.encode()}
    assert shlex.split(out.env["GIT_SSH_COMMAND"]) == [
        "ssh",
        "-i",
        f"{PLACE.folder}/id",
        "-o",
        "IdentitiesOnly=yes",
    ]
    assert key_file(b"k\n\n") == b"k\n"
    refused(lambda: render("ssh", source("token", "t"), PLACE), "invalid_format", "format")


def test_paths_with_spaces_and_quotes_stay_one_word() -> None:
    place = Place(folder="/tmp/a b'c/it", python="/opt/py thon")
    ssh = render("ssh", source("ssh-key", PEM), place)
    assert shlex.split(ssh.env["GIT_SSH_COMMAND"])[2] == "/tmp/a b'c/it/id"
    process = render("aws-process", source("aws", {"access_key_id": KEY_ID, "secret_access_key": "s"}), place)
    command = shlex.split(ini(process.files["config"])["default"]["credential_process"])
    assert command[0] == "/opt/py thon" and command[-1] == "/tmp/a b'c/it/process.json"


def test_hostname() -> None:
    assert hostname("github.com") == "github.com"
    assert hostname("https://index.docker.io/v1/") == "index.docker.io"
    assert hostname("127.0.0.1:5000") == "127.0.0.1"


def test_the_credential_process_adds_an_expiry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from sealbox.launcher.formats import aws_process

    now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    document = '{"Version": 1, "AccessKeyId": "AKIAX", "SecretAccessKey": "s"}'
    assert json.loads(aws_process.answer(document, now=now))["Expiration"] == "2026-12-07T20:20:00Z"
    with pytest.raises(ValueError, match="not a credential_process document"):
        aws_process.answer("[]", now=now)
    path = tmp_path / "process.json"
    path.write_text(document)
    assert aws_process.main([str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["AccessKeyId"] == "AKIAX"
    assert aws_process.main([str(tmp_path / "gone.json")]) == 1  # the session ended: its folder is gone
    assert "cannot read the session's AWS key" in capsys.readouterr().err
    assert aws_process.main([]) == 2
