"""What a session holds (its folder as the launcher writes it, the variables it set) and the pre-save hook."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sealbox.ipython import notebook
from sealbox.ipython.redact import REDACTED
from sealbox.ipython.values import RECHECK_SECONDS, SessionValues
from sealbox.launcher.spool import SecretFolder
from tests.support.canaries import find_in_bytes, make_canary

CREDENTIALS = "[default]\naws_access_key_id = AKIAEXAMPLE0000000001\naws_secret_access_key = {secret}\n"


def _folder(tmp_path: Path, files: dict[str, bytes | dict[str, bytes]]) -> SecretFolder:
    folder = SecretFolder.create(tmp_path / "secrets")
    folder.write(files, {"files": [{"secret": name, "file": name} for name in files], "version": 1})
    return folder


def test_files_fields_formatted_files_and_delivered_variables_are_redacted(tmp_path: Path) -> None:
    plain, field, secret, variable, other = (make_canary(x) for x in ("plain", "field", "aws", "env", "o"))
    folder = _folder(
        tmp_path,
        {
            "db": plain.encode() + b"\n",
            "aws": {"secret_access_key": field.encode()},
            "credentials": CREDENTIALS.format(secret=secret).encode(),
        },
    )
    env = {
        "SEALBOX_SECRETS_DIR": str(folder.path),
        "SEALBOX_ENV_MAP": json.dumps({"api": "API_TOKEN"}),
        "API_TOKEN": variable,
        "OTHER": other,  # not delivered by sealbox: left alone
    }
    redactor = SessionValues(env).redactor()
    text = f"{plain} {field} {secret} {variable} {other}"
    assert redactor.scrub(text) == f"{REDACTED} {REDACTED} {REDACTED} {REDACTED} {other}"
    assert "sealbox.json" not in str(redactor.needles) and "secret_access_key" not in redactor.needles


def test_words_of_netrc_and_pgpass_files_are_values_but_key_names_and_hosts_are_not(tmp_path: Path) -> None:
    token, password = make_canary("netrc"), "pa:ss\\" + make_canary("pg")
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    folder = _folder(
        tmp_path,
        {
            "netrc": f"machine github.example.com login me password {token}\n".encode(),
            "pgpass": f"db.example.com:5432:analytics:me:{escaped}\n".encode(),
        },
    )
    redactor = SessionValues({"SEALBOX_SECRETS_DIR": str(folder.path)}).redactor()
    shown = f"token={token} password={password} host=db.example.com github.example.com aws_secret_access_key"
    assert redactor.scrub(shown) == (
        f"token={REDACTED} password={REDACTED} host=db.example.com github.example.com aws_secret_access_key"
    )


def test_a_refresh_adds_the_new_values_and_keeps_the_old(tmp_path: Path) -> None:
    old, new = make_canary("old"), make_canary("new")
    folder = _folder(tmp_path, {"db": old.encode()})
    values = SessionValues({"SEALBOX_SECRETS_DIR": str(folder.path)})
    assert values.redactor().scrub(new) == new
    folder.write({"db": new.encode()}, {"files": [{"secret": "db", "file": "db"}], "version": 1})
    time.sleep(RECHECK_SECONDS + 0.05)
    assert values.redactor().scrub(f"{old} {new}") == f"{REDACTED} {REDACTED}"
    folder.remove()  # the session ended: what it held is still redacted
    time.sleep(RECHECK_SECONDS + 0.05)
    assert values.redactor().scrub(old) == REDACTED


def test_the_pre_save_hook_merges_split_streams_and_scrubs_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = make_canary("nb")
    folder = _folder(tmp_path, {"db": value.encode()})
    monkeypatch.setattr(notebook, "_values", SessionValues({"SEALBOX_SECRETS_DIR": str(folder.path)}))
    half = len(value) // 2
    cell = {
        "cell_type": "code",
        "source": [f"token = '{value}'\n", "print(token)"],
        "outputs": [
            {"output_type": "stream", "name": "stdout", "text": [value[:half]]},
            {"output_type": "stream", "name": "stdout", "text": value[half:] + "\n"},
            {"output_type": "display_data", "data": {"text/html": ["<b>", value, "</b>"]}, "metadata": {}},
            {"output_type": "error", "ename": "E", "evalue": value, "traceback": [f"E: {value}"]},
        ],
    }
    model = {"type": "notebook", "content": {"cells": [cell], "metadata": {}, "nbformat": 4}}
    notebook.scrub_pre_save(model, "x.ipynb")
    saved = json.dumps(model).encode()
    assert find_in_bytes(saved, [value]) == []
    outputs = model["content"]["cells"][0]["outputs"]  # type: ignore[index]
    assert outputs[0] == {"output_type": "stream", "name": "stdout", "text": f"{REDACTED}\n"}
    assert len(outputs) == 3
    other = {"type": "file", "content": value}
    notebook.scrub_pre_save(other, "notes.txt")
    assert other["content"] == value  # text files are the user's own business
