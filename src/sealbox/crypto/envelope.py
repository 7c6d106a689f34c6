"""AES-256-GCM envelopes: `version | key id | nonce | ciphertext+tag`, header and context as AAD."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealbox.crypto.context import Context
from sealbox.crypto.keyring import KEY_ID_BYTES, SYMMETRIC_KEY_BYTES, Keyring
from sealbox.errors import DecryptionError

FORMAT_AESGCM = 0x01
NONCE_BYTES = 12
HEADER_BYTES = 1 + KEY_ID_BYTES
MIN_ENVELOPE_BYTES = HEADER_BYTES + NONCE_BYTES + 16


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != SYMMETRIC_KEY_BYTES:
        raise ValueError(f"key must be {SYMMETRIC_KEY_BYTES} bytes")


def _seal_from_parts(key: bytes, kid: bytes, plaintext: bytes, context: Context, *, nonce: bytes) -> bytes:
    """Deterministic given `nonce`: for known-answer vectors only; use `seal()`."""
    _check_key(key)
    if len(kid) != KEY_ID_BYTES:
        raise ValueError(f"key id must be {KEY_ID_BYTES} bytes")
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    header = bytes([FORMAT_AESGCM]) + kid
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + context.encode())


def seal(ring: Keyring, plaintext: bytes, context: Context) -> bytes:
    """Encrypt under the ring's current key with a fresh random nonce."""
    return _seal_from_parts(ring.current, ring.current_id, plaintext, context, nonce=os.urandom(NONCE_BYTES))


def seal_with_key(key: bytes, kid: bytes, plaintext: bytes, context: Context) -> bytes:
    return _seal_from_parts(key, kid, plaintext, context, nonce=os.urandom(NONCE_BYTES))


def key_id_of(envelope: bytes) -> bytes:
    """The key id an envelope names; raises DecryptionError for anything not an envelope."""
    if len(envelope) < MIN_ENVELOPE_BYTES or envelope[0] != FORMAT_AESGCM:
        raise DecryptionError from None
    return envelope[1:HEADER_BYTES]


def open_with_key(key: bytes, envelope: bytes, context: Context) -> bytes:
    key_id_of(envelope)
    header = envelope[:HEADER_BYTES]
    nonce = envelope[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, envelope[HEADER_BYTES + NONCE_BYTES :], header + context.encode())
    except (InvalidTag, ValueError):
        raise DecryptionError from None


def open_(ring: Keyring, envelope: bytes, context: Context) -> bytes:
    """Open an envelope made by `seal`; any failure is one DecryptionError."""
    key = ring.find(key_id_of(envelope))
    if key is None:
        raise DecryptionError from None
    return open_with_key(key, envelope, context)
