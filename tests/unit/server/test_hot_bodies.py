"""server/hot.py encodes the hot reads' bodies itself (msgspec): they must be exactly what the pydantic
schemas of the OpenAPI document give (SecretPublic, SecretPage, UserPublic), field for field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import User, UserID
from sealbox.domain.secrets import Page, Secret, SecretID, SecretVersion
from sealbox.server import hot
from sealbox.server.schemas import MountingSession, SecretPage, SecretPublic, UserPublic

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


@pytest.mark.parametrize("s", VARIANTS)
@pytest.mark.parametrize("with_sessions", [False, True])
def test_secret_body_is_the_schema(s: Secret, with_sessions: bool) -> None:
    live = [("sess1", "alice", T0, WHOLE), ("sess2", "dave", WHOLE, T0)] if with_sessions else []
    ours, tag = (
        json.loads(msgspec.json.encode(hot.secret_body(s, with_versions=True, live=live))),
        hot.etag(s.current_version),
    )
    public = SecretPublic.of(s, with_versions=True)
    public.sessions = [MountingSession(id=i, owner=o, created_at=c, expires_at=e) for i, o, c, e in live]
    assert ours == json.loads(public.model_dump_json())
    assert list(ours) == list(SecretPublic.model_fields)  # same order as the document's schema
    assert tag == '"3"'


def test_page_body_is_the_schema() -> None:
    page = Page(items=tuple(VARIANTS), next_cursor="YWxpY2UvZGI")
    expected = SecretPage(
        items=[SecretPublic.of(s, with_versions=False) for s in VARIANTS], next_cursor=page.next_cursor
    )
    assert json.loads(hot.page_body(page)) == json.loads(expected.model_dump_json())
    last = Page(items=(), next_cursor=None)
    assert json.loads(hot.page_body(last)) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("when", [T0, WHOLE])
def test_user_body_is_the_schema(when: datetime) -> None:
    user = User(id=UserID("c" * 32), name="alice", is_admin=True, created_at=when)
    assert json.loads(hot.user_body(user)) == json.loads(UserPublic.of(user).model_dump_json())
    assert hot.user_body(user) == UserPublic.of(user).model_dump_json().encode()
