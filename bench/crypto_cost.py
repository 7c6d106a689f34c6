"""Crypto cost per secret, in-process with ``timeit``: sealbox's store and open paths beside an
RSA-2048-OAEP-SHA256-per-secret baseline (RenkuLab's path), all measured in the same run.

Repeats are interleaved across operations (round-robin), so background load on a shared machine
hits every operation alike; the table reports the best repeat (the usual estimate of intrinsic
cost) and the median.
"""

from __future__ import annotations

import secrets
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sealbox.crypto.keyring import Keyring
from sealbox.crypto.sealing import PrivateKeySet, keeper_wrap, open_outer
from sealbox.crypto.wrapping import (
    encrypt_version,
    new_user_key,
    open_inner,
    outer_context,
    unwrap_data_key,
    unwrap_user_key,
    wrap_user_key,
)

__all__ = ["CryptoOp", "measure_crypto"]


@dataclass(frozen=True)
class CryptoOp:
    key: str
    label: str
    best_us: float
    median_us: float
    number: int
    repeats: int
    samples_us: tuple[float, ...] = ()
    """Per-round costs; round ``i`` of every operation ran back to back, so ratios can be paired."""

    def ratio_to(self, other: CryptoOp) -> float:
        """Median over rounds of this op's cost ÷ ``other``'s in the same round (robust to load drift)."""
        pairs = [a / b for a, b in zip(self.samples_us, other.samples_us, strict=True) if b > 0]
        return statistics.median(pairs) if pairs else self.best_us / other.best_us

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "label": self.label,
            "best_us": self.best_us,
            "median_us": self.median_us,
            "number": self.number,
            "repeats": self.repeats,
            "samples_us": list(self.samples_us),
        }


def _ops(value_size: int) -> list[tuple[str, str, Callable[[], object]]]:
    master = Keyring.generate()
    user_id = secrets.token_hex(16)
    secret_id = secrets.token_hex(16)
    user_key = new_user_key()
    wrapped_uk = wrap_user_key(master, user_key, user_id=user_id)
    keeper_private = PrivateKeySet.generate()
    keeper_public = keeper_private.public()
    wrap_ring = Keyring.generate()
    plaintext = secrets.token_bytes(value_size)

    stored = encrypt_version(
        user_key, keeper_public, plaintext, secret_id=secret_id, version=1, owner_id=user_id
    )
    octx = outer_context(secret_id=secret_id, version=1, owner_id=user_id)
    converted = keeper_wrap(wrap_ring, open_outer(keeper_private, wrap_ring, stored.outer, octx), octx)

    def store() -> object:
        return encrypt_version(
            user_key, keeper_public, plaintext, secret_id=secret_id, version=1, owner_id=user_id
        )

    def store_as_service() -> object:
        uk = unwrap_user_key(master, wrapped_uk, user_id=user_id)
        return encrypt_version(uk, keeper_public, plaintext, secret_id=secret_id, version=1, owner_id=user_id)

    def convert() -> object:
        ctx = outer_context(secret_id=secret_id, version=1, owner_id=user_id)
        return keeper_wrap(wrap_ring, open_outer(keeper_private, wrap_ring, stored.outer, ctx), ctx)

    def open_with(outer: bytes) -> Callable[[], object]:
        def open_() -> object:
            dek = unwrap_data_key(
                user_key, stored.wrapped_dek, secret_id=secret_id, version=1, owner_id=user_id
            )
            ctx = outer_context(secret_id=secret_id, version=1, owner_id=user_id)
            inner = open_outer(keeper_private, wrap_ring, outer, ctx)
            return open_inner(dek, inner, secret_id=secret_id, version=1, owner_id=user_id)

        return open_

    for check in (open_with(converted), open_with(stored.outer)):
        if check() != plaintext:
            raise RuntimeError("crypto round trip failed")

    def open_incl_user_key() -> object:
        unwrap_user_key(master, wrapped_uk, user_id=user_id)
        return open_with(converted)()

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pub = rsa_key.public_key()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    rsa_ct = rsa_pub.encrypt(plaintext, oaep)
    if rsa_key.decrypt(rsa_ct, oaep) != plaintext:
        raise RuntimeError("RSA round trip failed")

    return [
        ("store", "store: encrypt_version (AES-GCM inner + DEK wrap + HPKE seal to keeper)", store),
        ("store_service", "store as SecretService.create does (+ unwrap user key)", store_as_service),
        ("convert", "keeper conversion, once per version (HPKE open + keeper wrap)", convert),
        (
            "open",
            "open, converted (unwrap DEK + keeper open_outer on the wrap + open_inner)",
            open_with(converted),
        ),
        ("open_user_key", "open, converted, + unwrap user key (first secret of a user)", open_incl_user_key),
        (
            "open_hpke",
            "open via HPKE (unwrap DEK + open_outer on the HPKE seal + open_inner)",
            open_with(stored.outer),
        ),
        (
            "rsa_encrypt",
            "baseline: RSA-2048-OAEP-SHA256 encrypt (per secret)",
            lambda: rsa_pub.encrypt(plaintext, oaep),
        ),
        (
            "rsa_decrypt",
            "baseline: RSA-2048-OAEP-SHA256 decrypt (per secret)",
            lambda: rsa_key.decrypt(rsa_ct, oaep),
        ),
    ]


def measure_crypto(*, quick: bool, value_size: int = 64) -> list[CryptoOp]:
    """Per-operation cost in microseconds; ~0.02 s (quick) or ~0.25 s (full) per repeat."""
    ops = _ops(value_size)
    target_s = 0.02 if quick else 0.25
    repeats = 3 if quick else 9
    timers: list[tuple[timeit.Timer, int]] = []
    for _, _, fn in ops:
        timer = timeit.Timer(fn)
        n, took = 1, timer.timeit(1)
        while took < 0.01:  # calibrate on >= 10 ms worth of calls, then scale to the target
            n *= 4
            took = timer.timeit(n)
        number = max(1, int(n * target_s / took))
        timers.append((timer, number))
    samples: list[list[float]] = [[] for _ in ops]
    for _ in range(repeats):
        for i, (timer, number) in enumerate(timers):
            samples[i].append(timer.timeit(number) / number * 1e6)
    return [
        CryptoOp(
            key=key,
            label=label,
            best_us=min(samples[i]),
            median_us=statistics.median(samples[i]),
            number=timers[i][1],
            repeats=repeats,
            samples_us=tuple(samples[i]),
        )
        for i, (key, label, _) in enumerate(ops)
    ]
