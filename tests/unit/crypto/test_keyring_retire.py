"""Retiring master keys: the keyring file keeps only the audit-chain key a retired key leaves, which
opens no ciphertext but still verifies audit records tagged under that key id."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.context import Layer
from sealbox.crypto.envelope import open_, seal
from sealbox.crypto.keyring import Keyring, load_keyring, replace_keyring, save_new_keyring
from sealbox.errors import DecryptionError
from sealbox.services.keys import MasterKeyFile
from tests.unit.crypto.rows import row

CTX = row(Layer.DATA_KEY)


def _retired(ring: Keyring) -> Keyring:
    old = ring.keys[1]
    return ring.without({old[0]}, {old[0]: ChainKeys.of_master_key(old[1], old[0])})


def test_a_retired_key_opens_nothing_and_its_audit_records_still_verify(tmp_path: Path) -> None:
    first = Keyring.generate()
    sealed = seal(first, b"a user key", CTX)
    tag = ChainKeys.derive(first).tag(b"record")
    rotated = first.rotated()
    path = tmp_path / "master.key"
    save_new_keyring(path, _retired(rotated))
    loaded = load_keyring(path)
    assert [kid for kid, _ in loaded.keys] == [rotated.current_id]
    with pytest.raises(DecryptionError):
        open_(loaded, sealed, CTX)
    ChainKeys.derive(loaded).verify(b"record", tag, key_id=first.current_id.hex())
    with pytest.raises(DecryptionError):
        ChainKeys.derive(loaded).verify(b"edited", tag, key_id=first.current_id.hex())
    assert first.current not in path.read_bytes()
    assert _retired(loaded.rotated()).chain_only[0][0] == first.current_id  # kept through rotations


def test_the_current_key_is_never_retired() -> None:
    ring = Keyring.generate().rotated()
    with pytest.raises(ValueError):
        ring.without({ring.current_id}, {})


def test_a_server_sees_the_new_current_key_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    ring = Keyring.generate()
    save_new_keyring(path, ring)
    watched = MasterKeyFile(path)
    assert watched.current().current_id == ring.current_id
    rotated = ring.rotated()
    replace_keyring(path, rotated)
    assert watched.current().current_id == rotated.current_id
    path.write_text("not a key file\n")  # broken mid-change: the last good keyring stays
    assert watched.current().current_id == rotated.current_id
