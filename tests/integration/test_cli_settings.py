"""A setting out of range is one line naming the setting and what it takes, from every command that
builds settings (issue 12, fault finding 6): the real CLI, no traceback, nothing started."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.processes import base_env, free_port, sealbox_cmd

LIMIT = "error: SEALBOX_AUTH_FAILURE_LIMIT must be an integer from 1 to 10000"


def _run(args: list[str], tmp_path: Path, **env: str) -> list[str]:
    done = subprocess.run(
        sealbox_cmd(*args),
        env=base_env(SEALBOX_DATA_DIR=str(tmp_path / "data"), **env),
        capture_output=True,
        timeout=60,
        check=False,
    )
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 1, (args, done.returncode, err)
    assert "Traceback" not in err and "validation error" not in err, err
    return err.splitlines()


@pytest.mark.parametrize(
    "args",
    [
        ["server", "--port", "{port}"],
        ["up", "--port", "{port}"],
        ["admin", "user", "ls"],
        ["admin", "user", "add", "someone"],
    ],
)
def test_an_out_of_range_setting_is_one_line(args: list[str], tmp_path: Path) -> None:
    argv = [a.format(port=free_port()) for a in args]
    assert _run(argv, tmp_path, SEALBOX_AUTH_FAILURE_LIMIT="1000000") == [LIMIT]
    assert not (tmp_path / "data" / "sealbox.db").exists()  # nothing was started or created


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"SEALBOX_PORT": "70000"}, "error: SEALBOX_PORT must be an integer from 1 to 65535"),
        ({"SEALBOX_WORKERS": "0"}, "error: SEALBOX_WORKERS must be an integer from 1 to 64"),
        ({"SEALBOX_AUTH_FAILURE_LIMIT": "many"}, LIMIT),
        (
            {"SEALBOX_RECOVERY_WINDOW_SECONDS": "7776001"},
            "error: SEALBOX_RECOVERY_WINDOW_SECONDS must be an integer from 1 to 7776000",
        ),
        (
            {"SEALBOX_LOG_LEVEL": "loud"},
            "error: SEALBOX_LOG_LEVEL must be one of debug, info, warning, error, critical",
        ),
        (
            {"SEALBOX_JUPYTERHUB_URL": "javascript:alert(1)"},
            "error: SEALBOX_JUPYTERHUB_URL must be an http:// or https:// URL without query or fragment, "
            "at most 2048 characters",
        ),
    ],
)
def test_the_server_names_the_setting_and_its_range(env: dict[str, str], line: str, tmp_path: Path) -> None:
    lines = _run(["server"], tmp_path, **env)
    assert lines == [line]
    assert not any(v in line for v in env.values() if v not in ("0",))  # the value is not repeated


def test_a_flag_out_of_range_is_the_same_one_line(tmp_path: Path) -> None:
    assert _run(["server", "--workers", "500"], tmp_path) == [
        "error: SEALBOX_WORKERS must be an integer from 1 to 64"
    ]


def test_the_keeper_names_its_setting(tmp_path: Path) -> None:
    lines = _run(["keeper", "--dir", str(tmp_path / "keeper")], tmp_path, SEALBOX_KEEPER_LOG_LEVEL="loud")
    assert lines == ["error: SEALBOX_KEEPER_LOG_LEVEL must be one of debug, info, warning, error, critical"]
