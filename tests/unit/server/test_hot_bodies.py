"""The read bodies (server/hot.py) and the write routes' answers are encoded from one set of types
(protocol.secret_api.SecretPublic, SecretPage; account_api.UserPublic for /me): each body is what the
OpenAPI document's schema of that type (from msgspec, from the same types) accepts, field for field
and in the schema's order, with times in RFC 3339 UTC ("Z")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jsonschema
import msgspec
import pytest

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import User, UserID
from sealbox.domain.secrets import Page, Secret, SecretID, SecretVersion
from sealbox.domain.sessions import LiveSession, SessionID
from sealbox.server import hot
from sealbox.server.schemas.accounts import UserPublic
from sealbox.server.schemas.secrets import SecretPage, SecretPublic, secret_page, secret_public

T0 = datetime(2026, 11, 26, 19, 17, 44, 123456, tzinfo=UTC)
WHOLE = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)  # no microseconds: "…05Z", not "…05.000000Z"


def secret(**changes: object) -> Secret:
    base: dict[str, object] = {
        "id": SecretID("a" * 32),
        "owner_id": UserID("b" * 32),
        "owner_name": "alice",
        "name": "db_password",
        "kind": Kind.DATABASE,
        "description": 'prod \u00e9 \u2028 "quoted" \n tab\t',
        "field_names": ("host", "password"),
        "created_at": T0,
        "created_by": "alice",
        "updated_at": WHOLE,
        "updated_by": "bob",
        "expires_at": None,
        "current_version": 3,
        "versions": (
            SecretVersion(version=3, created_at=WHOLE, created_by="bob", size=17),
            SecretVersion(version=2, created_at=T0, created_by="alice", size=1),
        ),
        "project": None,
        "project_id": None,
        "scopes": (),
        "access": "owner",
    }
    base.update(changes)
    return Secret(**base)  # type: ignore[arg-type]


VARIANTS = [
    secret(),
    secret(expires_at=T0 + timedelta(days=3), project="team", project_id="p" * 32, scopes=("s3://x/*",)),
    secret(access="use", owner_name="carol", versions=(), field_names=(), kind=Kind.GENERIC),
]


def _time(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def expected_body(s: Secret, *, with_versions: bool, live: list[LiveSession] | None) -> dict[str, object]:
    """The body as the API has always given it (the shape the hot path wrote out by hand before)."""
    return {
        "id": s.id,
        "name": s.name,
        "owner": s.owner_name,
        "ref": s.ref,
        "access": s.access,
        "kind": s.kind.value,
        "description": s.description,
        "fields": list(s.field_names),
        "project": s.project,
        "scopes": list(s.scopes),
        "created_at": _time(s.created_at),
        "created_by": s.created_by,
        "updated_at": _time(s.updated_at),
        "updated_by": s.updated_by,
        "expires_at": _time(s.expires_at),
        "current_version": s.current_version,
        "versions": [
            {
                "version": v.version,
                "created_at": _time(v.created_at),
                "created_by": v.created_by,
                "size": v.size,
            }
            for v in s.versions
        ]
        if with_versions
        else None,
        "sessions": None
        if live is None
        else [{"id": i, "owner": o, "created_at": _time(c), "expires_at": _time(e)} for i, o, c, e in live],
    }


def _schema(struct: type[msgspec.Struct]) -> dict[str, object]:
    (ref,), components = msgspec.json.schema_components([struct], ref_template="#/$defs/{name}")
    return {**ref, "$defs": components}


@pytest.mark.parametrize("s", VARIANTS)
@pytest.mark.parametrize("with_sessions", [False, True])
def test_secret_body_is_the_schema(s: Secret, with_sessions: bool) -> None:
    live = (
        [
            LiveSession(SessionID("sess1"), "alice", T0, WHOLE),
            LiveSession(SessionID("sess2"), "dave", WHOLE, T0),
        ]
        if with_sessions
        else None
    )
    ours, tag = (
        json.loads(msgspec.json.encode(secret_public(s, with_versions=True, live=live))),
        hot.etag(s.current_version),
    )
    assert ours == expected_body(s, with_versions=True, live=live)
    assert list(ours) == list(SecretPublic.__struct_fields__)  # same order as the document's schema
    jsonschema.validate(ours, _schema(SecretPublic))
    assert tag == '"3"'


def test_page_body_is_the_schema() -> None:
    page = Page(items=tuple(VARIANTS), next_cursor="YWxpY2UvZGI")
    ours = json.loads(msgspec.json.encode(secret_page(page)))
    assert ours == {
        "items": [expected_body(s, with_versions=False, live=None) for s in VARIANTS],
        "next_cursor": page.next_cursor,
    }
    jsonschema.validate(ours, _schema(SecretPage))
    last = Page(items=(), next_cursor=None)
    assert json.loads(msgspec.json.encode(secret_page(last))) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("when", [T0, WHOLE])
def test_user_body_is_the_schema(when: datetime) -> None:
    user = User(id=UserID("c" * 32), name="alice", is_admin=True, created_at=when)
    # Byte for byte what pydantic's UserPublic wrote before /me moved to the Struct.
    expected = {"id": "c" * 32, "name": "alice", "is_admin": True, "created_at": _time(when)}
    assert hot.user_body(user) == json.dumps(expected, separators=(",", ":")).encode()
    jsonschema.validate(json.loads(hot.user_body(user)), _schema(UserPublic))
