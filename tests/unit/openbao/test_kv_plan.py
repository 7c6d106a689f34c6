"""The import's plan from OpenBao KV secrets: kinds from field sets and hints, versions, names, skips.

Pure functions over `KVSecret`s as sealbox.openbao.kv reads them (tests/integration/test_openbao_import.py
reads them from a real bao); every value here is a canary, and no plan's repr or note holds one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sealbox.openbao.kv import KVSecret, KVVersion, folder
from sealbox.openbao.kv_plan import Item, expiry_from, infer_kind, plan
from tests.support.canaries import make_canary

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
AKIA = "AKIAABCDEFGHIJKLMNOP"


def _secret(path: str, *datas: dict[str, Any] | None, meta: dict[str, str] | None = None) -> KVSecret:
    versions = tuple(
        KVVersion(number=n, data=d, state="live" if d is not None else "deleted")
        for n, d in enumerate(datas, 1)
    )
    return KVSecret(path=path, current=len(datas), versions=versions, custom_metadata=meta or {})


def _one(secret: KVSecret, existing: frozenset[str] = frozenset()) -> Item:
    (item,) = plan([secret], mount="secret", prefix="team/", existing=set(existing), now=NOW)
    return item


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"access_key_id": AKIA, "secret_access_key": "x"}, "aws"),
        (
            {"access_key_id": AKIA, "secret_access_key": "x", "region": "eu-west-1", "session_token": "t"},
            "aws",
        ),
        ({"value": "x"}, "generic"),
        ({"anything": "x"}, "generic"),
        ({"token": "x"}, "token"),
        ({"token": "x", "host": "github.com", "username": "me"}, "token"),
        ({"host": "db", "password": "x"}, "database"),
        ({"url": "postgresql://db/x"}, "generic"),  # one field alone is a value
        ({"access_key_id": AKIA, "secret_access_key": "x", "note": "y"}, None),
        ({"a": "1", "b": "2"}, None),
        ({"host": "db", "port": "5432"}, None),  # no password or url: no database
    ],
)
def test_kinds_from_field_sets(fields: dict[str, str], kind: str | None) -> None:
    found = infer_kind(fields)
    assert (found.value if found else None) == kind


def test_versions_hints_and_notes() -> None:
    v1, v3 = make_canary("v1"), make_canary("v3")
    secret = _secret(
        "team/db/password",
        {"value": v1},
        None,
        {"value": v3},
        meta={"description": "replica", "expires_at": "30d"},
    )
    item = _one(secret)
    assert (item.action, item.name, item.kind) == ("create", "db_password", "generic")
    assert [p.version for p in item.payloads] == [1, 3] and [p.value for p in item.payloads] == [v1, v3]
    assert item.description == "replica"
    assert item.expires_at == (NOW + timedelta(days=30)).isoformat()
    assert item.note == "left out: version 2 (deleted)"
    for text in (repr(item), item.note):
        assert v1 not in text and v3 not in text


def test_a_kind_hint_decides_and_is_checked() -> None:
    token = make_canary("tok")
    item = _one(_secret("team/gh", {"token": token, "host": "github.com"}, meta={"kind": "token"}))
    assert item.kind == "token" and item.payloads[0].fields == {"token": token, "host": "github.com"}
    bad = _one(_secret("team/k", {"private_key": "not a key"}, meta={"kind": "ssh-key"}))
    assert bad.action == "skip" and bad.note.startswith("not a valid ssh-key secret: ")
    unknown = _one(_secret("team/k", {"value": "x"}, meta={"kind": "vault"}))
    assert unknown.action == "skip" and unknown.note == "custom_metadata kind 'vault' is no sealbox kind"
    aws = _one(_secret("team/a", {"access_key_id": "lower-case", "secret_access_key": "x"}))
    assert aws.action == "skip" and "not a valid aws secret" in aws.note


def test_gcp_fields_become_the_key_document() -> None:
    key = {
        "type": "service_account",
        "client_email": "robot@project.iam.gserviceaccount.com",
        "private_key": "-----BEGIN "
        + "PRIVATE KEY-----\n"
        + make_canary("gcp")
        + "\n-----END "
        + "PRIVATE KEY-----\n",
        "token_uri": "https://oauth2.googleapis.com/token",
        "project_id": "project",
    }
    item = _one(_secret("team/gcp", key))
    assert item.kind == "gcp" and json.loads(item.payloads[0].value or "") == key


def test_skips_say_why() -> None:
    items = plan(
        [
            _secret("team/a/b", {"value": "1"}),
            _secret("team/a_b", {"value": "2"}),
            _secret("team/mine", {"value": "3"}),
            _secret("team/gone", {"value": "4"}, None),
            _secret("team/nested", {"value": {"deep": "x"}}),
            _secret("team/old", {"value": "5"}, meta={"expiry": "2001-01-01T00:00:00Z"}),
            _secret("team/when", {"value": "6"}, meta={"expiry": "soon"}),
            _secret("team/empty", {}),
        ],
        mount="secret",
        prefix="team/",
        existing={"mine"},
        now=NOW,
    )
    notes = {i.path: (i.action, i.note) for i in items}
    assert notes["team/a/b"] == ("create", "")
    assert notes["team/a_b"] == ("skip", "team/a/b becomes a_b too, and is imported")
    assert notes["team/mine"] == ("skip", "you have a secret mine already (an import never replaces)")
    assert notes["team/gone"] == ("skip", "its current version (2) is deleted")
    assert notes["team/nested"] == ("skip", "field value holds a nested object or list")
    assert notes["team/old"] == ("skip", "it expired at 2001-01-01T00:00:00+00:00 (custom_metadata)")
    assert notes["team/when"] == ("skip", "custom_metadata expiry is neither ISO 8601 nor like 30d")
    assert notes["team/empty"] == ("skip", "it has no fields")


def test_numbers_are_text_and_prefixes_are_folders() -> None:
    item = _one(_secret("team/db", {"host": "db", "port": 5432, "password": "x", "ssl": None}))
    assert item.kind == "database" and item.payloads[0].fields == {
        "host": "db",
        "port": "5432",
        "password": "x",
    }
    assert [folder(p) for p in ("team", "/team/", "", "/", "a/b")] == ["team/", "team/", "", "", "a/b/"]
    assert expiry_from("2w", now=NOW) == NOW + timedelta(weeks=2)
    assert expiry_from("2031-01-01", now=NOW) == datetime(2031, 1, 1, tzinfo=UTC)
