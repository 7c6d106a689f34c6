"""The key hierarchy: master ring -> user key -> one data key per version -> inner -> outer layer."""

from __future__ import annotations

from typing import TypedDict

import pytest

from sealbox.crypto.context import Layer
from sealbox.crypto.envelope import HEADER_BYTES, key_id_of, open_, open_with_key, seal_with_key
from sealbox.crypto.keyring import KEY_ID_BYTES, SYMMETRIC_KEY_BYTES, Keyring
from sealbox.crypto.sealing import (
    PrivateKeySet,
    PublicKeySet,
    is_sealed_to_keeper,
    keeper_wrap,
    open_outer,
    open_sealed,
)
from sealbox.crypto.wrapping import (
    StoredVersion,
    UserKey,
    encrypt_version,
    master_key_id_of,
    new_user_key,
    open_inner,
    outer_context,
    rewrap_data_key,
    unwrap_data_key,
    unwrap_user_key,
    wrap_user_key,
)
from sealbox.errors import DecryptionError
from tests.support.canaries import find_raw_bytes
from tests.unit.crypto.rows import MOVE_IDS, MOVES, OWNER_ID, SECRET_ID, VERSION, row


class RowIds(TypedDict):
    secret_id: str
    version: int
    owner_id: str


ROW = RowIds(secret_id=SECRET_ID, version=VERSION, owner_id=OWNER_ID)


def _encrypt(user_key: UserKey, keeper: PublicKeySet, plaintext: bytes = b"hunter2") -> StoredVersion:
    return encrypt_version(
        user_key, keeper, plaintext, secret_id=SECRET_ID, version=VERSION, owner_id=OWNER_ID
    )


def _decrypt(user_key: UserKey, private: PrivateKeySet, stored: StoredVersion) -> bytes:
    """What the session side ends up doing: the keeper strips the outer layer, the DEK opens the inner."""
    inner = open_sealed(private, stored.outer, outer_context(**ROW))
    dek = unwrap_data_key(
        user_key, stored.wrapped_dek, secret_id=SECRET_ID, version=VERSION, owner_id=OWNER_ID
    )
    return open_inner(dek, inner, secret_id=SECRET_ID, version=VERSION, owner_id=OWNER_ID)


# -- user keys -------------------------------------------------------------------------------------


def test_new_user_key() -> None:
    a, b = new_user_key(), new_user_key()
    assert len(a.kid) == KEY_ID_BYTES and len(a.key) == SYMMETRIC_KEY_BYTES
    assert a.kid != b.kid and a.key != b.key


def test_user_key_repr_holds_no_key_bytes() -> None:
    uk = new_user_key()
    text = f"{uk!r} {uk!s} {[uk]}"
    assert uk.kid.hex() in repr(uk) or repr(uk.kid) in repr(uk)
    assert find_raw_bytes(text.encode(), [uk.key]) == 0
    assert repr(uk.key) not in text


def test_user_key_is_frozen() -> None:
    uk = new_user_key()
    with pytest.raises(AttributeError):
        uk.key = bytes(32)  # type: ignore[misc]


def test_wrap_and_unwrap_user_key(ring: Keyring) -> None:
    uk = new_user_key()
    wrapped = wrap_user_key(ring, uk, user_id="alice")
    assert master_key_id_of(wrapped) == ring.current_id
    assert uk.key not in wrapped
    assert unwrap_user_key(ring, wrapped, user_id="alice") == uk


@pytest.mark.parametrize("other", ["bob", "alic", "alice ", "", "ALICE"])
def test_user_key_wrapped_for_one_user_does_not_unwrap_for_another(ring: Keyring, other: str) -> None:
    wrapped = wrap_user_key(ring, new_user_key(), user_id="alice")
    with pytest.raises(DecryptionError):
        unwrap_user_key(ring, wrapped, user_id=other)


def test_user_key_wrap_is_bound_to_its_layer(ring: Keyring) -> None:
    wrapped = wrap_user_key(ring, new_user_key(), user_id="alice")
    for layer in Layer:
        with pytest.raises(DecryptionError):
            open_(ring, wrapped, row(layer))


def test_user_key_under_another_master(ring: Keyring) -> None:
    wrapped = wrap_user_key(ring, new_user_key(), user_id="alice")
    with pytest.raises(DecryptionError):
        unwrap_user_key(Keyring.generate(), wrapped, user_id="alice")


def test_master_rotation_rewraps_user_keys(ring: Keyring) -> None:
    uk = new_user_key()
    old_wrap = wrap_user_key(ring, uk, user_id="alice")
    rotated = ring.rotated()
    # Rotation: unwrap with the rotated ring (the old key is still in it), wrap under the new current key.
    new_wrap = wrap_user_key(rotated, unwrap_user_key(rotated, old_wrap, user_id="alice"), user_id="alice")
    assert master_key_id_of(old_wrap) == ring.current_id
    assert master_key_id_of(new_wrap) == rotated.current_id != ring.current_id
    assert unwrap_user_key(rotated, new_wrap, user_id="alice") == uk
    assert unwrap_user_key(Keyring(keys=rotated.keys[:1]), new_wrap, user_id="alice") == uk


