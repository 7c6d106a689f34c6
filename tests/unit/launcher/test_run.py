"""What `sealbox run` writes into the folder: files, field folders, and a manifest of names without values."""

from __future__ import annotations

import json

from sealbox.launcher.contents import folder_contents
from sealbox.launcher.redeem import Delivered

DB = json.dumps({"host": "db.internal", "password": "pw-value"}).encode()


def item(
    name: str,
    value: bytes,
    *,
    kind: str = "generic",
    field: str | None = None,
    file: str | None = None,
    env: str | None = None,
) -> Delivered:
    return Delivered(
        name=name, owner="me", kind=kind, field=field, file=file, env=env, version=3, value=value
    )


def test_files_field_folders_and_manifest() -> None:
    files, manifest = folder_contents(
        [
            item("plain", b"p-value", file="plain"),
            item("renamed", b"r-value", file="other.txt"),
            item("db", DB, kind="database", file="database"),
            item("db", DB, kind="database", field="password", file="db_password"),
            item("env_only", b"e-value", env="E"),
        ]
    )
    assert files == {
        "plain": b"p-value",
        "other.txt": b"r-value",
        "database": {"host": b"db.internal", "password": b"pw-value"},
        "db_password": b"pw-value",
    }
    keys = ("secret", "owner", "field", "file", "kind", "version")
    assert manifest["version"] == 1
    assert [tuple(e[k] for k in keys) for e in manifest["files"]] == [
        ("plain", "me", None, "plain", "generic", 3),
        ("renamed", "me", None, "other.txt", "generic", 3),
        ("db", "me", None, "database", "database", 3),
        ("db", "me", "password", "db_password", "database", 3),
    ]
    text = json.dumps(manifest)
    assert not any(v in text for v in ("p-value", "r-value", "pw-value", "e-value", "db.internal"))


def test_env_only_writes_no_file() -> None:
    files, manifest = folder_contents([item("e", b"v", env="E")])
    assert files == {} and manifest["files"] == []


def test_a_token_with_fields_is_its_token_in_a_file_or_variable() -> None:
    given = json.dumps({"token": "tok-value", "host": "github.com", "username": "me"}).encode()
    files, _ = folder_contents(
        [item("gh", given, kind="token", file="gh"), item("raw", b"{not json", kind="token", file="raw")]
    )
    assert files == {"gh": b"tok-value", "raw": b"{not json"}
