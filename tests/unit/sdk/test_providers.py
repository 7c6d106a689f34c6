"""The providers `get_secret()` asks: the mounted folder, environment variables, a KEY=VALUE file, inline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealbox.launcher.spool import SecretFolder
from sealbox.sdk.providers import (
    EnvProvider,
    FileProvider,
    FolderProvider,
    InlineProvider,
    providers_from_env,
)


def mounted(path: Path, files: dict[str, bytes | dict[str, bytes]], entries: list[dict[str, object]]) -> Path:
    """A folder exactly as `sealbox run` writes it (atomic-writer layout, manifest of names)."""
    folder = SecretFolder.create(path)
    folder.write(files, {"files": entries, "version": 1})
    return path


def entry(secret: str, file: str, field: str | None = None) -> dict[str, object]:
    return {"secret": secret, "owner": "me", "field": field, "file": file, "kind": "generic", "version": 1}


# --- FolderProvider ---------------------------------------------------------------------------------------


def test_folder_reads_a_file_named_like_the_secret(tmp_path: Path) -> None:
    folder = mounted(tmp_path / "s", {"db_password": b"hunter2"}, [entry("db_password", "db_password")])
    provider = FolderProvider(folders=(folder,))
    assert provider.get("db_password", None) == "hunter2"
    assert provider.get("other", None) is None


def test_folder_reads_a_field_from_a_subfolder(tmp_path: Path) -> None:
    files: dict[str, bytes | dict[str, bytes]] = {
        "aws": {"access_key_id": b"AKIA1", "secret_access_key": b"sk"}
    }
    folder = mounted(tmp_path / "s", files, [entry("aws", "aws")])
    provider = FolderProvider(folders=(folder,))
    assert provider.get("aws", "secret_access_key") == "sk"
    assert provider.get("aws", "region") is None
    assert provider.get("aws", None) is None  # a folder is not a value


def test_folder_follows_the_manifest_to_a_renamed_file(tmp_path: Path) -> None:
    files: dict[str, bytes | dict[str, bytes]] = {
        "token.txt": b"t0k",
        "database": {"password": b"pw", "host": b"h"},
        "region": b"eu-west-1",
    }
    entries = [entry("gh", "token.txt"), entry("db", "database"), entry("aws", "region", field="region")]
    provider = FolderProvider(folders=(mounted(tmp_path / "s", files, entries),))
    assert provider.get("gh", None) == "t0k"
    assert provider.get("db", "password") == "pw"
    assert provider.get("aws", "region") == "eu-west-1"
    assert provider.get("token.txt", None) == "t0k"  # the file's own name works too


def test_folder_without_a_manifest_is_a_plain_mount(tmp_path: Path) -> None:
    (tmp_path / "api_key").write_text("k")
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "region").write_text("r")
    provider = FolderProvider(folders=(tmp_path,))
    assert provider.get("api_key", None) == "k"
    assert provider.get("aws", "region") == "r"


@pytest.mark.parametrize("key", ["../escape", "..", ".", "a/b", "/etc/passwd", "", "a\x00b"])
def test_folder_refuses_names_that_leave_the_folder(tmp_path: Path, key: str) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "escape").write_text("outside")
    provider = FolderProvider(folders=(inner,))
    assert provider.get(key, None) is None
    assert provider.get("x", key) is None


def test_folder_ignores_a_manifest_entry_pointing_outside(tmp_path: Path) -> None:
    folder = mounted(tmp_path / "s", {"x": b"inside"}, [entry("x", "x")])
    data = folder / "..data"
    target = data.resolve() / "@sealbox.json"
    target.chmod(0o600)
    target.write_text(json.dumps({"files": [entry("x", "../../outside")]}))
    (tmp_path / "outside").write_text("outside")
    assert FolderProvider(folders=(folder,)).get("x", None) == "inside"


def test_folder_looks_in_sealbox_secrets_dir_then_slash_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALBOX_SECRETS_DIR", str(tmp_path))
    (tmp_path / "n").write_text("v")
    provider = FolderProvider()
    assert provider.get("n", None) == "v"
    assert provider.describe() == f"folders {tmp_path}, /secrets"
    monkeypatch.delenv("SEALBOX_SECRETS_DIR")
    assert provider.describe() == "folders /secrets"


def test_the_first_folder_that_has_it_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "n").write_text("second")
    provider = FolderProvider(folders=(first, second))
    assert provider.get("n", None) == "second"
    (first / "n").write_text("first")
    assert provider.get("n", None) == "first"


# --- EnvProvider ------------------------------------------------------------------------------------------


def test_env_follows_sealbox_env_map() -> None:
    env = {
        "SEALBOX_ENV_MAP": json.dumps({"db": "PGPASSWORD", "aws.secret_access_key": "AWS_SECRET"}),
        "PGPASSWORD": "pw",
        "AWS_SECRET": "sk",
    }
    provider = EnvProvider(environ=env)
    assert provider.get("db", None) == "pw"
    assert provider.get("aws", "secret_access_key") == "sk"
    assert provider.get("aws", "region") is None


def test_env_falls_back_to_a_variable_named_like_the_secret() -> None:
    provider = EnvProvider(environ={"api_key": "a", "DB_PASSWORD": "b", "AWS_REGION": "c"})
    assert provider.get("api_key", None) == "a"
    assert provider.get("db-password", None) == "b"
    assert provider.get("aws", "region") == "c"
    assert provider.get("missing", None) is None


def test_env_ignores_a_broken_map() -> None:
    for broken in ("not json", "[1, 2]", json.dumps({"x": "UNSET_VAR"})):
        provider = EnvProvider(environ={"SEALBOX_ENV_MAP": broken, "X": "fallback"})
        assert provider.get("x", None) == "fallback"


def test_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALBOX_ENV_MAP", json.dumps({"tok": "MY_TOKEN_VAR"}))
    monkeypatch.setenv("MY_TOKEN_VAR", "t")
    assert EnvProvider().get("tok", None) == "t"
    assert EnvProvider().describe() == "environment variables"


# --- FileProvider -----------------------------------------------------------------------------------------

DOTENV = """\
# a comment line
   # an indented comment

