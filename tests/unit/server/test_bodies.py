"""server.bodies: a protocol Struct body is refused as a pydantic body is (400 invalid_json, 422 with the
place and the kind of problem), and no error carries anything of the body; server.openapi states the rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from sealbox.domain import patterns
from sealbox.domain.names import MAX_NAME_LENGTH, MAX_REF_LENGTH
from sealbox.domain.times import LATEST
from sealbox.protocol.account_api import ServiceAccountCreate, UserCreate
from sealbox.protocol.api_fields import STATED
from sealbox.protocol.secret_api import SecretCreate
from sealbox.protocol.session_api import SessionCreate
from sealbox.protocol.sessions import RedeemRequest
from sealbox.protocol.sharing_api import CollectionIn
from sealbox.server.bodies import body_time, decode_body
from sealbox.server.errors import schema_problem
from sealbox.server.openapi import install_openapi

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
    assert refused(b"[" * 10000 + b"]" * 10000)["type"] == "model_type"  # too deep to read untyped
    assert refused(b'{"secrets": ' * 5000 + b"1" + b"}" * 5000)["type"] == "list_type"
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


# --- the other request bodies (secrets, sharing, accounts) ------------------------------------------------


def test_a_value_outside_an_enum_lists_the_choices_from_the_schema() -> None:
    error = refused(b'{"name": "db", "kind": "' + CANARY.encode() + b'", "value": "v"}', SecretCreate)
    assert (
        schema_problem(error)
        == "enum: one of 'generic', 'aws', 'database', 'token', 'ssh-key', 'gcp' or 'aws-role'"
    )
    assert error["loc"] == ("body", "kind")
    error = refused(b'{"name": "svc", "kinds": ["aws", "' + CANARY.encode() + b'"]}', ServiceAccountCreate)
    assert error["loc"] == ("body", "kinds", 1) and error["type"] == "enum"


def test_booleans_maps_and_their_keys_are_refused_as_pydantic_refused_them() -> None:
    assert refused(b'{"name": "bob", "is_admin": "true"}', UserCreate)["type"] == "bool_type"
    error = refused(b'{"name": "db", "fields": {"' + CANARY.encode() + b'": 5}}', SecretCreate)
    assert error == {"type": "string_type", "loc": ("body", "fields", "\x00")}  # the key is never named
    assert refused(b'{"name": "db", "fields": ["a"]}', SecretCreate)["type"] == "dict_type"


def test_a_name_past_the_guard_is_a_422_and_up_to_it_reaches_the_domain() -> None:
    assert decode_body(b'{"name": "' + b"g" * 200 + b'"}', CollectionIn, JSON).name == "g" * 200
    error = refused(b'{"name": "' + b"g" * 201 + b'"}', CollectionIn)
    assert schema_problem(error) == "string_too_long: at most 200 characters"


@pytest.mark.parametrize("text", ["yesterday", "2030-02-30T00:00:00Z", "2030-01-01", CANARY])
def test_a_time_that_is_not_rfc_3339_is_a_value_error_without_the_text(text: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        body_time(text, "expires_at")
    [error] = caught.value.errors()
    assert error["loc"] == ("body", "expires_at")
    assert schema_problem(error).startswith("value_error: ") and text not in schema_problem(error)


def test_a_time_past_the_calendar_is_its_last_instant() -> None:
    assert body_time("9999-12-31T23:59:59-23:59", "expires_at") == LATEST
    assert body_time("2030-01-31T12:00:00+01:00", "expires_at") == datetime(2030, 1, 31, 11, tzinfo=UTC)
    assert body_time(None, "expires_at") is None


def test_the_document_states_the_rules_and_each_body_shape() -> None:
    """A name's stated rule (128) replaces the decoder's guard (200) in the document, and a Struct's
    `json_schema_extra` (the value shapes by kind) is on its schema."""
    app = FastAPI()
    install_openapi(app, structs=(SecretCreate, CollectionIn, ServiceAccountCreate), paths=dict)
    schemas = app.openapi()["components"]["schemas"]
    assert STATED not in json.dumps(schemas)
    assert schemas["CollectionIn"]["properties"]["name"]["maxLength"] == MAX_NAME_LENGTH
    assert schemas["ServiceAccountCreate"]["properties"]["names"]["items"]["maxLength"] == MAX_REF_LENGTH
    assert schemas["SecretCreate"]["oneOf"] == SecretCreate.json_schema_extra["oneOf"]
    assert schemas["SecretCreate"]["properties"]["name"]["pattern"] == patterns.SECRET_NAME
