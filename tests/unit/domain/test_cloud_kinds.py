"""The kind `aws-role`: its fields, its rules, the duration it asks for, and the names STS is given."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sealbox.domain.cloud_kinds import (
    DEFAULT_DURATION_S,
    duration_seconds,
    role_session_name,
    source_identity,
)
from sealbox.domain.kinds import SPECS, Kind, encode_fields
from sealbox.errors import BadRequest

MakeCanary = Callable[..., str]
ROLE = "arn:aws:iam::123456789012:role/analytics-read"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _refused(fields: dict[str, str], code: str, field: str) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        encode_fields(Kind.AWS_ROLE, fields)
    assert (info.value.status_code, info.value.code, info.value.field) == (400, code, field)
    return info.value


def test_the_fields_of_an_aws_role() -> None:
    spec = SPECS[Kind.AWS_ROLE]
    assert spec.required == ("role_arn",)
    assert set(spec.optional) == {"access_key_id", "secret_access_key", "duration", "region", "sts_endpoint"}


@pytest.mark.parametrize(
    "fields",
    [
        {"role_arn": ROLE},
        {"role_arn": "arn:aws-cn:iam::123456789012:role/path/to/Role_1+=,.@-"},
        {"role_arn": ROLE, "access_key_id": KEY_ID, "secret_access_key": SECRET_KEY},
        {"role_arn": ROLE, "duration": "900", "region": "eu-west-1"},
        {"role_arn": ROLE, "duration": "12h", "sts_endpoint": "https://sts.eu-west-1.amazonaws.com"},
        {"role_arn": ROLE, "sts_endpoint": "https://vpce-1.sts.eu-west-1.vpce.amazonaws.com:443/"},
        {"role_arn": ROLE, "sts_endpoint": "http://127.0.0.1:5000"},
        {"role_arn": ROLE, "sts_endpoint": "http://localhost"},
    ],
)
def test_an_aws_role_taken(fields: dict[str, str]) -> None:
    assert json.loads(encode_fields(Kind.AWS_ROLE, fields)) == fields


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({}, "missing_field", "role_arn"),
        ({"role_arn": "arn:aws:iam::123456789012:user/alice"}, "invalid_field", "role_arn"),
        ({"role_arn": "arn:aws:iam::12345:role/r"}, "invalid_field", "role_arn"),
        ({"role_arn": ROLE + " "}, "invalid_field", "role_arn"),
        ({"role_arn": ROLE, "access_key_id": KEY_ID}, "missing_field", "secret_access_key"),
        ({"role_arn": ROLE, "secret_access_key": SECRET_KEY}, "missing_field", "access_key_id"),
        (
            {"role_arn": ROLE, "access_key_id": "akia", "secret_access_key": "x"},
            "invalid_field",
            "access_key_id",
        ),
        (
            {"role_arn": ROLE, "access_key_id": KEY_ID, "secret_access_key": "a b"},
            "invalid_field",
            "secret_access_key",
        ),
        ({"role_arn": ROLE, "duration": "899"}, "invalid_field", "duration"),
        ({"role_arn": ROLE, "duration": "13h"}, "invalid_field", "duration"),
        ({"role_arn": ROLE, "duration": "1d"}, "invalid_field", "duration"),
        ({"role_arn": ROLE, "duration": "-900"}, "invalid_field", "duration"),
        ({"role_arn": ROLE, "region": "Europe"}, "invalid_field", "region"),
        ({"role_arn": ROLE, "sts_endpoint": "http://sts.amazonaws.com"}, "invalid_field", "sts_endpoint"),
        ({"role_arn": ROLE, "sts_endpoint": "http://127.0.0.1.example.org"}, "invalid_field", "sts_endpoint"),
        ({"role_arn": ROLE, "sts_endpoint": "ftp://sts"}, "invalid_field", "sts_endpoint"),
    ],
)
def test_an_aws_role_refused(fields: dict[str, str], code: str, field: str) -> None:
    _refused(fields, code, field)


def test_a_refusal_echoes_no_value(canary: MakeCanary) -> None:
    secret = canary("role-sk")
    refused = _refused(
        {"role_arn": ROLE, "access_key_id": "bad" + secret, "secret_access_key": secret},
        "invalid_field",
        "access_key_id",
    )
    for text in (str(refused), refused.message, repr(refused), repr(refused.args)):
        assert secret not in text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (None, DEFAULT_DURATION_S),
        ("900", 900),
        ("900s", 900),
        ("90m", 5400),
        ("12h", 43200),
        ("43200", 43200),
    ],
)
def test_durations(text: str | None, seconds: int) -> None:
    assert duration_seconds(text) == seconds


def test_the_names_sts_is_given() -> None:
    session = "0123456789abcdef0123456789abcdef"
    assert role_session_name("alice", session) == "sealbox.alice." + session[:24]
    long = role_session_name("a" * 64, session)
    assert len(long) == 63 and long.startswith("sealbox." + "a" * 30 + ".")
    assert role_session_name("x y/z", session).startswith("sealbox.x-y-z.")
    assert source_identity("alice") == "alice" and source_identity("a") == "a_"
