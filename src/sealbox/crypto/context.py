"""The associated data every ciphertext binds: which layer, and which row it belongs to."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from sealbox.errors import DecryptionError

_PREFIX = b"sealbox/v1"


class Layer(StrEnum):
    """Where in the key hierarchy a ciphertext sits; part of its associated data."""

    USER_KEY = "user-key"  # a user key wrapped by the master key
    DATA_KEY = "data-key"  # a data key wrapped by a user key
    INNER = "inner"  # a value encrypted with its data key
    OUTER = "outer"  # an inner ciphertext sealed to the keeper's public key
    KEEPER_WRAP = "keeper-wrap"  # an inner ciphertext wrapped by the keeper's own symmetric key
    LAUNCH = "launch"  # material wrapped for one launch toward the session side


class Context(msgspec.Struct, frozen=True, kw_only=True):
    """Names the layer and the row; `encode()` is unambiguous (length-prefixed fields)."""

    layer: Layer
    fields: tuple[tuple[str, str], ...]

    @classmethod
    def user_key(cls, *, user_id: str) -> Context:
        return cls(layer=Layer.USER_KEY, fields=(("user", user_id),))

    @classmethod
    def for_version(cls, layer: Layer, *, secret_id: str, version: int, owner_id: str) -> Context:
        return cls(
            layer=layer,
            fields=(("secret", secret_id), ("version", str(version)), ("owner", owner_id)),
        )

    def encode(self) -> bytes:
        parts = [_PREFIX, self.layer.value.encode()]
        for key, value in self.fields:
            parts.append(key.encode())
            parts.append(value.encode())
        if any(len(p) > 0xFFFF for p in parts):
            # Ids are short; anything this long did not come from a stored row.
            raise DecryptionError from None
        return b"".join(len(p).to_bytes(2, "big") + p for p in parts)
