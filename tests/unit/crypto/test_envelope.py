"""AES-256-GCM envelopes: layout, round trips, context binding, key ids and parameter checks."""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable

import pytest

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import (
    FORMAT_AESGCM,
    HEADER_BYTES,
    MIN_ENVELOPE_BYTES,
    NONCE_BYTES,
    _seal_from_parts,
    key_id_of,
    open_,
    open_with_key,
    seal,
    seal_with_key,
)
from sealbox.crypto.keyring import KEY_ID_BYTES, Keyring
from sealbox.errors import DecryptionError
from tests.unit.crypto.rows import MOVE_IDS, MOVES, moved, row

KEY = bytes(range(32))
KID = bytes.fromhex("0011223344556677")
NONCE = bytes(range(100, 112))
CTX = row(Layer.INNER)


def test_constants() -> None:
    assert (FORMAT_AESGCM, NONCE_BYTES, HEADER_BYTES, MIN_ENVELOPE_BYTES) == (0x01, 12, 9, 37)


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000, 65536])
def test_round_trip(ring: Keyring, size: int) -> None:
    plaintext = secrets.token_bytes(size)
    envelope = seal(ring, plaintext, CTX)
    assert open_(ring, envelope, CTX) == plaintext


def test_layout(ring: Keyring) -> None:
    envelope = seal(ring, b"hello", CTX)
    assert envelope[0] == FORMAT_AESGCM
    assert envelope[1:HEADER_BYTES] == ring.current_id
    assert key_id_of(envelope) == ring.current_id
    assert len(envelope) == 1 + KEY_ID_BYTES + NONCE_BYTES + len(b"hello") + 16
    assert b"hello" not in envelope


def test_each_seal_uses_a_fresh_nonce(ring: Keyring) -> None:
    a, b = seal(ring, b"same", CTX), seal(ring, b"same", CTX)
    assert a != b
    assert a[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES] != b[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]


def test_seal_with_key_round_trip() -> None:
    envelope = seal_with_key(KEY, KID, b"value", CTX)
    assert key_id_of(envelope) == KID
    assert open_with_key(KEY, envelope, CTX) == b"value"


def test_seal_from_parts_is_deterministic() -> None:
    a = _seal_from_parts(KEY, KID, b"value", CTX, nonce=NONCE)
    assert a == _seal_from_parts(KEY, KID, b"value", CTX, nonce=NONCE)
    assert a[:HEADER_BYTES] == bytes([FORMAT_AESGCM]) + KID
    assert a[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES] == NONCE


@pytest.mark.parametrize("move", MOVES, ids=MOVE_IDS)
def test_refuses_an_envelope_moved_to_another_row(ring: Keyring, move: tuple[str, str, int, str]) -> None:
    envelope = seal(ring, b"value", CTX)
    with pytest.raises(DecryptionError):
        open_(ring, envelope, moved(Layer.INNER, move))


@pytest.mark.parametrize(("made_for", "opened_as"), list(itertools.permutations(Layer, 2)))
def test_refuses_an_envelope_moved_to_another_layer(ring: Keyring, made_for: Layer, opened_as: Layer) -> None:
    envelope = seal(ring, b"value", row(made_for))
    with pytest.raises(DecryptionError):
        open_(ring, envelope, row(opened_as))


def test_refuses_a_user_key_wrap_presented_as_another_user(ring: Keyring) -> None:
    envelope = seal(ring, b"k" * 40, Context.user_key(user_id="alice"))
    with pytest.raises(DecryptionError):
        open_(ring, envelope, Context.user_key(user_id="bob"))


def test_unknown_key_id(ring: Keyring) -> None:
    envelope = seal(ring, b"value", CTX)
    with pytest.raises(DecryptionError):
        open_(Keyring.generate(), envelope, CTX)


def test_key_id_rewritten_to_an_unknown_id(ring: Keyring) -> None:
    envelope = seal(ring, b"value", CTX)
    forged = envelope[:1] + secrets.token_bytes(KEY_ID_BYTES) + envelope[HEADER_BYTES:]
    with pytest.raises(DecryptionError):
        open_(ring, forged, CTX)


def test_key_id_rewritten_to_another_known_id() -> None:
    """The header is associated data: pointing an envelope at another key of the ring fails."""
    old = Keyring.generate()
    ring = old.rotated()
    envelope = seal(ring, b"value", CTX)
    forged = envelope[:1] + old.current_id + envelope[HEADER_BYTES:]
    with pytest.raises(DecryptionError):
        open_(ring, forged, CTX)


def test_same_key_under_another_id_fails() -> None:
    """Even with the right key, an envelope whose id was rewritten fails: the id is authenticated."""
    envelope = _seal_from_parts(KEY, KID, b"value", CTX, nonce=NONCE)
    other_kid = bytes(KEY_ID_BYTES)
    ring = Keyring(keys=((other_kid, KEY),))
    forged = envelope[:1] + other_kid + envelope[HEADER_BYTES:]
    with pytest.raises(DecryptionError):
        open_(ring, forged, CTX)


