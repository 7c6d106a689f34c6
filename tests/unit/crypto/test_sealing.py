"""The outer layer: HPKE to the keeper's public key, and the keeper's own symmetric re-wrap."""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import FORMAT_AESGCM, key_id_of, open_, seal
from sealbox.crypto.keyring import KEY_ID_BYTES, Keyring, decode_key_lines
from sealbox.crypto.sealing import (
    FORMAT_HPKE,
    PrivateKeySet,
    PublicKeySet,
    is_sealed_to_keeper,
    keeper_wrap,
    open_outer,
    open_sealed,
    seal_to_keeper,
)
from sealbox.errors import ConfigError, DecryptionError
from tests.support.canaries import find_raw_bytes
from tests.unit.crypto.rows import MOVE_IDS, MOVES, moved, row

OUTER = row(Layer.OUTER)
NOT_OUTER = [layer for layer in Layer if layer is not Layer.OUTER]
ENC_BYTES = 32  # the X25519 encapsulated key HPKE puts in front of its ciphertext
TAG_BYTES = 16


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


# -- HPKE to the keeper ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 37, 4096])
def test_round_trip(keeper_private: PrivateKeySet, keeper_public: PublicKeySet, size: int) -> None:
    inner = secrets.token_bytes(size)
    outer = seal_to_keeper(keeper_public, inner, OUTER)
    assert open_sealed(keeper_private, outer, OUTER) == inner


def test_layout(keeper_public: PublicKeySet) -> None:
    outer = seal_to_keeper(keeper_public, b"inner", OUTER)
    assert outer[0] == FORMAT_HPKE == 0x02
    assert outer[1 : 1 + KEY_ID_BYTES] == keeper_public.current_id
    assert len(outer) == 1 + KEY_ID_BYTES + ENC_BYTES + len(b"inner") + TAG_BYTES
    assert is_sealed_to_keeper(outer)


def test_each_seal_uses_a_fresh_ephemeral_key(keeper_public: PublicKeySet) -> None:
    a, b = seal_to_keeper(keeper_public, b"same", OUTER), seal_to_keeper(keeper_public, b"same", OUTER)
    assert a[9 : 9 + ENC_BYTES] != b[9 : 9 + ENC_BYTES]
    assert a != b


@pytest.mark.parametrize("layer", NOT_OUTER)
def test_seal_needs_an_outer_context(keeper_public: PublicKeySet, layer: Layer) -> None:
    with pytest.raises(ValueError, match=r"^the outer layer needs an OUTER context$"):
        seal_to_keeper(keeper_public, b"inner", row(layer))


@pytest.mark.parametrize("move", MOVES, ids=MOVE_IDS)
def test_refuses_an_outer_layer_moved_to_another_row(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet, move: tuple[str, str, int, str]
) -> None:
    outer = seal_to_keeper(keeper_public, b"inner", OUTER)
    with pytest.raises(DecryptionError):
        open_sealed(keeper_private, outer, moved(Layer.OUTER, move))
    with pytest.raises(DecryptionError):
        open_outer(keeper_private, Keyring.generate(), outer, moved(Layer.OUTER, move))


@pytest.mark.parametrize("layer", NOT_OUTER)
def test_refuses_an_outer_layer_opened_as_another_layer(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet, layer: Layer
) -> None:
    outer = seal_to_keeper(keeper_public, b"inner", OUTER)
    with pytest.raises(DecryptionError):
        open_sealed(keeper_private, outer, row(layer))
    with pytest.raises(DecryptionError):
        open_outer(keeper_private, Keyring.generate(), outer, row(layer))


def test_other_keeper_cannot_open(keeper_public: PublicKeySet) -> None:
    outer = seal_to_keeper(keeper_public, b"inner", OUTER)
    with pytest.raises(DecryptionError):
        open_sealed(PrivateKeySet.generate(), outer, OUTER)