def test_master_key_id_of_refuses_garbage() -> None:
    with pytest.raises(DecryptionError):
        master_key_id_of(b"\x02" + bytes(60))


# -- versions --------------------------------------------------------------------------------------


def test_encrypt_version_round_trip(keeper_private: PrivateKeySet, keeper_public: PublicKeySet) -> None:
    uk = new_user_key()
    stored = _encrypt(uk, keeper_public, b"hunter2")
    assert _decrypt(uk, keeper_private, stored) == b"hunter2"
    assert is_sealed_to_keeper(stored.outer)
    assert key_id_of(stored.wrapped_dek) == uk.kid
    assert b"hunter2" not in stored.outer and b"hunter2" not in stored.wrapped_dek


def test_empty_and_large_values(keeper_private: PrivateKeySet, keeper_public: PublicKeySet) -> None:
    uk = new_user_key()
    for value in (b"", bytes(range(256)) * 256):
        assert _decrypt(uk, keeper_private, _encrypt(uk, keeper_public, value)) == value


def test_the_inner_layer_uses_its_own_fresh_key(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet
) -> None:
    uk = new_user_key()
    a, b = _encrypt(uk, keeper_public), _encrypt(uk, keeper_public)
    inner_a = open_sealed(keeper_private, a.outer, row(Layer.OUTER))
    inner_b = open_sealed(keeper_private, b.outer, row(Layer.OUTER))
    assert key_id_of(inner_a) != key_id_of(inner_b)
    assert uk.kid not in (key_id_of(inner_a), key_id_of(inner_b))
    dek_a = unwrap_data_key(uk, a.wrapped_dek, **ROW)
    dek_b = unwrap_data_key(uk, b.wrapped_dek, **ROW)
    assert len(dek_a) == SYMMETRIC_KEY_BYTES
    assert dek_a != dek_b and uk.key not in (dek_a, dek_b)
    # The user key cannot open the inner layer directly: only the version's own DEK can.
    with pytest.raises(DecryptionError):
        open_inner(uk.key, inner_a, **ROW)
    with pytest.raises(DecryptionError):
        open_inner(dek_b, inner_a, **ROW)


def test_the_server_alone_cannot_open_a_stored_version(ring: Keyring, keeper_public: PublicKeySet) -> None:
    """The server holds the master ring and so every user key and DEK, but not the keeper's key."""
    uk = new_user_key()
    stored = _encrypt(uk, keeper_public)
    dek = unwrap_data_key(uk, stored.wrapped_dek, **ROW)
    for key in (dek, uk.key):
        with pytest.raises(DecryptionError):
            open_inner(key, stored.outer, **ROW)
    with pytest.raises(DecryptionError):
        open_(ring, stored.outer, row(Layer.OUTER))


def test_the_keeper_alone_cannot_open_a_stored_version(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet, wrap_ring: Keyring
) -> None:
    """The keeper can strip the outer layer but lacks the DEK: the inner layer stays closed."""
    uk = new_user_key()
    stored = _encrypt(uk, keeper_public, b"hunter2")
    inner = open_outer(keeper_private, wrap_ring, stored.outer, row(Layer.OUTER))
    assert b"hunter2" not in inner
    for key in (wrap_ring.current, bytes(32)):
        with pytest.raises(DecryptionError):
            open_inner(key, inner, **ROW)


def test_keeper_conversion_keeps_the_chain(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet, wrap_ring: Keyring
) -> None:
    uk = new_user_key()
    stored = _encrypt(uk, keeper_public, b"hunter2")
    ctx = outer_context(**ROW)
    converted = keeper_wrap(wrap_ring, open_outer(keeper_private, wrap_ring, stored.outer, ctx), ctx)
    inner = open_outer(keeper_private, wrap_ring, converted, ctx)
    dek = unwrap_data_key(uk, stored.wrapped_dek, **ROW)
    assert open_inner(dek, inner, **ROW) == b"hunter2"


def test_outer_context() -> None:
    ctx = outer_context(secret_id="s", version=3, owner_id="o")
    assert ctx == row(Layer.OUTER, secret_id="s", version=3, owner_id="o")


