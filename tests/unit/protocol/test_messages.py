"""sealbox.protocol: every message round-trips, and unknown fields, wrong types and broken bounds are one
ProtocolError that quotes nothing of the body."""

from __future__ import annotations

import json

import msgspec
import pytest

from sealbox.protocol.base import Message, NotJSON, ProtocolError, decode, encode
from sealbox.protocol.errors import ErrorBody, FieldProblem
from sealbox.protocol.keeper import (
    MAX_ITEMS,
    Converted,
    ConvertRequest,
    ConvertResponse,
    InnerItem,
    KeeperHealth,
    OuterLayerItem,
    SessionOpenRequest,
    SessionOpenResponse,
)

CANARY = "canary-VALUE-51d0a7"
ITEM = OuterLayerItem(secret_id="s1", version=2, owner_id="u1", outer=b"\x00outer\xff")
MESSAGES: list[Message] = [
    KeeperHealth(status="ok", key_id="ab", wrap_key_id="cd"),
    ConvertRequest(items=[ITEM]),
    ConvertResponse(results=[Converted(outer=b"w", key_id="wrap:ab"), None]),
    SessionOpenRequest(ticket="t.sig", items=[ITEM, ITEM]),
    SessionOpenResponse(sealed_key=b"k", items=[InnerItem(secret_id="s1", version=2, inner=b"i")]),
    ErrorBody(code="launch_refused", message="the keeper refused this launch"),
    ErrorBody(code="invalid_request", message="m", errors=[FieldProblem(field="items", problem="missing")]),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    assert decode(encode(message), type(message)) == message


def test_bytes_travel_as_standard_base64() -> None:
    assert json.loads(encode(ITEM))["outer"] == "AG91dGVy/w=="


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_an_unknown_field_is_refused(message: Message) -> None:
    data = json.loads(encode(message))
    data[CANARY] = 1
    with pytest.raises(ProtocolError) as caught:
        decode(json.dumps(data).encode(), type(message))
    assert CANARY not in str(caught.value) and CANARY not in repr(caught.value)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"ticket": 1, "items": []}, "$.ticket"),
        ({"ticket": "t", "items": {}}, "$.items"),
        (
            {"ticket": "t", "items": [{"secret_id": "s", "version": "2", "owner_id": "u", "outer": ""}]},
            "$.items[0].version",
        ),
        (
            {"ticket": "t", "items": [{"secret_id": "s", "version": 2, "owner_id": "u", "outer": CANARY}]},
            "$.items[0].outer",
        ),
        ({"ticket": "t"}, None),
    ],
)
def test_wrong_types_name_the_place_and_never_the_value(body: dict[str, object], where: str | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(json.dumps(body).encode(), SessionOpenRequest)
    assert caught.value.where == where
    assert CANARY not in str(caught.value)


def test_bounds_are_part_of_the_message() -> None:
    too_many = {"items": [msgspec.to_builtins(ITEM)] * (MAX_ITEMS + 1)}
    with pytest.raises(ProtocolError):
        decode(json.dumps(too_many).encode(), ConvertRequest)


@pytest.mark.parametrize("raw", [b"", b"not json", f'{{"ticket": "{CANARY}"'.encode()])
def test_a_body_that_is_not_json(raw: bytes) -> None:
    with pytest.raises(NotJSON) as caught:
        decode(raw, SessionOpenRequest)
    assert CANARY not in str(caught.value)


def test_messages_are_frozen() -> None:
    with pytest.raises(AttributeError):
        ITEM.version = 3  # type: ignore[misc]
