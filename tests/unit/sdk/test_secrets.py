"""`get_secret()` over the provider chain, `set_providers()`, `mask_logging()`, and `import sealbox`."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sealbox
from sealbox import (
    EnvProvider,
    FileProvider,
    FolderProvider,
    InlineProvider,
    SecretNotFound,
    get_secret,
    mask_logging,
    set_providers,
)
from sealbox.sdk import providers
from sealbox.sdk import secrets as sdk_secrets


@pytest.fixture(autouse=True)
def fresh_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """get_secret keeps module state (chain, returned values, masking factory): reset it for each test."""
    factory = logging.getLogRecordFactory()
    monkeypatch.setattr(sdk_secrets, "_returned", set())
    monkeypatch.setattr(sdk_secrets, "_masking", False)
    for name in ("SEALBOX_SECRETS_DIR", "SEALBOX_ENV_MAP", "SEALBOX_SECRETS_FILE", "SEALBOX_PROVIDERS"):
        monkeypatch.delenv(name, raising=False)
    yield
    set_providers(None)
    logging.setLogRecordFactory(factory)


# --- get_secret -------------------------------------------------------------------------------------------


def test_the_first_provider_that_has_it_wins() -> None:
    set_providers([InlineProvider({"a": "first"}), InlineProvider({"a": "second", "b": "only-second"})])
    assert get_secret("a") == "first"
    assert get_secret("b") == "only-second"


def test_default_order_is_folder_then_env_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mount"
    folder.mkdir()
    dotenv = tmp_path / "s.env"
    dotenv.write_text("n=from-file\nonly_file=f\n")
    monkeypatch.setenv("SEALBOX_SECRETS_DIR", str(folder))
    monkeypatch.setenv("SEALBOX_SECRETS_FILE", str(dotenv))
    assert get_secret("n") == "from-file"
    monkeypatch.setenv("n", "from-env")
    assert get_secret("n") == "from-env"
    (folder / "n").write_text("from-folder")
    assert get_secret("n") == "from-folder"
    assert get_secret("only_file") == "f"
    monkeypatch.setenv("SEALBOX_PROVIDERS", "file,folder")
    assert get_secret("n") == "from-file"


def test_a_field() -> None:
    set_providers([InlineProvider({"aws.secret_access_key": "sk"})])
    assert get_secret("aws", field="secret_access_key") == "sk"
    with pytest.raises(SecretNotFound, match=r"'aws\.region'"):
        get_secret("aws", field="region")


def test_a_default_instead_of_an_error() -> None:
    set_providers([InlineProvider({})])
    assert get_secret("missing", default=None) is None
    assert get_secret("missing", default="fallback") == "fallback"
    assert get_secret("missing", field="f", default=0) == 0


def test_not_found_names_the_places_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALBOX_SESSION_ID", "s")  # in a session: no hint about starting one
    set_providers(
        [
            FolderProvider(folders=(tmp_path,)),
            EnvProvider(environ={}),
            FileProvider(path=tmp_path / "s.env"),
            InlineProvider({}),
        ]
    )
    with pytest.raises(SecretNotFound) as caught:
        get_secret("db_password")
    message = str(caught.value)
    assert message == (
        f"secret 'db_password' not found; looked in: folders {tmp_path}, environment variables, "
        f"file {tmp_path / 's.env'}, inline values"
    )
    assert caught.value.name == "db_password"
    assert len(caught.value.places) == 4
    assert isinstance(caught.value, KeyError)  # `except KeyError` works as with a mapping


@pytest.mark.parametrize("where", ["nothing", "SEALBOX_SECRETS_DIR", "SEALBOX_SESSION_ID", "folder"])
def test_not_found_outside_a_session_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Issue 12, new user 13: outside any session the message says to run inside `sealbox run`; inside one
    (its variables, or a mounted default folder) it does not."""
    monkeypatch.delenv("SEALBOX_SECRETS_DIR", raising=False)
    monkeypatch.delenv("SEALBOX_SESSION_ID", raising=False)
    monkeypatch.setattr(providers, "DEFAULT_FOLDERS", (str(tmp_path / "secrets"),))
    if where.startswith("SEALBOX_"):
        monkeypatch.setenv(where, str(tmp_path))
    elif where == "folder":
        (tmp_path / "secrets").mkdir()
    set_providers([EnvProvider(environ={})])
    with pytest.raises(SecretNotFound) as caught:
        get_secret("db_password")
    hint = "run it inside `sealbox run` or a session started with secrets"
    assert (hint in str(caught.value)) is (where == "nothing")
    assert (caught.value.hint is not None) is (where == "nothing")
    assert str(caught.value).startswith("secret 'db_password' not found; looked in: environment variables")


def test_not_found_with_no_provider() -> None:
    set_providers([])
    with pytest.raises(SecretNotFound, match="no provider"):
        get_secret("x")


