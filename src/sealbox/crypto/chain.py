"""The audit chain's keys: HMAC-SHA256 under keys derived with HKDF from the master keyring.

The keys never sit in the database: a copy of the database, or write access to it, is not enough to
recompute a record's tag. Each master key gives one chain key with the same public id, so the chain
rotates with the master keyring and old records still verify while their master key is kept. Once
`sealbox admin rotate audit-key` made an audit key of its own (`Keyring.audit`), the newest of those
tags new records instead, and a master-key rotation no longer moves the chain's current key.
"""

from __future__ import annotations

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealbox.crypto.keyring import SYMMETRIC_KEY_BYTES, Keyring
from sealbox.errors import DecryptionError

_LABEL = b"sealbox/v1 audit-chain"
TAG_HEX_CHARS = 64


def _derive(master_key: bytes, key_id: bytes) -> bytes:
    # The label keeps this key apart from every other use of the master key; the id binds it to one key.
    return HKDF(
        algorithm=hashes.SHA256(), length=SYMMETRIC_KEY_BYTES, salt=None, info=_LABEL + key_id
    ).derive(master_key)


class ChainKeys(msgspec.Struct, frozen=True):
    """Chain keys by public id (hex), the current one first."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("chain keys need at least one key")

    def __repr__(self) -> str:
        return f"ChainKeys(ids={[kid for kid, _ in self.keys]})"

    @classmethod
    def derive(cls, master: Keyring) -> ChainKeys:
        """The audit keys (`Keyring.audit`, the current one first), one chain key per master key, and
        the ones retired master keys left (`Keyring.chain_only`)."""
        own = tuple((kid.hex(), key) for kid, key in master.audit)
        derived = tuple((kid.hex(), _derive(key, kid)) for kid, key in master.keys)
        return cls(keys=own + derived + tuple((kid.hex(), key) for kid, key in master.chain_only))

    @staticmethod
    def of_master_key(master_key: bytes, key_id: bytes) -> bytes:
        """The chain key one master key gives: what its retirement leaves behind."""
        return _derive(master_key, key_id)

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def _key(self, key_id: str) -> bytes:
        for known, key in self.keys:
            if known == key_id:
                return key
        raise DecryptionError from None

    def tag(self, message: bytes, *, key_id: str | None = None) -> str:
        """The hex HMAC-SHA256 of `message` under `key_id` (default: the current key)."""
        mac = hmac.HMAC(self._key(key_id or self.current_id), hashes.SHA256())
        mac.update(message)
        return mac.finalize().hex()

    def verify(self, message: bytes, tag: object, *, key_id: object) -> None:
        """Raise DecryptionError unless `tag` is the HMAC of `message` under `key_id` (both as stored)."""
        if not isinstance(key_id, str) or not isinstance(tag, str) or len(tag) != TAG_HEX_CHARS:
            raise DecryptionError from None
        try:
            expected = bytes.fromhex(tag)
        except ValueError:
            raise DecryptionError from None
        mac = hmac.HMAC(self._key(key_id), hashes.SHA256())
        mac.update(message)
        try:
            mac.verify(expected)
        except InvalidSignature:
            raise DecryptionError from None
