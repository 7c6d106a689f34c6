"""The child's environment: only the `--env` mappings and where the files are; sealbox's own is untouched."""

from __future__ import annotations

import json
import os

import pytest

from sealbox.errors import BadRequest
from sealbox.launcher.environ import child_environment
from sealbox.launcher.redeem import Delivered

AWS = json.dumps({"access_key_id": "AKIA0000000000000000", "secret_access_key": "sk-value"}).encode()


def item(
    name: str,
    value: bytes,
    *,
    env: str | None = None,
    file: str | None = None,
    field: str | None = None,
    kind: str = "generic",
) -> Delivered:
    return Delivered(
        name=name, owner="me", kind=kind, field=field, file=file, env=env, version=1, value=value
    )


def test_only_the_mapped_variables_are_added() -> None:
    base = {"PATH": "/usr/bin", "HOME": "/home/me"}
    env = child_environment(
        [
            item("tok", b"t0k3n", env="MY_TOKEN"),
            item("aws", AWS, kind="aws", field="secret_access_key", env="AWS_SECRET_ACCESS_KEY"),
            item("file_only", b"not-in-env", file="file_only"),
        ],
        secrets_dir="/dev/shm/sealbox-0/run-1",
        session_id="s1",
        base=base,
    )
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "MY_TOKEN": "t0k3n",
        "AWS_SECRET_ACCESS_KEY": "sk-value",
        "SEALBOX_SECRETS_DIR": "/dev/shm/sealbox-0/run-1",
        "SEALBOX_SESSION_ID": "s1",
        "SEALBOX_ENV_MAP": json.dumps({"aws.secret_access_key": "AWS_SECRET_ACCESS_KEY", "tok": "MY_TOKEN"}),
    }
    assert base == {"PATH": "/usr/bin", "HOME": "/home/me"}


def test_no_folder_no_secrets_dir() -> None:
    env = child_environment([item("tok", b"x", env="T")], secrets_dir=None, session_id="s", base={})
    assert "SEALBOX_SECRETS_DIR" not in env
    assert env["T"] == "x"


def test_sealbox_own_environment_is_never_changed() -> None:
    before = dict(os.environ)
    env = child_environment(
        [item("tok", b"value-for-child", env="CHILD_ONLY")], secrets_dir=None, session_id="s"
    )
    assert env["CHILD_ONLY"] == "value-for-child"
    assert dict(os.environ) == before
    assert "CHILD_ONLY" not in os.environ
    assert {k: v for k, v in env.items() if k in before} == before


@pytest.mark.parametrize(
    "value",
    [b"a\x00b", b"\x00", b"\xff\xfe", b"caf\xe9", b"\x80abc"],
    ids=["nul-inside", "nul-only", "bom-like", "latin-1", "continuation-byte"],
)
def test_a_value_a_variable_cannot_hold_is_refused(value: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        child_environment([item("bin", value, env="BIN")], secrets_dir=None, session_id="s", base={})
    assert caught.value.code == "invalid_env_value"
    assert repr(value) not in str(caught.value)


def test_the_same_binary_value_is_fine_as_a_file() -> None:
    env = child_environment([item("bin", b"\x00\xff", file="bin")], secrets_dir="/d", session_id="s", base={})
    assert json.loads(env["SEALBOX_ENV_MAP"]) == {}


def test_text_that_is_unusual_but_valid_passes_unchanged() -> None:
    text = "line1\nline2\t= spaced ünïcødé 🔑"
    env = child_environment([item("t", text.encode(), env="T")], secrets_dir=None, session_id="s", base={})
    assert env["T"] == text


def test_delivered_never_shows_its_value() -> None:
    delivered = item("tok", b"super-secret-value", env="T")
    assert "super-secret-value" not in repr(delivered)
    assert item("aws", AWS, kind="aws").fields == json.loads(AWS)
    assert item("aws", AWS, kind="aws", field="secret_access_key").selected() == b"sk-value"
    assert item("plain", b"v").fields is None


def test_a_field_the_value_does_not_have_is_an_error_naming_it() -> None:
    """Issue 12, new user 8: an aws secret without a region gave an empty file or variable, and exit 0."""
    no_region = item("aws", AWS, kind="aws", field="region", env="REGION")
    with pytest.raises(BadRequest) as caught:
        no_region.selected()
    assert caught.value.code == "missing_field"
    assert "me/aws" in caught.value.message and "region" in caught.value.message
    assert "sk-value" not in str(caught.value)
    with pytest.raises(BadRequest):
        child_environment([no_region], secrets_dir=None, session_id="s", base={})


@pytest.mark.parametrize("name", ["PYTHONWARNINGS", "BROWSER", "https_proxy", "LD_PRELOAD"])
def test_a_reserved_name_from_the_server_is_refused_where_it_would_be_set(name: str) -> None:
    """A session made before the rule grew (or by another server) still holds such a mapping: the
    session side applies the same rule before it sets anything."""
    with pytest.raises(BadRequest) as info:
        child_environment(
            [item("shared", b"value", env=name)], secrets_dir=None, session_id="s1", base={"PATH": "/bin"}
        )
    assert info.value.code == "invalid_env"
