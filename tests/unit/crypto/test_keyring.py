"""Keyrings: ids, rotation, masked reprs, and key files that are private, never clobbered, never echoed."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

import pytest

from sealbox.crypto.context import Layer
from sealbox.crypto.envelope import key_id_of, open_, seal
from sealbox.crypto.keyring import (
    KEY_ID_BYTES,
    SYMMETRIC_KEY_BYTES,
    Keyring,
    decode_key_lines,
    encode_key_lines,
    load_keyring,
    new_key_id,
    read_private_file,
    save_new_keyring,
    write_private_file,
)
from sealbox.errors import ConfigError, DecryptionError
from tests.support.canaries import find_raw_bytes
from tests.unit.crypto.rows import row

CTX = row(Layer.DATA_KEY)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- Keyring ---------------------------------------------------------------------------------------


def test_generate() -> None:
    ring = Keyring.generate()
    assert len(ring.keys) == 1
    assert len(ring.current_id) == KEY_ID_BYTES
    assert len(ring.current) == SYMMETRIC_KEY_BYTES
    assert ring.find(ring.current_id) == ring.current
    assert Keyring.generate().current != ring.current


def test_new_key_ids_are_random() -> None:
    ids = {new_key_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(kid) == KEY_ID_BYTES for kid in ids)


def test_find_unknown_id() -> None:
    assert Keyring.generate().find(bytes(KEY_ID_BYTES)) is None


def test_empty_keyring_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^a keyring needs at least one key$"):
        Keyring(keys=())


@pytest.mark.parametrize(
    ("kid", "key", "message"),
    [
        (bytes(7), bytes(32), "key ids must be 8 bytes"),
        (bytes(9), bytes(32), "key ids must be 8 bytes"),
        (bytes(8), bytes(31), "keys must be 32 bytes"),
        (bytes(8), bytes(16), "keys must be 32 bytes"),
    ],
)
def test_keyring_checks_lengths(kid: bytes, key: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        Keyring(keys=((bytes(8), bytes(32)), (kid, key)))


def test_rotation_keeps_old_keys_for_reading() -> None:
    old = Keyring.generate()
    before = seal(old, b"old value", CTX)
    new = old.rotated()
    assert new.current_id != old.current_id
    assert new.current != old.current
    assert new.keys[1:] == old.keys
    # Old ciphertexts still open; new ones use the new current id.
    assert open_(new, before, CTX) == b"old value"
    after = seal(new, b"new value", CTX)
    assert key_id_of(after) == new.current_id
    assert open_(new, after, CTX) == b"new value"
    # A reader that never saw the rotation cannot open what the new key sealed.
    with pytest.raises(DecryptionError):
        open_(old, after, CTX)


def test_rotating_many_times() -> None:
    ring = Keyring.generate()
    sealed = []
    for i in range(5):
        sealed.append((seal(ring, f"v{i}".encode(), CTX), f"v{i}".encode()))
        ring = ring.rotated()
    assert len(ring.keys) == 6
    assert len({kid for kid, _ in ring.keys}) == 6
    for envelope, plaintext in sealed:
        assert open_(ring, envelope, CTX) == plaintext


def test_dropping_a_retired_key_stops_it_opening() -> None:
    ring = Keyring.generate()
    envelope = seal(ring, b"value", CTX)
    pruned = Keyring(keys=ring.rotated().keys[:1])
    with pytest.raises(DecryptionError):
        open_(pruned, envelope, CTX)


def test_repr_holds_ids_but_no_key_bytes() -> None:
    ring = Keyring.generate().rotated()
    text = repr(ring)
    assert text == f"Keyring(ids={[kid.hex() for kid, _ in ring.keys]})"
    assert find_raw_bytes(text.encode(), [key for _, key in ring.keys]) == 0
    assert str(ring) == text
    assert find_raw_bytes(f"{ring!s} {ring!r} {[ring]}".encode(), [key for _, key in ring.keys]) == 0


# -- key lines -------------------------------------------------------------------------------------


def test_key_lines_round_trip() -> None:
    ring = Keyring.generate().rotated()
    text = encode_key_lines(list(ring.keys))
    assert text.count("\n") == 2
    assert text.splitlines()[0].startswith(ring.current_id.hex() + ":")
    assert decode_key_lines(text, source="k") == list(ring.keys)


def test_key_lines_skip_blanks_and_comments() -> None:
    kid, key = secrets.token_bytes(8), secrets.token_bytes(32)
    text = f"# sealbox master key\n\n   \n  {kid.hex()}:{base64.b64encode(key).decode()}  \n# end\n"
    assert decode_key_lines(text, source="k") == [(kid, key)]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "   \n# x\n"])
def test_key_lines_without_a_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^master\.key: holds no key$"):
        decode_key_lines(text, source="master.key")


def _malformed_lines(secret_hex: str, secret_b64: str) -> list[str]:
    return [
        f"{secret_hex}{secret_b64}",  # no colon
        f"{secret_hex}zz:{secret_b64}",  # not hex
        f"{secret_hex[:-1]}:{secret_b64}",  # odd-length hex
        f"{secret_hex}:{secret_b64}!",  # not base64
        f"{secret_hex}:{secret_b64[:-1]}",  # bad base64 padding
        f"{secret_hex}:{secret_b64}\u00e9",  # non-ASCII base64
        f"{secret_hex}\u0661:{secret_b64}",  # non-ASCII hex digit
        f"{secret_hex}: {secret_b64}",  # space inside base64
    ]


@pytest.mark.parametrize("index", range(len(_malformed_lines("00", "AA=="))))
def test_malformed_key_line_is_a_config_error_that_hides_the_line(index: int) -> None:
    secret_hex = secrets.token_hex(8)
    secret_b64 = base64.b64encode(secrets.token_bytes(32)).decode()
    line = _malformed_lines(secret_hex, secret_b64)[index]
    good = f"{secrets.token_hex(8)}:{base64.b64encode(secrets.token_bytes(32)).decode()}"
    with pytest.raises(ConfigError) as info:
        decode_key_lines(f"{good}\n{line}\n", source="/etc/sealbox/master.key")
    message = str(info.value)
    assert message == "/etc/sealbox/master.key: malformed key line"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    for part in (line, secret_hex, secret_b64, secret_b64[:16], good, good[20:40]):
        assert part not in message


def test_load_keyring_refuses_a_malformed_file_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    secret = secrets.token_hex(32)
    write_private_file(path, f"{secret}\n")
    with pytest.raises(ConfigError) as info:
        load_keyring(path)
    assert str(info.value) == f"{path}: malformed key line"
    assert secret not in str(info.value)


@pytest.mark.parametrize(("kid_len", "key_len"), [(4, 32), (8, 16)])
def test_load_keyring_with_a_wrong_length_key_is_a_config_error(
    tmp_path: Path, kid_len: int, key_len: int
) -> None:
    path = tmp_path / "master.key"
    write_private_file(path, encode_key_lines([(secrets.token_bytes(kid_len), secrets.token_bytes(key_len))]))
    with pytest.raises(ConfigError):
        load_keyring(path)


# -- key files -------------------------------------------------------------------------------------


def test_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    ring = Keyring.generate().rotated()
    save_new_keyring(path, ring)
    assert _mode(path) == 0o600
    assert _mode(path.parent) & 0o077 == 0
    assert load_keyring(path) == ring
    assert sorted(p.name for p in path.parent.iterdir()) == ["master.key"]


def test_key_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private_file(tmp_path / "a.key", "x\n")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.key") == 0o600


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = Keyring.generate()
    save_new_keyring(path, first)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        save_new_keyring(path, Keyring.generate())
    assert path.read_bytes() == before
    assert load_keyring(path) == first
    # The temporary file is gone too: no second copy of a key lies around.
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]


def test_write_refuses_to_follow_or_replace_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    link = tmp_path / "master.key"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        write_private_file(link, "key\n")
    assert target.read_text() == "untouched"


def test_replace_private_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    old = Keyring.generate()
    save_new_keyring(path, old)
    new = old.rotated()
    write_private_file(path, encode_key_lines(list(new.keys)), replace=True)
    assert _mode(path) == 0o600
    assert load_keyring(path) == new
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]


def test_replace_tightens_a_loose_mode(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text("old\n")
    path.chmod(0o644)
    write_private_file(path, "new\n", replace=True)
    assert _mode(path) == 0o600
    assert read_private_file(path) == "new\n"


def test_read_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.key"
    with pytest.raises(ConfigError, match=r"does not exist$"):
        read_private_file(path)
    with pytest.raises(ConfigError):
        load_keyring(path)


@pytest.mark.parametrize(
    "mode", [0o640, 0o604, 0o660, 0o644, 0o666, 0o610, 0o601, 0o620, 0o602, 0o707, 0o777]
)
def test_read_refuses_a_file_others_can_use(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    save_new_keyring(path, Keyring.generate())
    path.chmod(mode)
    secret = path.read_text()
    with pytest.raises(ConfigError) as info:
        load_keyring(path)
    assert str(info.value) == f"key file {path} is readable by others; chmod 600 it"
    assert secret.strip() not in str(info.value)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_read_accepts_owner_only_modes(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    ring = Keyring.generate()
    save_new_keyring(path, ring)
    path.chmod(mode)
    assert load_keyring(path) == ring