def test_open_with_the_wrong_key() -> None:
    envelope = seal_with_key(KEY, KID, b"value", CTX)
    with pytest.raises(DecryptionError):
        open_with_key(bytes(32), envelope, CTX)


@pytest.mark.parametrize("key_len", [0, 16, 24, 31, 33])
def test_open_with_a_key_of_the_wrong_length_is_a_decryption_error(key_len: int) -> None:
    envelope = seal_with_key(KEY, KID, b"value", CTX)
    with pytest.raises(DecryptionError):
        open_with_key(KEY[:key_len] + bytes(max(0, key_len - 32)), envelope, CTX)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x01",
        bytes([FORMAT_AESGCM]) + bytes(MIN_ENVELOPE_BYTES - 2),
        b"\x02" + bytes(MIN_ENVELOPE_BYTES + 10),
        b"\x00" + bytes(MIN_ENVELOPE_BYTES + 10),
        b"\xff" * 100,
    ],
    ids=["empty", "one-byte", "one-short", "hpke-format", "format-0", "ff"],
)
def test_key_id_of_refuses_what_is_not_an_envelope(ring: Keyring, blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        key_id_of(blob)
    with pytest.raises(DecryptionError):
        open_(ring, blob, CTX)
    with pytest.raises(DecryptionError):
        open_with_key(KEY, blob, CTX)


def test_shortest_envelope_parses_but_does_not_open() -> None:
    blob = bytes([FORMAT_AESGCM]) + KID + bytes(MIN_ENVELOPE_BYTES - 1 - KEY_ID_BYTES)
    assert key_id_of(blob) == KID
    with pytest.raises(DecryptionError):
        open_(Keyring(keys=((KID, KEY),)), blob, CTX)


def test_empty_plaintext_envelope_is_the_shortest() -> None:
    envelope = _seal_from_parts(KEY, KID, b"", CTX, nonce=NONCE)
    assert len(envelope) == MIN_ENVELOPE_BYTES
    assert open_with_key(KEY, envelope, CTX) == b""


def test_decryption_error_has_one_shape(ring: Keyring) -> None:
    envelope = seal(ring, b"value", CTX)
    errors: list[DecryptionError] = []
    attempts: list[Callable[[], object]] = [
        lambda: key_id_of(b""),
        lambda: open_(Keyring.generate(), envelope, CTX),
        lambda: open_(ring, envelope, row(Layer.OUTER)),
        lambda: open_with_key(b"short", envelope, CTX),
        lambda: open_with_key(bytes(32), envelope, CTX),
    ]
    for attempt in attempts:
        with pytest.raises(DecryptionError) as info:
            attempt()
        errors.append(info.value)
    assert {(str(e), e.args) for e in errors} == {
        ("ciphertext could not be opened", ("ciphertext could not be opened",))
    }
    # Raised `from None`: no chained InvalidTag or ValueError that a traceback could show.
    assert all(e.__cause__ is None and e.__suppress_context__ for e in errors)


@pytest.mark.parametrize(
    ("key", "kid", "nonce", "message"),
    [
        (KEY[:31], KID, NONCE, "key must be 32 bytes"),
        (KEY + b"\x00", KID, NONCE, "key must be 32 bytes"),
        (b"", KID, NONCE, "key must be 32 bytes"),
        (bytearray(KEY), KID, NONCE, "key must be 32 bytes"),
        (KEY.hex()[:32], KID, NONCE, "key must be 32 bytes"),
        (KEY, KID[:7], NONCE, "key id must be 8 bytes"),
        (KEY, KID + b"\x00", NONCE, "key id must be 8 bytes"),
        (KEY, b"", NONCE, "key id must be 8 bytes"),
        (KEY, KID, NONCE[:11], "nonce must be 12 bytes"),
        (KEY, KID, NONCE + b"\x00", "nonce must be 12 bytes"),
        (KEY, KID, b"", "nonce must be 12 bytes"),
    ],
    ids=[
        "key-31",
        "key-33",
        "key-empty",
        "key-bytearray",
        "key-str",
        "kid-7",
        "kid-9",
        "kid-empty",
        "nonce-11",
        "nonce-13",
        "nonce-empty",
    ],
)
def test_seal_from_parts_checks_its_parameters(key: object, kid: bytes, nonce: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _seal_from_parts(key, kid, b"value", CTX, nonce=nonce)  # type: ignore[arg-type]


def test_seal_with_key_checks_the_key() -> None:
    with pytest.raises(ValueError, match=r"^key must be 32 bytes$"):
        seal_with_key(KEY[:16], KID, b"value", CTX)


def test_a_value_error_message_never_holds_the_key() -> None:
    bad = secrets.token_bytes(31)
    with pytest.raises(ValueError) as info:
        seal_with_key(bad, KID, b"value", CTX)
    assert bad.hex() not in str(info.value)
    assert repr(bad) not in str(info.value)


def test_open_with_an_oversized_context_field_is_a_decryption_error(ring: Keyring) -> None:
    envelope = seal(ring, b"value", CTX)
    with pytest.raises(DecryptionError):
        open_(ring, envelope, row(Layer.INNER, secret_id="x" * 70_000))
