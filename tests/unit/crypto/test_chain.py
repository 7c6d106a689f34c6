"""The audit chain's keys: derived per master key, bound to their id, verification raises."""

from __future__ import annotations

import pytest

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import Keyring
from sealbox.errors import DecryptionError


def test_a_tag_verifies_under_its_key_and_nothing_else() -> None:
    master = Keyring.generate()
    keys = ChainKeys.derive(master)
    assert keys.current_id == master.current_id.hex()
    tag = keys.tag(b"record")
    keys.verify(b"record", tag, key_id=keys.current_id)
    for message, bad_tag, key_id in (
        (b"recorD", tag, keys.current_id),  # another message
        (b"record", tag[:-1] + ("0" if tag[-1] != "0" else "1"), keys.current_id),  # another tag
        (b"record", tag, "00" * 8),  # an unknown key id
        (b"record", tag[:10], keys.current_id),  # a short tag
        (b"record", "zz" * 32, keys.current_id),  # not hex
        (b"record", None, keys.current_id),  # NULL in the database
        (b"record", tag, None),
    ):
        with pytest.raises(DecryptionError):
            keys.verify(message, bad_tag, key_id=key_id)


def test_keys_differ_per_master_key_and_old_ones_still_verify() -> None:
    old = Keyring.generate()
    new = old.rotated()
    old_keys, new_keys = ChainKeys.derive(old), ChainKeys.derive(new)
    tag = old_keys.tag(b"m")
    assert new_keys.tag(b"m") != tag
    new_keys.verify(b"m", tag, key_id=old_keys.current_id)  # rotation keeps old records verifiable
    assert new_keys.tag(b"m", key_id=old_keys.current_id) == tag
    # The chain key is not the master key itself.
    assert ChainKeys(keys=((old_keys.current_id, old.current),)).tag(b"m") != tag


def test_no_key_in_repr_and_no_empty_set() -> None:
    keys = ChainKeys.derive(Keyring.generate())
    assert repr(keys) == f"ChainKeys(ids={[keys.current_id]})"
    with pytest.raises(ValueError, match="at least one key"):
        ChainKeys(keys=())
