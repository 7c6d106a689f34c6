"""The key hierarchy's inner half: master key -> user keys -> one data key per secret version -> value.

The server holds the master key and can unwrap user keys and data keys, but every stored value
also carries the keeper's outer layer (`sealing.py`), so the server alone never opens one.
"""

from __future__ import annotations

import secrets

import msgspec

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import key_id_of, open_, open_with_key, seal, seal_with_key
from sealbox.crypto.keyring import SYMMETRIC_KEY_BYTES, Keyring, new_key_id
from sealbox.crypto.sealing import PublicKeySet, seal_to_keeper


class UserKey(msgspec.Struct, frozen=True):
    """One user's key, unwrapped. Never stored in this form."""

    kid: bytes
    key: bytes

    def __repr__(self) -> str:  # the key itself stays out of logs and tracebacks
        return f"UserKey(kid={self.kid.hex()!r})"


class StoredVersion(msgspec.Struct, frozen=True):
    """What the database keeps for one secret version: a wrapped data key and the double-layered value."""

    wrapped_dek: bytes
    outer: bytes


def new_user_key() -> UserKey:
    return UserKey(kid=new_key_id(), key=secrets.token_bytes(SYMMETRIC_KEY_BYTES))


def wrap_user_key(master: Keyring, user_key: UserKey, *, user_id: str) -> bytes:
    return seal(master, user_key.kid + user_key.key, Context.user_key(user_id=user_id))


def unwrap_user_key(master: Keyring, wrapped: bytes, *, user_id: str) -> UserKey:
    raw = open_(master, wrapped, Context.user_key(user_id=user_id))
    return UserKey(kid=raw[: len(raw) - SYMMETRIC_KEY_BYTES], key=raw[-SYMMETRIC_KEY_BYTES:])


def master_key_id_of(wrapped_user_key: bytes) -> bytes:
    return key_id_of(wrapped_user_key)


def encrypt_version(
    user_key: UserKey,
    keeper: PublicKeySet,
    plaintext: bytes,
    *,
    secret_id: str,
    version: int,
    owner_id: str,
) -> StoredVersion:
    """Encrypt one value with a fresh data key, then seal the result to the keeper."""

    def ctx(layer: Layer) -> Context:
        return Context.for_version(layer, secret_id=secret_id, version=version, owner_id=owner_id)

    dek = secrets.token_bytes(SYMMETRIC_KEY_BYTES)
    inner = seal_with_key(dek, new_key_id(), plaintext, ctx(Layer.INNER))
    wrapped_dek = seal_with_key(user_key.key, user_key.kid, dek, ctx(Layer.DATA_KEY))
    outer = seal_to_keeper(keeper, inner, ctx(Layer.OUTER))
    return StoredVersion(wrapped_dek=wrapped_dek, outer=outer)


def unwrap_data_key(
    user_key: UserKey, wrapped_dek: bytes, *, secret_id: str, version: int, owner_id: str
) -> bytes:
    ctx = Context.for_version(Layer.DATA_KEY, secret_id=secret_id, version=version, owner_id=owner_id)
    return open_with_key(user_key.key, wrapped_dek, ctx)


def rewrap_data_key(
    from_key: UserKey, to_key: UserKey, wrapped_dek: bytes, *, secret_id: str, version: int, owner_id: str
) -> bytes:
    """A version's data key moved from one user key to another (a transfer, a user-key rotation), its
    context unchanged; the data key never reaches the caller. Raises DecryptionError."""
    ctx = Context.for_version(Layer.DATA_KEY, secret_id=secret_id, version=version, owner_id=owner_id)
    return seal_with_key(to_key.key, to_key.kid, open_with_key(from_key.key, wrapped_dek, ctx), ctx)


def open_inner(dek: bytes, inner: bytes, *, secret_id: str, version: int, owner_id: str) -> bytes:
    ctx = Context.for_version(Layer.INNER, secret_id=secret_id, version=version, owner_id=owner_id)
    return open_with_key(dek, inner, ctx)


def outer_context(*, secret_id: str, version: int, owner_id: str) -> Context:
    return Context.for_version(Layer.OUTER, secret_id=secret_id, version=version, owner_id=owner_id)
