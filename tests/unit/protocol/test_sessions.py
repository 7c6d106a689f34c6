"""sealbox.protocol.sessions and session_api: one declaration of each session body, read by the server and
the session side alike, whose stated rules are the services' own."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import msgspec
import pytest

from sealbox.protocol import session_api
from sealbox.protocol.base import Answer, Message, ProtocolError, decode, decode_answer, encode
from sealbox.protocol.session_answers import (
    ServiceUsableSecret,
    SessionCreated,
    SessionPublic,
    SessionSecretPublic,
)
from sealbox.protocol.session_api import (
    CredentialCreate,
    ServiceFetchIn,
    ServiceSessionSecretIn,
    SessionCreate,
    SessionSecretIn,
)
from sealbox.protocol.sessions import (
    REPORTABLE_FAILURES,
    FailureReport,
    RedeemedItem,
    RedeemRequest,
    RedeemResponse,
)
from sealbox.server.bodies import decode_body
from sealbox.services import session_credentials, sessions

CREDENTIAL = "sbl_" + "a" * 16 + "_" + "b" * 43
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SESSION = SessionPublic(
    id="0" * 32,
    owner="alice",
    project=None,
    mount_path="/secrets",
    status="pending",
    created_at=AT,
    expires_at=AT,
    ended_at=None,
    secrets=[
        SessionSecretPublic(
            name="db",
            owner="alice",
            kind="generic",
            field=None,
            file="db",
            env=None,
            version=1,
            current_version=1,
        )
    ],
)
MESSAGES: list[Message] = [
    RedeemRequest(credential=CREDENTIAL, public_key=base64.b64encode(bytes(32)).decode()),
    FailureReport(credential=CREDENTIAL, code="launch_refused"),
    SessionCreate(secrets=[SessionSecretIn(name="db", file="db")], heartbeat_seconds=60),
    CredentialCreate(credential_ttl_seconds=300),
    ServiceFetchIn(on_behalf_of="alice", secrets=[ServiceSessionSecretIn(name="alice/db", field="url")]),
]
# What the server answers; a client decodes it (and skips a field a newer server adds).
ANSWERS: list[Answer] = [
    SessionCreated(session=SESSION, session_credential=CREDENTIAL, credential_expires_at=AT, keeper_url="u"),
    ServiceUsableSecret(
        ref="db", name="db", owner="alice", kind="database", description="", fields=["url"], project=None
    ),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_what_one_side_encodes_the_server_decodes(message: Message) -> None:
    assert decode_body(encode(message), type(message), "application/json") == message
    assert decode(encode(message), type(message)) == message


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda m: type(m).__name__)
def test_what_the_server_answers_the_client_decodes(answer: Answer) -> None:
    wire = msgspec.json.encode(answer)
    assert decode_answer(wire, type(answer)) == answer
    newer = msgspec.json.decode(wire) | {"added_by_a_newer_server": 1}
    assert decode_answer(msgspec.json.encode(newer), type(answer)) == answer


def test_what_the_server_answers_decodes_as_the_session_side_reads_it() -> None:
    item = RedeemedItem(
        name="db",
        owner="alice",
        secret_id="s1",
        owner_id="u1",
        kind="generic",
        field=None,
        file="db",
        env=None,
        version=3,
        scopes=["x"],
        outer=b"outer",
        wrapped_dek=b"dek",
    )
    out = RedeemResponse(
        session_id="sid",
        mount_path="/secrets",
        sealed_key=b"sealed",
        ticket="t",
        keeper_url="unix:///k.sock",
        items=[item],
    )
    wire = msgspec.json.decode(msgspec.json.encode(out))
    # Bytes travel as standard base64, as they always have.
    assert wire["sealed_key"] == base64.b64encode(b"sealed").decode()
    assert wire["items"][0]["outer"] == base64.b64encode(b"outer").decode()
    got = decode_answer(msgspec.json.encode(out), RedeemResponse)
    assert (got.sealed_key, got.items[0].outer, got.items[0].wrapped_dek) == (b"sealed", b"outer", b"dek")
    assert got.items[0].scopes == ["x"] and got.items[0].file == "db"


def test_the_created_answer_names_the_session_credential() -> None:
    created = SessionCreated(
        session=SESSION, session_credential=CREDENTIAL, credential_expires_at=AT, keeper_url="u"
    )
    wire = msgspec.json.decode(msgspec.json.encode(created))
    assert wire["session_credential"] == CREDENTIAL and "launch_credential" not in wire
    assert wire["credential_expires_at"] == "2026-01-02T03:04:05Z"


def test_the_stated_rules_are_the_services_own() -> None:
    # One declaration each: the services check what the protocol states.
    assert sessions.REPORTABLE_FAILURES is REPORTABLE_FAILURES
    assert session_api.MAX_CREDENTIAL_TTL_SECONDS is session_credentials.MAX_CREDENTIAL_TTL_SECONDS


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"credential": "x", "public_key": "y", "more": 1}', RedeemRequest),
        (b'{"credential": "x"}', RedeemRequest),
        (b'{"credential": "' + b"x" * 201 + b'", "public_key": "y"}', RedeemRequest),
        (b'{"credential": "x", "code": "' + b"c" * 33 + b'"}', FailureReport),
        (b'{"secrets": []}', CredentialCreate),
        (b'{"secrets": [{"name": "db"}], "heartbeat_seconds": 9}', SessionCreate),
        (b'{"secrets": [{"name": "db"}], "ttl_seconds": 0}', SessionCreate),
        (b'{"secrets": [{"name": "db"}], "ttl_seconds": "60"}', SessionCreate),
        (b'{"on_behalf_of": "alice", "secrets": [{"name": 1}]}', ServiceFetchIn),
    ],
)
def test_a_body_that_breaks_a_bound_or_a_type_is_refused(body: bytes, kind: type[Message]) -> None:
    with pytest.raises(ProtocolError):
        decode(body, kind)
