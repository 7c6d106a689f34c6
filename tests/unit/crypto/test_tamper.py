"""TEST-PLAN T4: tampered ciphertexts of every stored format open to nothing and fail in one way.

For 50 ciphertexts of each format (AES-GCM envelope, HPKE outer layer, keeper wrap): every single-bit
flip in the first and last 64 bytes, then 10,000 seeded random flips, truncations, extensions,
insertions, deletions and splices. Target: 0 opened (so 0 wrong plaintexts), 0 exceptions other
than DecryptionError, and one error shape (type, args, message, no chained cause): no oracle.
"""

from __future__ import annotations

import functools
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import open_, seal
from sealbox.crypto.keyring import SYMMETRIC_KEY_BYTES, Keyring
from sealbox.crypto.sealing import PrivateKeySet, keeper_wrap, open_outer, seal_to_keeper
from sealbox.errors import DecryptionError

SEED = 0x5EA1B0
ENVELOPES = 50
EDGE = 64
RANDOM_MUTATIONS = 10_000
ONE_SHAPE = (
    DecryptionError,
    ("ciphertext could not be opened",),
    "ciphertext could not be opened",
    None,
    True,
)

Opener = Callable[[bytes], bytes]


@dataclass
class Sample:
    blob: bytes
    plaintext: bytes
    open: Opener


@dataclass
class Tally:
    tried: int = 0
    opened: int = 0
    wrong_plaintexts: int = 0
    other_errors: list[str] = field(default_factory=list)
    shapes: set[tuple[object, ...]] = field(default_factory=set)

    def probe(self, sample: Sample, mutated: bytes) -> None:
        self.tried += 1
        try:
            got = sample.open(mutated)
        except DecryptionError as exc:
            self.shapes.add((type(exc), exc.args, str(exc), exc.__cause__, exc.__suppress_context__))
        except Exception as exc:  # a crash: anything but DecryptionError is a finding
            self.other_errors.append(f"{type(exc).__name__}: {exc}"[:200])
        else:
            self.opened += 1
            if got != sample.plaintext:
                self.wrong_plaintexts += 1

    def check(self, at_least: int) -> None:
        assert self.tried >= at_least
        assert self.wrong_plaintexts == 0
        assert self.opened == 0
        assert self.other_errors == []
        assert self.shapes == {ONE_SHAPE}


def _neighbour_ids(kid: bytes) -> list[bytes]:
    """Key ids one bit away from `kid`, so that some flips land on another *known* key."""
    return [kid[:i] + bytes([kid[i] ^ (1 << bit)]) + kid[i + 1 :] for i, bit in ((0, 0), (3, 5), (7, 7))]


def _ring_with_neighbours() -> Keyring:
    kid = secrets.token_bytes(8)
    ids = [kid, *_neighbour_ids(kid)]
    return Keyring(keys=tuple((k, secrets.token_bytes(SYMMETRIC_KEY_BYTES)) for k in ids))


def _private_set_with_neighbours() -> PrivateKeySet:
    kid = secrets.token_bytes(8)
    ids = [kid, *_neighbour_ids(kid)]
    return PrivateKeySet(keys=tuple((k, X25519PrivateKey.generate()) for k in ids))


def _random_row(rng: random.Random, layer: Layer) -> Context:
    return Context.for_version(
        layer,
        secret_id=f"sec-{rng.getrandbits(32):08x}",
        version=rng.randrange(1, 20),
        owner_id=f"usr-{rng.getrandbits(16):04x}",
    )


def _plaintext(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice([0, 1, 16, 40, 63, 64, 65, 100, 200, 333]))


def _opener(fn: Callable[[Keyring, bytes, Context], bytes], ring: Keyring, ctx: Context) -> Opener:
    return lambda blob: fn(ring, blob, ctx)


def _open_outer(private: PrivateKeySet, wrap_ring: Keyring, ctx: Context, blob: bytes) -> bytes:
    return open_outer(private, wrap_ring, blob, ctx)


