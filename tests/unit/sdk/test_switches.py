"""The JupyterLab panel's per-notebook switches as get_secret reads them (sealbox.sdk.switches). A real
kernel of a real JupyterLab is in tests/integration/test_jupyterlab_api.py."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sealbox import InlineProvider, SecretSwitchedOff, get_secret, set_providers
from sealbox.sdk import switches


@pytest.fixture
def inline() -> object:
    set_providers([InlineProvider({"db": "hunter2-long", "api": "key-123456"})])
    yield
    set_providers(None)


def test_a_name_is_on_until_switched_off_and_each_notebook_has_its_own(tmp_path: Path) -> None:
    path = tmp_path / "switches.json"
    assert switches.switched_off(path, "/nb/a.ipynb") == []  # no file: everything on
    assert switches.set_switch(path, notebooks=("/nb/a.ipynb", "a.ipynb"), name="db", on=False) == ["db"]
    assert switches.set_switch(path, notebooks=("/nb/a.ipynb", "a.ipynb"), name="api", on=False) == [
        "api",
        "db",
    ]
    assert switches.switched_off(path, "a.ipynb") == ["api", "db"]
    assert switches.switched_off(path, "/nb/b.ipynb") == []
    assert switches.set_switch(path, notebooks=("/nb/a.ipynb",), name="db", on=True) == ["api"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert switches.set_switch(path, notebooks=("/nb/a.ipynb",), name="api", on=True) == []
    assert "/nb/a.ipynb" not in switches.read_all(path)


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"notebooks": []}', '{"notebooks": {"a": "db"}}'])
def test_a_malformed_file_switches_nothing_off(tmp_path: Path, text: str) -> None:
    path = tmp_path / "switches.json"
    path.write_text(text)
    assert switches.switched_off(path, "a") == []


def test_get_secret_raises_naming_the_switch_in_that_notebook_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline: object
) -> None:
    path = tmp_path / "switches.json"
    switches.set_switch(path, notebooks=("/home/me/a.ipynb",), name="db", on=False)
    monkeypatch.setenv(switches.SWITCHES_VARIABLE, str(path))
    monkeypatch.setenv(switches.NOTEBOOK_VARIABLE, "/home/me/a.ipynb")
    with pytest.raises(SecretSwitchedOff) as caught:
        get_secret("db", default=None)  # a default does not hide a switch that is off
    message = str(caught.value)
    assert "'db' is switched off for this notebook (/home/me/a.ipynb)" in message
    assert "sealbox panel" in message and "not isolation" in message and "hunter2" not in message
    assert isinstance(caught.value, PermissionError)
    assert get_secret("api") == "key-123456"
    monkeypatch.setenv(switches.NOTEBOOK_VARIABLE, "/home/me/b.ipynb")
    assert get_secret("db") == "hunter2-long"
    monkeypatch.delenv(switches.SWITCHES_VARIABLE)
    monkeypatch.setenv(switches.NOTEBOOK_VARIABLE, "/home/me/a.ipynb")
    assert get_secret("db") == "hunter2-long"  # outside a server with the panel: no switches
