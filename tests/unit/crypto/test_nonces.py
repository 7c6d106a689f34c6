"""TEST-PLAN T5 in miniature: no (key id, nonce) pair repeats, and every data key is fresh and used once.

There is no nonce-logging hook in `crypto/`, so the pairs are read back from the ciphertexts: every
AES-GCM envelope carries `key id | nonce` in its first 21 bytes, and the inner layer is reached by
removing the outer layer with the keeper's private key.
"""

from __future__ import annotations

from collections import Counter
from typing import TypedDict

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import HEADER_BYTES, NONCE_BYTES, key_id_of, seal
from sealbox.crypto.keyring import KEY_ID_BYTES, Keyring
from sealbox.crypto.sealing import PrivateKeySet, keeper_wrap, open_sealed
from sealbox.crypto.wrapping import (
    encrypt_version,
    new_user_key,
    open_inner,
    outer_context,
    unwrap_data_key,
    wrap_user_key,
)

VERSIONS = 2_000
SEALS = 5_000
ENC_BYTES = 32


class RowIds(TypedDict):
    secret_id: str
    version: int
    owner_id: str


def _pair(envelope: bytes) -> tuple[bytes, bytes]:
    return key_id_of(envelope), envelope[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]


def _duplicates(items: list[tuple[bytes, bytes]] | list[bytes]) -> list[object]:
    return [item for item, n in Counter(items).items() if n > 1]


def test_no_key_id_nonce_pair_repeats_and_every_data_key_is_fresh() -> None:
    master = Keyring.generate()
    private = PrivateKeySet.generate()
    public = private.public()
    wrap_ring = Keyring.generate()
    user_keys = [new_user_key() for _ in range(5)]

    pairs: list[tuple[bytes, bytes]] = []
    deks: list[bytes] = []
    inner_ids: list[bytes] = []
    encs: list[bytes] = []

    for uk in user_keys:
        pairs.append(_pair(wrap_user_key(master, uk, user_id=uk.kid.hex())))
    for i in range(VERSIONS):
        uk = user_keys[i % len(user_keys)]
        ids = RowIds(secret_id=f"s-{i % 50}", version=i, owner_id=uk.kid.hex())
        stored = encrypt_version(uk, public, b"value %d" % i, **ids)
        encs.append(stored.outer[1 + KEY_ID_BYTES : 1 + KEY_ID_BYTES + ENC_BYTES])
        inner = open_sealed(private, stored.outer, outer_context(**ids))
        dek = unwrap_data_key(uk, stored.wrapped_dek, **ids)
        assert open_inner(dek, inner, **ids) == b"value %d" % i
        assert key_id_of(stored.wrapped_dek) == uk.kid
        pairs += [_pair(stored.wrapped_dek), _pair(inner)]
        pairs.append(_pair(keeper_wrap(wrap_ring, inner, outer_context(**ids))))
        deks.append(dek)
        inner_ids.append(key_id_of(inner))
    ctx = Context.user_key(user_id="u")
    for _ in range(SEALS):
        pairs.append(_pair(seal(master, b"x", ctx)))

    assert len(pairs) == len(user_keys) + 3 * VERSIONS + SEALS
    assert _duplicates(pairs) == []
    # Each data key is new, differs from every user key, and encrypts exactly one inner layer
    # (one inner key id per data key, never seen twice).
    assert _duplicates(deks) == []
    assert not {uk.key for uk in user_keys} & set(deks)
    assert _duplicates(inner_ids) == []
    assert not {uk.kid for uk in user_keys} & set(inner_ids)
    # HPKE's ephemeral key is fresh for every outer layer too.
    assert _duplicates(encs) == []


def test_the_nonce_is_not_derived_from_the_plaintext_or_context() -> None:
    ring = Keyring.generate()
    ctx = Context.for_version(Layer.INNER, secret_id="s", version=1, owner_id="o")
    nonces = [_pair(seal(ring, b"same", ctx))[1] for _ in range(1000)]
    assert _duplicates(nonces) == []