def test_set_providers_none_goes_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("from_env", "e")
    set_providers([InlineProvider({})])
    assert get_secret("from_env", default=None) is None
    set_providers(None)
    assert get_secret("from_env") == "e"


def test_renamed_file_and_env_map_as_sealbox_run_sets_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealbox.launcher.spool import SecretFolder

    folder = SecretFolder.create(tmp_path / "run")
    folder.write(
        {"other.txt": b"renamed"},
        {"files": [{"secret": "tok", "owner": "me", "field": None, "file": "other.txt", "kind": "generic"}]},
    )
    monkeypatch.setenv("SEALBOX_SECRETS_DIR", str(folder.path))
    monkeypatch.setenv("SEALBOX_ENV_MAP", json.dumps({"aws.secret_access_key": "AWS_SK"}))
    monkeypatch.setenv("AWS_SK", "sk")
    assert get_secret("tok") == "renamed"
    assert get_secret("aws", field="secret_access_key") == "sk"


# --- mask_logging -----------------------------------------------------------------------------------------


def test_mask_logging_hides_returned_values_in_messages_and_args(caplog: pytest.LogCaptureFixture) -> None:
    set_providers([InlineProvider({"tok": "s3cr3t-value", "other": "another-secret"})])
    token = get_secret("tok")
    mask_logging()
    other = get_secret("other")  # returned after masking began: masked too
    log = logging.getLogger("test.mask")
    with caplog.at_level(logging.INFO, logger="test.mask"):
        log.info("token is %s", token)
        log.info("inline %s and %r", other, {"k": token})
        log.info(f"f-string {token}")  # a value already in the message
        log.info("mapping %(t)s", {"t": token})
        log.info("harmless %d", 42)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "token is ***",
        "inline *** and {'k': '***'}",
        "f-string ***",
        "mapping ***",
        "harmless 42",
    ]
    assert all(
        "s3cr3t" not in r.getMessage() and "another-secret" not in r.getMessage() for r in caplog.records
    )
    assert "s3cr3t" not in caplog.text and "another-secret" not in caplog.text


def test_mask_logging_installs_once_and_leaves_short_values(caplog: pytest.LogCaptureFixture) -> None:
    set_providers([InlineProvider({"short": "abc", "long": "abcd-long"})])
    mask_logging()
    factory = logging.getLogRecordFactory()
    mask_logging()
    assert logging.getLogRecordFactory() is factory
    short, long = get_secret("short"), get_secret("long")
    with caplog.at_level(logging.INFO, logger="test.mask"):
        logging.getLogger("test.mask").info("%s %s", short, long)
    # Values under 4 characters are not masked: they would blank out ordinary words.
    assert caplog.records[-1].getMessage() == "abc ***"


def test_mask_logging_hides_values_in_exception_text() -> None:
    set_providers([InlineProvider({"db": "postgres://u:hunter2-pw@h/db"})])
    url = get_secret("db")
    mask_logging()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("test.mask.exc")
    log.addHandler(handler)
    try:
        try:
            raise ConnectionError(f"cannot connect to {url}")
        except ConnectionError:
            log.exception("connect failed")
    finally:
        log.removeHandler(handler)
    assert "connect failed" in stream.getvalue()
    assert "hunter2-pw" not in stream.getvalue()


def test_without_mask_logging_nothing_changes(caplog: pytest.LogCaptureFixture) -> None:
    set_providers([InlineProvider({"tok": "visible-value"})])
    token = get_secret("tok")
    with caplog.at_level(logging.INFO, logger="test.mask"):
        logging.getLogger("test.mask").info("token %s", token)
    assert caplog.records[-1].getMessage() == "token visible-value"


# --- the public surface -----------------------------------------------------------------------------------


def test_exported_members() -> None:
    assert sealbox.__all__ == [
        "AmbiguousCredential",
        "Client",
        "ClientError",
        "CredentialNotFound",
        "DecryptionError",
        "EnvProvider",
        "FileProvider",
        "FolderProvider",
        "InlineProvider",
        "SealboxError",
        "SecretNotFound",
        "SecretSwitchedOff",
        "get_credential",
        "get_secret",
        "mask_logging",
        "set_providers",
    ]
    for name in sealbox.__all__:
        member = getattr(sealbox, name)
        assert getattr(member, "__module__", "").startswith("sealbox."), name


def test_import_sealbox_loads_no_server_code() -> None:
    code = "import json, sys, sealbox; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout
    loaded = set(json.loads(out))
    heavy = {"fastapi", "starlette", "sqlalchemy", "alembic", "psycopg", "uvicorn", "granian"}
    assert {m.split(".")[0] for m in loaded} & heavy == set()
    ours = {m for m in loaded if m.startswith("sealbox.")}
    assert not {m for m in ours if m.split(".")[1] in {"server", "store", "services", "keeper", "cli"}}, ours