def _corpus(name: str) -> list[Sample]:
    rng = random.Random(f"{SEED}-{name}")
    ring = _ring_with_neighbours()
    private = _private_set_with_neighbours()
    wrap_ring = _ring_with_neighbours()
    public = private.public()
    samples = []
    for _ in range(ENVELOPES):
        plaintext = _plaintext(rng)
        if name == "aesgcm":
            ctx = _random_row(rng, rng.choice(list(Layer)))
            blob = seal(ring, plaintext, ctx)
            samples.append(Sample(blob, plaintext, _opener(open_, ring, ctx)))
        else:
            ctx = _random_row(rng, Layer.OUTER)
            if name == "hpke":
                blob = seal_to_keeper(public, plaintext, ctx)
            else:
                blob = keeper_wrap(wrap_ring, plaintext, ctx)
            samples.append(Sample(blob, plaintext, functools.partial(_open_outer, private, wrap_ring, ctx)))
    # The corpus itself is sound: every untouched sample opens to its plaintext.
    for sample in samples:
        assert sample.open(sample.blob) == sample.plaintext
    return samples


FORMATS = ["aesgcm", "hpke", "keeper-wrap"]


@pytest.fixture(scope="module", params=FORMATS)
def corpus(request: pytest.FixtureRequest) -> list[Sample]:
    return _corpus(request.param)


def _edge_flips(blob: bytes) -> Iterator[bytes]:
    positions = sorted(set(range(min(EDGE, len(blob)))) | set(range(max(0, len(blob) - EDGE), len(blob))))
    for pos in positions:
        for bit in range(8):
            mutated = bytearray(blob)
            mutated[pos] ^= 1 << bit
            yield bytes(mutated)


def _random_mutation(rng: random.Random, blob: bytes, other: bytes) -> bytes:
    op = rng.randrange(7)
    data = bytearray(blob)
    if op == 0:  # flip 1-8 random bits
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif op == 1:  # truncate
        del data[rng.randrange(len(data)) :]
    elif op == 2:  # extend
        data += rng.randbytes(rng.randint(1, 64))
    elif op == 3:  # insert bytes somewhere
        pos = rng.randrange(len(data) + 1)
        data[pos:pos] = rng.randbytes(rng.randint(1, 16))
    elif op == 4:  # delete a slice
        pos = rng.randrange(len(data))
        del data[pos : pos + rng.randint(1, 16)]
    elif op == 5:  # overwrite one byte with a random value
        data[rng.randrange(len(data))] = rng.randrange(256)
    else:  # splice: the head of one ciphertext onto the tail of another
        cut = rng.randrange(1, min(len(blob), len(other)))
        data = bytearray(blob[:cut] + other[cut:])
    return bytes(data)


def test_every_bit_flip_in_the_first_and_last_64_bytes(corpus: list[Sample]) -> None:
    tally = Tally()
    for sample in corpus:
        for mutated in _edge_flips(sample.blob):
            tally.probe(sample, mutated)
    tally.check(at_least=ENVELOPES * 37 * 8)


def test_random_flips_truncations_and_extensions(corpus: list[Sample]) -> None:
    rng = random.Random(SEED)
    tally = Tally()
    skipped = 0
    while tally.tried < RANDOM_MUTATIONS:
        sample = rng.choice(corpus)
        mutated = _random_mutation(rng, sample.blob, rng.choice(corpus).blob)
        if mutated == sample.blob:
            skipped += 1  # e.g. two flips of the same bit, or a splice of equal bytes
            continue
        tally.probe(sample, mutated)
    tally.check(at_least=RANDOM_MUTATIONS)
    assert skipped < RANDOM_MUTATIONS // 10


def test_a_ciphertext_of_one_format_is_refused_by_the_other_openers() -> None:
    """Each format's opener meets the other formats' ciphertexts: all refused, same error."""
    corpora = {name: _corpus(name)[:10] for name in FORMATS}
    tally = Tally()
    for name, samples in corpora.items():
        for other_name, others in corpora.items():
            if other_name == name:
                continue
            for sample, other in zip(samples, others, strict=True):
                tally.probe(sample, other.blob)
    tally.check(at_least=60)