@pytest.mark.parametrize("move", MOVES, ids=MOVE_IDS)
def test_every_layer_refuses_a_version_moved_to_another_row(
    keeper_private: PrivateKeySet,
    keeper_public: PublicKeySet,
    wrap_ring: Keyring,
    move: tuple[str, str, int, str],
) -> None:
    _, secret_id, version, owner_id = move
    there = RowIds(secret_id=secret_id, version=version, owner_id=owner_id)
    uk = new_user_key()
    stored = _encrypt(uk, keeper_public)
    inner = open_sealed(keeper_private, stored.outer, row(Layer.OUTER))
    dek = unwrap_data_key(uk, stored.wrapped_dek, **ROW)
    converted = keeper_wrap(wrap_ring, inner, row(Layer.OUTER))
    with pytest.raises(DecryptionError):
        unwrap_data_key(uk, stored.wrapped_dek, **there)
    with pytest.raises(DecryptionError):
        open_inner(dek, inner, **there)
    with pytest.raises(DecryptionError):
        open_sealed(keeper_private, stored.outer, outer_context(**there))
    with pytest.raises(DecryptionError):
        open_outer(keeper_private, wrap_ring, converted, outer_context(**there))


def test_layers_cannot_be_swapped(keeper_private: PrivateKeySet, keeper_public: PublicKeySet) -> None:
    """A wrapped DEK is no inner layer and vice versa, even under the same key."""
    uk = new_user_key()
    stored = _encrypt(uk, keeper_public)
    inner = open_sealed(keeper_private, stored.outer, row(Layer.OUTER))
    dek = unwrap_data_key(uk, stored.wrapped_dek, **ROW)
    with pytest.raises(DecryptionError):
        open_inner(uk.key, stored.wrapped_dek, **ROW)
    with pytest.raises(DecryptionError):
        unwrap_data_key(UserKey(kid=inner[1:HEADER_BYTES], key=dek), inner, **ROW)
    for layer in Layer:
        if layer is not Layer.DATA_KEY:
            with pytest.raises(DecryptionError):
                open_with_key(uk.key, stored.wrapped_dek, row(layer))
        if layer is not Layer.INNER:
            with pytest.raises(DecryptionError):
                open_with_key(dek, inner, row(layer))


def test_versions_of_one_secret_cannot_swap_data_keys(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet
) -> None:
    uk = new_user_key()
    v1 = encrypt_version(uk, keeper_public, b"one", secret_id="s", version=1, owner_id="o")
    v2 = encrypt_version(uk, keeper_public, b"two", secret_id="s", version=2, owner_id="o")
    with pytest.raises(DecryptionError):
        unwrap_data_key(uk, v1.wrapped_dek, secret_id="s", version=2, owner_id="o")
    with pytest.raises(DecryptionError):
        open_sealed(keeper_private, v1.outer, outer_context(secret_id="s", version=2, owner_id="o"))
    inner2 = open_sealed(keeper_private, v2.outer, outer_context(secret_id="s", version=2, owner_id="o"))
    dek1 = unwrap_data_key(uk, v1.wrapped_dek, secret_id="s", version=1, owner_id="o")
    with pytest.raises(DecryptionError):
        open_inner(dek1, inner2, secret_id="s", version=2, owner_id="o")


def test_another_users_key_cannot_unwrap_the_data_key(keeper_public: PublicKeySet) -> None:
    stored = _encrypt(new_user_key(), keeper_public)
    with pytest.raises(DecryptionError):
        unwrap_data_key(new_user_key(), stored.wrapped_dek, **ROW)


def test_user_key_rotation_rewraps_data_keys(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet
) -> None:
    old, new = new_user_key(), new_user_key()
    stored = _encrypt(old, keeper_public, b"hunter2")
    dek = unwrap_data_key(old, stored.wrapped_dek, **ROW)
    rewrapped = seal_with_key(new.key, new.kid, dek, row(Layer.DATA_KEY))
    assert key_id_of(rewrapped) == new.kid
    moved = StoredVersion(wrapped_dek=rewrapped, outer=stored.outer)
    assert _decrypt(new, keeper_private, moved) == b"hunter2"
    with pytest.raises(DecryptionError):
        _decrypt(old, keeper_private, moved)


def test_a_rewrapped_data_key_opens_only_under_the_new_user_key_and_the_same_context(
    keeper_public: PublicKeySet,
) -> None:
    """A transfer (or a user-key rotation) moves a data key to another user key; its context stays."""
    old, new = new_user_key(), new_user_key()
    stored = _encrypt(old, keeper_public)
    here = RowIds(secret_id=SECRET_ID, version=VERSION, owner_id=OWNER_ID)
    moved = rewrap_data_key(old, new, stored.wrapped_dek, **here)
    assert key_id_of(moved) == new.kid
    assert unwrap_data_key(new, moved, **here) == unwrap_data_key(old, stored.wrapped_dek, **here)
    with pytest.raises(DecryptionError):
        unwrap_data_key(old, moved, **here)
    with pytest.raises(DecryptionError):  # still bound to its row: another owner id does not open it
        unwrap_data_key(new, moved, secret_id=SECRET_ID, version=VERSION, owner_id=OWNER_ID + "x")
    with pytest.raises(DecryptionError):  # moved from the wrong key: nothing moves
        rewrap_data_key(new, old, stored.wrapped_dek, **here)
