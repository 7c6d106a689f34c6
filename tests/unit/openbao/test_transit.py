"""Wrapped key files that cannot be opened: refused in one line, never read as a key.

OpenBao itself is in tests/integration/test_openbao_transit.py (a real bao in raft mode: sealed,
restarted, tokens split); here the address is a loopback port nothing listens on.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sealbox.crypto import keyring
from sealbox.crypto.keyring import Keyring, encode_keyring, load_keyring, write_private_file
from sealbox.errors import ConfigError, OpenBaoError
from sealbox.openbao.transit import WrappedFile, install, parse_wrapped


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wrapped(tmp_path: Path, token: str) -> Path:
    token_file = tmp_path / "token"
    write_private_file(token_file, token + "\n")
    text = WrappedFile(
        addr=f"http://127.0.0.1:{_closed_port()}",
        mount="transit",
        key="sealbox-server",
        token_file=str(token_file),
        purpose="master.key",
        ciphertext="vault:v1:AAAA",
    ).render()
    path = tmp_path / "master.key"
    write_private_file(path, text)
    return path


def test_unreachable_openbao_is_one_line_without_the_token(tmp_path: Path) -> None:
    token = "s.canary-token-0123456789abcdef"
    path = _wrapped(tmp_path, token)
    install()
    with pytest.raises(OpenBaoError) as caught:
        load_keyring(path)
    message = str(caught.value)
    assert message.startswith(f"key file {path} cannot be opened: OpenBao at http://127.0.0.1:")
    assert message.endswith("cannot be reached (decrypt with transit/keys/sealbox-server)")
    assert token not in message and caught.value.__cause__ is None


def test_without_the_wrapping_a_wrapped_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _wrapped(tmp_path, "s.x")
    monkeypatch.setattr(keyring, "_wrapping", [])  # a process that never installed it
    with pytest.raises(ConfigError, match="is wrapped by OpenBao Transit, which this program cannot open"):
        load_keyring(path)


def test_a_wrapped_file_is_parsed_strictly(tmp_path: Path) -> None:
    path = _wrapped(tmp_path, "s.x")
    text = path.read_text()
    assert parse_wrapped(text, source="f").purpose == "master.key"
    with pytest.raises(ConfigError, match="is not one sealbox writes"):
        parse_wrapped(text + "extra: 1\n", source="f")
    with pytest.raises(ConfigError, match="lacks a line sealbox needs"):
        parse_wrapped(
            "\n".join(line for line in text.splitlines() if not line.startswith("ciphertext")), source="f"
        )
    plain = tmp_path / "plain.key"
    ring = Keyring.generate()
    write_private_file(plain, encode_keyring(ring))
    assert load_keyring(plain).current == ring.current  # a plain key file reads as before
