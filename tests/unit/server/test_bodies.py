"""server.bodies: a protocol Struct body is refused as a pydantic body is (400 invalid_json, 422 with the
place and the kind of problem), and no error carries anything of the body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from sealbox.protocol.session_api import SessionCreate
from sealbox.protocol.sessions import RedeemRequest
from sealbox.server.bodies import decode_body
from sealbox.server.errors import schema_problem

CANARY = "canary-BODY-7f3e"
JSON = "application/json"


def refused(body: bytes, kind: type[Any] = SessionCreate, content_type: str | None = JSON) -> dict[str, Any]:
    with pytest.raises(RequestValidationError) as caught:
        decode_body(body, kind, content_type)
    [error] = caught.value.errors()
    assert CANARY not in repr(error)
    return dict(error)


def test_an_unknown_field_is_extra_forbidden_and_its_name_is_not_kept() -> None:
    error = refused(b'{"secrets": [{"name": "db", "' + CANARY.encode() + b'": 1}]}')
    assert error["type"] == "extra_forbidden" and error["loc"][:3] == ("body", "secrets", 0)


def test_a_missing_field_is_named_from_the_schema() -> None:
    assert refused(b"{}") == {"type": "missing", "loc": ("body", "secrets")}
    assert refused(b'{"credential": "x"}', RedeemRequest)["loc"] == ("body", "public_key")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"secrets": [{"name": "db"}], "heartbeat_seconds": 9}', "greater_than_equal: at least 10"),
        (b'{"secrets": [{"name": "db"}], "heartbeat_seconds": 3601}', "less_than_equal: at most 3600"),
        (b'{"secrets": [{"name": "' + b"n" * 201 + b'"}]}', "string_too_long: at most 200 characters"),
        (b'{"secrets": [' + b'{"name": "a"},' * 500 + b'{"name": "a"}]}', "too_long: at most 500 items"),
        (b'{"secrets": "' + CANARY.encode() + b'"}', "list_type"),
        (b'{"secrets": [{"name": "db"}], "ttl_seconds": "60"}', "int_type"),
        (b'{"secrets": [{"name": "db"}], "ttl_seconds": true}', "int_type"),
    ],
)
def test_a_broken_bound_or_type_says_what_the_schema_allows(body: bytes, problem: str) -> None:
    assert schema_problem(refused(body)) == problem


def test_not_json_an_empty_body_and_another_media_type() -> None:
    assert refused(b'{"secrets": ' + CANARY.encode())["type"] == "json_invalid"
    assert refused(b"\xff\xfe")["type"] == "json_invalid"
    assert refused(b"5\xff\x00")["type"] == "json_invalid"  # refused as a type before its end is read
    assert refused(b"null")["type"] == "model_type"
    assert refused(b"") == {"type": "missing", "loc": ("body",)}
    assert refused(b'{"secrets": []}', content_type="text/plain")["type"] == "model_attributes_type"
    assert refused(b'{"secrets": []}', content_type=None)["type"] == "model_attributes_type"


def test_a_json_media_type_with_parameters_is_json() -> None:
    got = decode_body(b'{"secrets": [{"name": "db"}]}', SessionCreate, "application/json; charset=utf-8")
    assert got.secrets[0].name == "db"


def test_a_whole_number_written_as_a_float_is_an_integer_as_json_schema_says() -> None:
    got = decode_body(b'{"secrets": [{"name": "db"}], "ttl_seconds": 4279.0}', SessionCreate, JSON)
    assert got.ttl_seconds == 4279 and isinstance(got.ttl_seconds, int)
    error = refused(b'{"secrets": [{"name": "db"}], "ttl_seconds": 4279.5}')
    assert error == {"type": "int_type", "loc": ("body", "ttl_seconds")}
    error = refused(b'{"secrets": [{"name": "db"}], "ttl_seconds": 1e300}')
    assert error["type"] == "int_type"