PLAIN=value
SPACED = spaced value
export EXPORTED=exported
DOUBLE="double quoted"
SINGLE='single quoted'
HALF="not closed
EQUALS=a=b=c
aws.secret_access_key=sk
EMPTY=
not a pair
"""


@pytest.mark.parametrize(
    ("key", "field", "expected"),
    [
        ("PLAIN", None, "value"),
        ("SPACED", None, "spaced value"),
        ("EXPORTED", None, "exported"),
        ("DOUBLE", None, "double quoted"),
        ("SINGLE", None, "single quoted"),
        ("HALF", None, '"not closed'),
        ("EQUALS", None, "a=b=c"),
        ("aws", "secret_access_key", "sk"),
        ("EMPTY", None, ""),
        ("# a comment line", None, None),
        ("not a pair", None, None),
        ("MISSING", None, None),
    ],
)
def test_file_reads_key_value_lines(
    tmp_path: Path, key: str, field: str | None, expected: str | None
) -> None:
    path = tmp_path / "secrets.env"
    path.write_text(DOTENV)
    assert FileProvider(path=path).get(key, field) == expected


def test_file_from_sealbox_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.env"
    path.write_text("K=v\n")
    provider = FileProvider()
    assert provider.get("K", None) is None
    assert provider.describe() == "no KEY=VALUE file (SEALBOX_SECRETS_FILE unset)"
    monkeypatch.setenv("SEALBOX_SECRETS_FILE", str(path))
    assert provider.get("K", None) == "v"
    assert provider.describe() == f"file {path}"
    monkeypatch.setenv("SEALBOX_SECRETS_FILE", str(tmp_path / "absent.env"))
    assert provider.get("K", None) is None


# --- InlineProvider and the default chain -----------------------------------------------------------------


def test_inline_values_and_fields() -> None:
    provider = InlineProvider({"a": "1", "aws.region": "r"})
    assert provider.get("a", None) == "1"
    assert provider.get("aws", "region") == "r"
    assert provider.get("b", None) is None
    assert "1" not in repr(provider)


def test_providers_from_env_default_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEALBOX_PROVIDERS", raising=False)
    assert [p.name for p in providers_from_env()] == ["folder", "env", "file"]


def test_providers_from_env_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALBOX_PROVIDERS", " env , vault,folder")
    assert [p.name for p in providers_from_env()] == ["env", "folder"]
    monkeypatch.setenv("SEALBOX_PROVIDERS", "")
    assert providers_from_env() == []
