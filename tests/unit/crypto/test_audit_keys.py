"""Audit keys of their own (`sealbox admin rotate audit-key`): kept in the master key file as
`audit:` lines, the newest tags new records, every earlier one (and each master key's) still verifies,
and master-key rotation and retirement keep them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import Keyring, load_keyring, replace_keyring, save_new_keyring
from sealbox.errors import DecryptionError
from sealbox.store.audit_chain import LiveChainKeys


def test_the_newest_audit_key_tags_and_every_earlier_key_still_verifies(tmp_path: Path) -> None:
    ring = Keyring.generate()
    master_tag = ChainKeys.derive(ring).tag(b"one")
    once = ring.with_new_audit_key()
    twice = once.with_new_audit_key()
    path = tmp_path / "master.key"
    save_new_keyring(path, twice)
    loaded = load_keyring(path)
    assert [kid for kid, _ in loaded.audit] == [kid for kid, _ in twice.audit]
    keys = ChainKeys.derive(loaded)
    assert keys.current_id == twice.audit[0][0].hex() != once.audit[0][0].hex()
    keys.verify(b"one", master_tag, key_id=ring.current_id.hex())
    keys.verify(b"two", ChainKeys.derive(once).tag(b"two"), key_id=once.audit[0][0].hex())
    with pytest.raises(DecryptionError):
        keys.verify(b"two", ChainKeys.derive(once).tag(b"edited"), key_id=once.audit[0][0].hex())
    assert loaded.find(twice.audit[0][0]) is None, "an audit key opens no ciphertext"


def test_master_key_rotation_and_retirement_keep_the_audit_keys() -> None:
    ring = Keyring.generate().with_new_audit_key()
    rotated = ring.rotated()
    assert rotated.audit == ring.audit
    assert ChainKeys.derive(rotated).current_id == ring.audit[0][0].hex(), "the audit key stays current"
    old_id, old_key = rotated.keys[1]
    retired = rotated.without({old_id}, {old_id: ChainKeys.of_master_key(old_key, old_id)})
    assert retired.audit == ring.audit
    newer = ring.with_new_audit_key()
    with pytest.raises(ValueError):
        newer.without_audit_keys({newer.audit[0][0]})
    assert newer.without_audit_keys({ring.audit[0][0]}).audit == newer.audit[:1]


def test_live_chain_keys_follow_the_keyring_and_derive_once_per_change(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    save_new_keyring(path, Keyring.generate())
    current = [load_keyring(path)]
    live = LiveChainKeys(lambda: current[0])
    first = live()
    assert live() is first, "the same keyring: no new derivation"
    replace_keyring(path, current[0].with_new_audit_key())
    current[0] = load_keyring(path)
    assert live().current_id == current[0].audit[0][0].hex() != first.current_id
