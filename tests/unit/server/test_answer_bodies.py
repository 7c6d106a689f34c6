"""The answers of the routes outside the hot reads (tokens, users, sharing, audit, health) are Structs of
sealbox.protocol, built by server/schemas from the domain's objects: each body has the fields the API has
always answered with, nulls included, times in RFC 3339 UTC ("Z"), and is what the schema the OpenAPI
document takes from the same Struct accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import msgspec
import pytest

from sealbox.domain import collections
from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.domain.grants import Grant, Level
from sealbox.domain.principals import AccessToken, TokenID, User, UserID
from sealbox.protocol.health_api import Health
from sealbox.server.schemas import accounts, audit, sharing
from sealbox.services.tokens import RevokedToken
from sealbox.services.users import DisabledUser

T0 = datetime(2026, 11, 26, 19, 17, 44, 123456, tzinfo=UTC)
T0_TEXT = "2026-11-26T19:17:44.123456Z"
WHOLE = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
WHOLE_TEXT = "2027-01-02T03:04:05Z"
TOKEN = AccessToken(
    id=TokenID("abcdefghijklmnop"),
    user_id=UserID("u" * 32),
    name="ci",
    created_at=T0,
    expires_at=WHOLE,
    revoked_at=None,
)
USER = User(
    id=UserID("c" * 32), name="alice", is_admin=False, created_at=WHOLE, kind="service", disabled_at=T0
)


def body(answer: msgspec.Struct | list[Any]) -> Any:
    """The JSON of an answer, after checking it against its Struct's schema in the document's form."""
    encoded = json.loads(msgspec.json.encode(answer))
    many = isinstance(answer, list)
    struct = type(answer[0] if many else answer)
    (ref,), components = msgspec.json.schema_components([list[struct] if many else struct])
    jsonschema.validate(encoded, {**ref, "$defs": components})
    return encoded


def test_tokens() -> None:
    public = {"id": "abcdefghijklmnop", "name": "ci", "created_at": T0_TEXT, "expires_at": WHOLE_TEXT}
    assert body(accounts.token_public(TOKEN)) == {**public, "revoked_at": None}
    assert body(accounts.token_issued(TOKEN, "sbx_x")) == {**public, "revoked_at": None, "token": "sbx_x"}
    revoked = RevokedToken(token=TOKEN, web_sessions_ended=2)
    assert body(accounts.token_revoked(revoked)) == {**public, "revoked_at": None, "web_sessions_ended": 2}


def test_users() -> None:
    public = {"id": "c" * 32, "name": "alice", "is_admin": False, "created_at": WHOLE_TEXT}
    assert body(accounts.user_public(USER)) == public
    status = {**public, "kind": "service", "disabled_at": T0_TEXT, "removed_at": None}
    assert body([accounts.user_status(USER)]) == [status]
    disabled = accounts.user_disabled(DisabledUser(user=USER, web_sessions_ended=1, sessions_ended=0))
    assert body(disabled) == {"user": status, "web_sessions_ended": 1, "sessions_ended": 0}
    created = accounts.UserCreated(user=accounts.user_public(USER), token="sbx_y")
    assert body(created) == {"user": public, "token": "sbx_y"}


def test_audit_records_keep_their_nulls() -> None:
    event = AuditEvent(
        at=T0, actor_id=None, actor_name=None, token_id=None, action="secret.read", outcome=Outcome.DENIED
    )
    page = audit.AuditPage(items=[audit.audit_record(7, event)], next_cursor=None)
    nulls = ("actor", "token_id", "on_behalf_of", "secret_id", "secret", "version", "session_id")
    more = ("request_id", "client_addr", "detail")
    record = {"id": 7, "at": T0_TEXT, "action": "secret.read", "outcome": "denied"} | dict.fromkeys(
        nulls + more
    )
    assert body(page) == {"items": [record], "next_cursor": None}


@pytest.mark.parametrize("status", ["member", "invited"])
def test_sharing(status: str) -> None:
    grant = Grant(
        secret_id="s",
        grantee_type="group",
        grantee_id="g",
        grantee_name="team",
        level=Level.WRITE,
        created_at=T0,
        created_by="alice",
    )
    assert body([sharing.grant_public(grant)]) == [
        {
            "grantee_type": "group",
            "grantee": "team",
            "level": "write",
            "created_at": T0_TEXT,
            "created_by": "alice",
        }
    ]
    group = collections.Collection(name="team", members=(collections.Member(user="alice", role="manager"),))
    assert body(sharing.answer(sharing.CollectionPublic, group)) == {
        "name": "team",
        "members": [{"user": "alice", "role": "manager"}],
    }
    change = collections.MemberChange(group="team", user="bob", role="member", status=status)
    assert body(sharing.answer(sharing.MemberChange, change)) == {
        "group": "team",
        "user": "bob",
        "role": "member",
        "status": status,
    }
    invitation = collections.Invitation(group="team", role="member", invited_by="alice", created_at=WHOLE)
    assert body([sharing.answer(sharing.InvitationPublic, invitation)]) == [
        {"group": "team", "role": "member", "invited_by": "alice", "created_at": WHOLE_TEXT}
    ]


def test_health() -> None:
    health = Health(status="degraded", database="ok", database_write="storage_full", keeper="ok")
    assert msgspec.json.encode(health) == (
        b'{"status":"degraded","database":"ok","database_write":"storage_full","keeper":"ok"}'
    )