def test_same_private_key_under_another_id_cannot_open(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet
) -> None:
    """The key id is part of HPKE's info: rewriting it to a known id still fails."""
    outer = seal_to_keeper(keeper_public, b"inner", OUTER)
    other_kid = bytes(KEY_ID_BYTES)
    renamed = PrivateKeySet(keys=((other_kid, keeper_private.keys[0][1]),))
    with pytest.raises(DecryptionError):
        open_sealed(renamed, outer[:1] + other_kid + outer[1 + KEY_ID_BYTES :], OUTER)


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x02", b"\x02" + bytes(KEY_ID_BYTES), b"\x01" + bytes(80), b"\x03" + bytes(80)],
    ids=["empty", "format-only", "header-only", "aesgcm-format", "format-3"],
)
def test_open_sealed_refuses_what_is_not_an_outer_layer(keeper_private: PrivateKeySet, blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        open_sealed(keeper_private, blob, OUTER)


@pytest.mark.parametrize("cut", [1, TAG_BYTES, ENC_BYTES + TAG_BYTES + 5])
def test_truncated_outer_layer(keeper_private: PrivateKeySet, keeper_public: PublicKeySet, cut: int) -> None:
    outer = seal_to_keeper(keeper_public, b"inner", OUTER)
    with pytest.raises(DecryptionError):
        open_sealed(keeper_private, outer[:-cut], OUTER)


def test_is_sealed_to_keeper(keeper_public: PublicKeySet, wrap_ring: Keyring) -> None:
    assert is_sealed_to_keeper(seal_to_keeper(keeper_public, b"", OUTER))
    assert not is_sealed_to_keeper(keeper_wrap(wrap_ring, b"", OUTER))
    assert not is_sealed_to_keeper(b"")
    assert not is_sealed_to_keeper(b"\x02" + bytes(KEY_ID_BYTES))
    assert is_sealed_to_keeper(b"\x02" + bytes(KEY_ID_BYTES + 1))


def test_keeper_key_rotation(keeper_private: PrivateKeySet) -> None:
    old_outer = seal_to_keeper(keeper_private.public(), b"old", OUTER)
    rotated = PrivateKeySet(keys=(PrivateKeySet.generate().keys[0], *keeper_private.keys))
    new_public = rotated.public()
    assert new_public.current_id == rotated.keys[0][0] != keeper_private.keys[0][0]
    new_outer = seal_to_keeper(new_public, b"new", OUTER)
    assert new_outer[1 : 1 + KEY_ID_BYTES] == new_public.current_id
    assert open_sealed(rotated, old_outer, OUTER) == b"old"
    assert open_sealed(rotated, new_outer, OUTER) == b"new"
    with pytest.raises(DecryptionError):
        open_sealed(keeper_private, new_outer, OUTER)


def test_the_server_master_ring_cannot_open_an_outer_layer(
    keeper_public: PublicKeySet, ring: Keyring
) -> None:
    outer = seal_to_keeper(keeper_public, b"inner", OUTER)
    for layer in Layer:
        with pytest.raises(DecryptionError):
            open_(ring, outer, row(layer))


# -- the keeper's symmetric re-wrap ----------------------------------------------------------------


def test_keeper_wrap_round_trip(keeper_private: PrivateKeySet, wrap_ring: Keyring) -> None:
    wrapped = keeper_wrap(wrap_ring, b"inner", OUTER)
    assert wrapped[0] == FORMAT_AESGCM
    assert key_id_of(wrapped) == wrap_ring.current_id
    assert not is_sealed_to_keeper(wrapped)
    assert open_outer(keeper_private, wrap_ring, wrapped, OUTER) == b"inner"


def test_open_outer_takes_either_form(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet, wrap_ring: Keyring
) -> None:
    sealed = seal_to_keeper(keeper_public, b"inner", OUTER)
    converted = keeper_wrap(wrap_ring, open_sealed(keeper_private, sealed, OUTER), OUTER)
    assert open_outer(keeper_private, wrap_ring, sealed, OUTER) == b"inner"
    assert open_outer(keeper_private, wrap_ring, converted, OUTER) == b"inner"


def test_keeper_wrap_is_bound_to_its_own_layer(keeper_private: PrivateKeySet, wrap_ring: Keyring) -> None:
    wrapped = keeper_wrap(wrap_ring, b"inner", OUTER)
    assert open_(wrap_ring, wrapped, row(Layer.KEEPER_WRAP)) == b"inner"
    for layer in NOT_OUTER:
        if layer is not Layer.KEEPER_WRAP:
            with pytest.raises(DecryptionError):
                open_(wrap_ring, wrapped, row(layer))
    with pytest.raises(DecryptionError):
        open_(wrap_ring, wrapped, OUTER)


def test_plain_envelope_under_the_wrap_ring_is_not_a_keeper_wrap(
    keeper_private: PrivateKeySet, wrap_ring: Keyring
) -> None:
    """An envelope of another layer made under the wrap key is not accepted as an outer layer."""
    for layer in Layer:
        if layer is not Layer.KEEPER_WRAP:
            envelope = seal(wrap_ring, b"inner", row(layer))
            with pytest.raises(DecryptionError):
                open_outer(keeper_private, wrap_ring, envelope, OUTER)


@pytest.mark.parametrize("move", MOVES, ids=MOVE_IDS)
def test_refuses_a_keeper_wrap_moved_to_another_row(
    keeper_private: PrivateKeySet, wrap_ring: Keyring, move: tuple[str, str, int, str]
) -> None:
    wrapped = keeper_wrap(wrap_ring, b"inner", OUTER)
    with pytest.raises(DecryptionError):
        open_outer(keeper_private, wrap_ring, wrapped, moved(Layer.OUTER, move))


@pytest.mark.parametrize("layer", NOT_OUTER)
def test_open_outer_needs_an_outer_context(
    keeper_private: PrivateKeySet, wrap_ring: Keyring, layer: Layer
) -> None:
    wrapped = keeper_wrap(wrap_ring, b"inner", OUTER)
    with pytest.raises(DecryptionError):
        open_outer(keeper_private, wrap_ring, wrapped, row(layer))


@pytest.mark.parametrize("layer", NOT_OUTER)
def test_keeper_wrap_needs_an_outer_context(wrap_ring: Keyring, layer: Layer) -> None:
    # Documents current behaviour: a wrong-layer context is refused (as DecryptionError).
    with pytest.raises(DecryptionError):
        keeper_wrap(wrap_ring, b"inner", row(layer))


def test_the_server_cannot_open_a_keeper_wrap(keeper_private: PrivateKeySet, wrap_ring: Keyring) -> None:
    """What the keeper hands the server to store must be something the server cannot open."""
    server_master = Keyring.generate()
    wrapped = keeper_wrap(wrap_ring, b"inner", OUTER)
    with pytest.raises(DecryptionError):
        open_outer(keeper_private, server_master, wrapped, OUTER)
    for layer in Layer:
        with pytest.raises(DecryptionError):
            open_(server_master, wrapped, row(layer))


def test_wrap_ring_rotation(keeper_private: PrivateKeySet, wrap_ring: Keyring) -> None:
    old = keeper_wrap(wrap_ring, b"old", OUTER)
    rotated = wrap_ring.rotated()
    new = keeper_wrap(rotated, b"new", OUTER)
    assert key_id_of(new) == rotated.current_id != wrap_ring.current_id
    assert open_outer(keeper_private, rotated, old, OUTER) == b"old"
    assert open_outer(keeper_private, rotated, new, OUTER) == b"new"
    with pytest.raises(DecryptionError):
        open_outer(keeper_private, wrap_ring, new, OUTER)


@pytest.mark.parametrize("blob", [b"", b"\x00", b"\x02", b"\x01" + bytes(40)])
def test_open_outer_refuses_garbage(keeper_private: PrivateKeySet, wrap_ring: Keyring, blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        open_outer(keeper_private, wrap_ring, blob, OUTER)


# -- key sets --------------------------------------------------------------------------------------


def test_private_key_set_basics(keeper_private: PrivateKeySet) -> None:
    kid, key = keeper_private.keys[0]
    assert len(kid) == KEY_ID_BYTES
    assert keeper_private.find(kid) is key
    assert keeper_private.find(bytes(KEY_ID_BYTES)) is None
    public = keeper_private.public()
    assert public.current_id == kid
    assert public.keys[0][1].public_bytes(Encoding.Raw, PublicFormat.Raw) == key.public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw
    )


def test_private_key_set_text_round_trip(keeper_private: PrivateKeySet) -> None:
    rotated = PrivateKeySet(keys=(PrivateKeySet.generate().keys[0], *keeper_private.keys))
    outer = seal_to_keeper(keeper_private.public(), b"inner", OUTER)
    text = rotated.to_text()
    assert text.splitlines()[0].startswith(rotated.keys[0][0].hex() + ":")
    loaded = PrivateKeySet.from_entries(decode_key_lines(text, source="keeper.key"))
    assert [kid for kid, _ in loaded.keys] == [kid for kid, _ in rotated.keys]
    assert [_raw_private(k) for _, k in loaded.keys] == [_raw_private(k) for _, k in rotated.keys]
    assert open_sealed(loaded, outer, OUTER) == b"inner"


def test_private_key_set_repr_holds_no_key_bytes(keeper_private: PrivateKeySet) -> None:
    rotated = PrivateKeySet(keys=(PrivateKeySet.generate().keys[0], *keeper_private.keys))
    text = repr(rotated)
    assert text == f"PrivateKeySet(ids={[kid.hex() for kid, _ in rotated.keys]})"
    raws = [_raw_private(k) for _, k in rotated.keys]
    assert find_raw_bytes(f"{rotated!r} {rotated!s} {[rotated]}".encode(), raws) == 0


def test_public_key_set_text_round_trip(keeper_private: PrivateKeySet) -> None:
    rotated = PrivateKeySet(keys=(PrivateKeySet.generate().keys[0], *keeper_private.keys))
    public = rotated.public()
    text = public.to_text()
    assert len(text.splitlines()) == 2
    loaded = PublicKeySet.from_text(f"\n{text}\n   \n", source="keeper.pub")
    assert [kid for kid, _ in loaded.keys] == [kid for kid, _ in public.keys]
    assert loaded.to_text() == text
    assert open_sealed(rotated, seal_to_keeper(loaded, b"x", OUTER), OUTER) == b"x"


@pytest.mark.parametrize("text", ["", "\n", "   \n\n"])
def test_public_key_set_without_a_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^keeper\.pub: holds no public key$"):
        PublicKeySet.from_text(text, source="keeper.pub")


def test_malformed_public_key_lines(keeper_public: PublicKeySet) -> None:
    kid_hex, b64 = keeper_public.to_text().strip().split(":")
    short = base64.b64encode(secrets.token_bytes(31)).decode()
    for line in (
        f"{kid_hex}{b64}",
        f"{kid_hex}zz:{b64}",
        f"{kid_hex}:{short}",
        f"{kid_hex}:%%%%",
        f"{kid_hex}:",
    ):
        with pytest.raises(ConfigError) as info:
            PublicKeySet.from_text(line, source="keeper.pub")
        assert str(info.value) == "keeper.pub: malformed public key line"
        assert line not in str(info.value)


@pytest.mark.parametrize("kid_len", [0, 1, 7, 9])
def test_public_key_line_with_a_wrong_length_id_is_a_config_error(
    keeper_public: PublicKeySet, kid_len: int
) -> None:
    b64 = keeper_public.to_text().strip().split(":")[1]
    with pytest.raises(ConfigError):
        PublicKeySet.from_text(f"{secrets.token_hex(kid_len)}:{b64}", source="keeper.pub")


def test_decryption_errors_of_every_outer_path_look_the_same(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet, wrap_ring: Keyring
) -> None:
    sealed = seal_to_keeper(keeper_public, b"inner", OUTER)
    wrapped = keeper_wrap(wrap_ring, b"inner", OUTER)
    other = row(Layer.OUTER, version=9)
    attempts: list[Callable[[], object]] = [
        lambda: open_sealed(keeper_private, b"", OUTER),
        lambda: open_sealed(PrivateKeySet.generate(), sealed, OUTER),
        lambda: open_sealed(keeper_private, sealed, other),
        lambda: open_sealed(keeper_private, sealed, row(Layer.INNER)),
        lambda: open_outer(keeper_private, wrap_ring, wrapped, other),
        lambda: open_outer(keeper_private, Keyring.generate(), wrapped, OUTER),
        lambda: open_outer(keeper_private, wrap_ring, wrapped, row(Layer.INNER)),
    ]
    shapes: set[tuple[object, ...]] = set()
    for attempt in attempts:
        with pytest.raises(DecryptionError) as info:
            attempt()
        e = info.value
        shapes.add((type(e), e.args, e.__cause__, e.__suppress_context__))
    assert shapes == {(DecryptionError, ("ciphertext could not be opened",), None, True)}


def test_contexts_of_all_pairs_of_rows_are_refused(
    keeper_private: PrivateKeySet, keeper_public: PublicKeySet
) -> None:
    rows = [Context.for_version(Layer.OUTER, secret_id=s, version=1, owner_id="o") for s in "abc"]
    for made_for, opened_as in itertools.permutations(rows, 2):
        outer = seal_to_keeper(keeper_public, b"inner", made_for)
        with pytest.raises(DecryptionError):
            open_sealed(keeper_private, outer, opened_as)
