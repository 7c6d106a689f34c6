"""The outer layer: HPKE (RFC 9180, X25519 / HKDF-SHA256 / AES-256-GCM) to the keeper's public key.

Writes seal to the public key, so the keeper need not be up for a write. The keeper may later
convert a sealed outer layer into a wrap under a symmetric key only it holds (`keeper_wrap`),
which the server stores but cannot open; a launch then costs the keeper one AES-GCM open per
secret instead of one X25519 exchange.
"""

from __future__ import annotations

import base64
import binascii

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import open_, seal
from sealbox.crypto.keyring import KEY_ID_BYTES, Keyring, new_key_id
from sealbox.errors import ConfigError, DecryptionError

FORMAT_HPKE = 0x02
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_HEADER_BYTES = 1 + KEY_ID_BYTES


class PublicKeySet(msgspec.Struct, frozen=True):
    """The keeper's public keys by id, current first. Safe to copy anywhere."""

    keys: tuple[tuple[bytes, X25519PublicKey], ...]

    @property
    def current_id(self) -> bytes:
        return self.keys[0][0]

    def to_text(self) -> str:
        return "".join(
            f"{kid.hex()}:{base64.b64encode(pub.public_bytes_raw()).decode()}\n" for kid, pub in self.keys
        )

    @classmethod
    def from_text(cls, text: str, *, source: str) -> PublicKeySet:
        keys: list[tuple[bytes, X25519PublicKey]] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                kid_hex, raw = line.strip().split(":", 1)
                kid = bytes.fromhex(kid_hex)
                if len(kid) != KEY_ID_BYTES:
                    raise ValueError
                keys.append((kid, X25519PublicKey.from_public_bytes(base64.b64decode(raw, validate=True))))
            except (ValueError, binascii.Error):
                raise ConfigError(f"{source}: malformed public key line") from None
        if not keys:
            raise ConfigError(f"{source}: holds no public key")
        return cls(keys=tuple(keys))


class PrivateKeySet(msgspec.Struct, frozen=True):
    """The keeper's private keys by id, current first. Lives only in the keeper's key directory."""

    keys: tuple[tuple[bytes, X25519PrivateKey], ...]

    def __repr__(self) -> str:
        return f"PrivateKeySet(ids={[kid.hex() for kid, _ in self.keys]})"

    @classmethod
    def generate(cls) -> PrivateKeySet:
        return cls(keys=((new_key_id(), X25519PrivateKey.generate()),))

    def public(self) -> PublicKeySet:
        return PublicKeySet(keys=tuple((kid, key.public_key()) for kid, key in self.keys))

    def find(self, kid: bytes) -> X25519PrivateKey | None:
        for known, key in self.keys:
            if known == kid:
                return key
        return None

    def to_text(self) -> str:
        raw = [(kid, key.private_bytes_raw()) for kid, key in self.keys]
        return "".join(f"{kid.hex()}:{base64.b64encode(key).decode()}\n" for kid, key in raw)

    @classmethod
    def from_entries(cls, entries: list[tuple[bytes, bytes]]) -> PrivateKeySet:
        return cls(keys=tuple((kid, X25519PrivateKey.from_private_bytes(raw)) for kid, raw in entries))


def seal_to_keeper(public: PublicKeySet, inner: bytes, context: Context) -> bytes:
    """Seal `inner` to the keeper's current public key; only the keeper can open it."""
    if context.layer is not Layer.OUTER:
        raise ValueError("the outer layer needs an OUTER context")
    kid, pub = public.keys[0]
    header = bytes([FORMAT_HPKE]) + kid
    return header + _SUITE.encrypt(inner, pub, info=header + context.encode())


def is_sealed_to_keeper(outer: bytes) -> bool:
    return len(outer) > _HEADER_BYTES and outer[0] == FORMAT_HPKE


def open_sealed(private: PrivateKeySet, outer: bytes, context: Context) -> bytes:
    """Remove an HPKE outer layer; any failure is one DecryptionError."""
    if not is_sealed_to_keeper(outer) or context.layer is not Layer.OUTER:
        raise DecryptionError from None
    key = private.find(outer[1:_HEADER_BYTES])
    if key is None:
        raise DecryptionError from None
    try:
        return _SUITE.decrypt(outer[_HEADER_BYTES:], key, info=outer[:_HEADER_BYTES] + context.encode())
    except (InvalidTag, ValueError):
        raise DecryptionError from None


def keeper_wrap(wrap_ring: Keyring, inner: bytes, context: Context) -> bytes:
    """Wrap `inner` under the keeper's symmetric key (context re-bound to the KEEPER_WRAP layer)."""
    return seal(wrap_ring, inner, _as_keeper_wrap(context))


def open_outer(private: PrivateKeySet, wrap_ring: Keyring, outer: bytes, context: Context) -> bytes:
    """Remove the outer layer in either of its stored forms."""
    if is_sealed_to_keeper(outer):
        return open_sealed(private, outer, context)
    return open_(wrap_ring, outer, _as_keeper_wrap(context))


def _as_keeper_wrap(context: Context) -> Context:
    if context.layer is not Layer.OUTER:
        raise DecryptionError from None
    return Context(layer=Layer.KEEPER_WRAP, fields=context.fields)
