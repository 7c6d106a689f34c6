"""Known-answer vectors that freeze the v1 ciphertext formats (`envelope_v1.json`).

AES-GCM envelopes are deterministic given key, key id, nonce, context and plaintext, so they are
regenerated with `_seal_from_parts` and compared byte for byte. HPKE outer layers use a fresh
ephemeral key, so their vectors freeze the opening side: a stored outer layer must keep opening.

The file was written once by running this module (`python -m tests.vectors.test_envelope_vectors`).
Never regenerate it to make a test pass: a change here means stored ciphertexts stop opening.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealbox.crypto.context import Context, Layer
from sealbox.crypto.envelope import _seal_from_parts, key_id_of, open_, open_with_key
from sealbox.crypto.keyring import Keyring
from sealbox.crypto.sealing import PrivateKeySet, PublicKeySet, open_outer, open_sealed, seal_to_keeper
from sealbox.errors import DecryptionError

VECTORS_PATH = Path(__file__).with_name("envelope_v1.json")

Vector = dict[str, Any]

# The inputs the vectors were made from (hex unless said otherwise).
_AESGCM_INPUTS: list[Vector] = [
    {
        "description": "empty plaintext, inner layer",
        "key": bytes(range(32)).hex(),
        "kid": "0001020304050607",
        "nonce": "000000000000000000000000",
        "context": {"layer": "inner", "fields": [["secret", "s-1"], ["version", "1"], ["owner", "u-1"]]},
        "plaintext": "",
    },
    {
        "description": "short text value, inner layer",
        "key": bytes(range(32, 64)).hex(),
        "kid": "a0a1a2a3a4a5a6a7",
        "nonce": bytes(range(12)).hex(),
        "context": {
            "layer": "inner",
            "fields": [["secret", "0192f3c4-secret"], ["version", "3"], ["owner", "alice"]],
        },
        "plaintext": b"postgres://u:hunter2@db/prod".hex(),
    },
    {
        "description": "every byte value, data-key layer",
        "key": (b"\xff" * 32).hex(),
        "kid": "ffffffffffffffff",
        "nonce": (b"\xff" * 12).hex(),
        "context": {"layer": "data-key", "fields": [["secret", "s"], ["version", "10"], ["owner", "o"]]},
        "plaintext": bytes(range(256)).hex(),
    },
    {
        "description": "a wrapped user key (8-byte id + 32-byte key), user-key layer",
        "key": bytes(range(100, 132)).hex(),
        "kid": "1122334455667788",
        "nonce": "cafebabedeadbeef01020304",
        "context": {"layer": "user-key", "fields": [["user", "alice"]]},
        "plaintext": (bytes.fromhex("8877665544332211") + bytes(range(200, 232))).hex(),
    },
    {
        "description": "keeper wrap of an inner layer, keeper-wrap layer",
        "key": bytes(range(1, 33)).hex(),
        "kid": "0102030405060708",
        "nonce": "0a0b0c0d0e0f101112131415",
        "context": {
            "layer": "keeper-wrap",
            "fields": [["secret", "s-1"], ["version", "1"], ["owner", "u-1"]],
        },
        "plaintext": (b"\x01" + bytes(8) + bytes(12) + b"\x00" * 21).hex(),
    },
    {
        "description": "launch layer, unicode ids, 16-byte plaintext",
        "key": bytes(range(7, 39)).hex(),
        "kid": "7777777777777777",
        "nonce": "777777777777777777777777",
        "context": {"layer": "launch", "fields": [["secret", "ключ"], ["version", "2"], ["owner", "日本"]]},
        "plaintext": b"0123456789abcdef".hex(),
    },
    {
        "description": "large version number, outer layer context, 100-byte plaintext",
        "key": bytes(range(50, 82)).hex(),
        "kid": "0000000000000001",
        "nonce": "000000000000000000000001",
        "context": {
            "layer": "outer",
            "fields": [["secret", "s-99"], ["version", "9223372036854775807"], ["owner", "u-99"]],
        },
        "plaintext": (b"x" * 100).hex(),
    },
]

_HPKE_INPUTS: list[Vector] = [
    {
        "description": "outer layer of a short inner ciphertext",
        "private_key": bytes(range(32)).hex(),
        "kid": "0011223344556677",
        "context": {"layer": "outer", "fields": [["secret", "s-1"], ["version", "1"], ["owner", "u-1"]]},
        "plaintext": b"inner ciphertext bytes".hex(),
    },
    {
        "description": "outer layer of an empty plaintext",
        "private_key": bytes(range(64, 96)).hex(),
        "kid": "f0f1f2f3f4f5f6f7",
        "context": {"layer": "outer", "fields": [["secret", "x"], ["version", "12"], ["owner", "bob"]]},
        "plaintext": "",
    },
    {
        "description": "outer layer of every byte value",
        "private_key": (b"\x42" * 32).hex(),
        "kid": "4242424242424242",
        "context": {"layer": "outer", "fields": [["secret", "ключ"], ["version", "7"], ["owner", "日本"]]},
        "plaintext": bytes(range(256)).hex(),
    },
]


def _context(data: Vector) -> Context:
    return Context(layer=Layer(data["layer"]), fields=tuple((k, v) for k, v in data["fields"]))


def _seal_vector(v: Vector) -> bytes:
    return _seal_from_parts(
        bytes.fromhex(v["key"]),
        bytes.fromhex(v["kid"]),
        bytes.fromhex(v["plaintext"]),
        _context(v["context"]),
        nonce=bytes.fromhex(v["nonce"]),
    )


def _private_set(v: Vector) -> PrivateKeySet:
    return PrivateKeySet.from_entries([(bytes.fromhex(v["kid"]), bytes.fromhex(v["private_key"]))])


def _generate() -> dict[str, Any]:
    aesgcm = []
    for v in _AESGCM_INPUTS:
        header = b"\x01" + bytes.fromhex(v["kid"])
        aad = header + _context(v["context"]).encode()
        aesgcm.append({**v, "aad": aad.hex(), "envelope": _seal_vector(v).hex()})
    hpke = []
    for v in _HPKE_INPUTS:
        private = _private_set(v)
        outer = seal_to_keeper(private.public(), bytes.fromhex(v["plaintext"]), _context(v["context"]))
        hpke.append(
            {**v, "public_key": private.public().to_text().split(":")[1].strip(), "outer": outer.hex()}
        )
    return {
        "format": {
            "aesgcm": "0x01 | key id (8) | nonce (12) | AES-256-GCM ciphertext || tag (16); "
            "AAD = 0x01 | key id | Context.encode()",
            "context": "u16be length-prefixed: 'sealbox/v1', layer, then each field name and value (UTF-8)",
            "hpke": "0x02 | key id (8) | RFC 9180 base mode X25519/HKDF-SHA256/AES-256-GCM enc (32) || ct; "
            "info = 0x02 | key id | Context.encode(), no AAD",
        },
        "aesgcm": aesgcm,
        "hpke": hpke,
    }


def _load() -> dict[str, Any]:
    if not VECTORS_PATH.exists():  # only while writing the file for the first time
        return {"aesgcm": [], "hpke": []}
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
    return data


_VECTORS = _load()
AESGCM_VECTORS: list[Vector] = _VECTORS["aesgcm"]
HPKE_VECTORS: list[Vector] = _VECTORS["hpke"]
AESGCM_IDS = [v["description"] for v in AESGCM_VECTORS]
HPKE_IDS = [v["description"] for v in HPKE_VECTORS]


def test_the_file_covers_every_layer_and_the_inputs_above() -> None:
    assert VECTORS_PATH.exists()
    assert len(AESGCM_VECTORS) == len(_AESGCM_INPUTS) and len(HPKE_VECTORS) == len(_HPKE_INPUTS)
    assert {v["context"]["layer"] for v in AESGCM_VECTORS} == {layer.value for layer in Layer}
    strip = ("aad", "envelope")
    assert [{k: x for k, x in v.items() if k not in strip} for v in AESGCM_VECTORS] == _AESGCM_INPUTS
    assert [
        {k: x for k, x in v.items() if k not in ("public_key", "outer")} for v in HPKE_VECTORS
    ] == _HPKE_INPUTS


@pytest.mark.parametrize("vector", AESGCM_VECTORS, ids=AESGCM_IDS)
def test_seal_from_parts_reproduces_the_vector(vector: Vector) -> None:
    assert _seal_vector(vector).hex() == vector["envelope"]


@pytest.mark.parametrize("vector", AESGCM_VECTORS, ids=AESGCM_IDS)
def test_context_encoding_is_frozen(vector: Vector) -> None:
    header = b"\x01" + bytes.fromhex(vector["kid"])
    assert (header + _context(vector["context"]).encode()).hex() == vector["aad"]


@pytest.mark.parametrize("vector", AESGCM_VECTORS, ids=AESGCM_IDS)
def test_the_layout_is_the_documented_one(vector: Vector) -> None:
    """Rebuild each envelope from the primitive and the documented layout, without sealbox's code."""
    key, kid, nonce = (bytes.fromhex(vector[k]) for k in ("key", "kid", "nonce"))
    aad = bytes.fromhex(vector["aad"])
    expected = b"\x01" + kid + nonce + AESGCM(key).encrypt(nonce, bytes.fromhex(vector["plaintext"]), aad)
    assert expected.hex() == vector["envelope"]


@pytest.mark.parametrize("vector", AESGCM_VECTORS, ids=AESGCM_IDS)
def test_open_opens_the_vector(vector: Vector) -> None:
    envelope = bytes.fromhex(vector["envelope"])
    kid, key = bytes.fromhex(vector["kid"]), bytes.fromhex(vector["key"])
    ctx = _context(vector["context"])
    plaintext = bytes.fromhex(vector["plaintext"])
    assert key_id_of(envelope) == kid
    assert open_(Keyring(keys=((kid, key),)), envelope, ctx) == plaintext
    assert open_(Keyring(keys=((bytes(8), bytes(32)), (kid, key))), envelope, ctx) == plaintext
    assert open_with_key(key, envelope, ctx) == plaintext


@pytest.mark.parametrize("vector", AESGCM_VECTORS, ids=AESGCM_IDS)
def test_the_vector_does_not_open_in_another_context(vector: Vector) -> None:
    envelope = bytes.fromhex(vector["envelope"])
    ring = Keyring(keys=((bytes.fromhex(vector["kid"]), bytes.fromhex(vector["key"])),))
    ctx = _context(vector["context"])
    for layer in Layer:
        if layer is not ctx.layer:
            with pytest.raises(DecryptionError):
                open_(ring, envelope, Context(layer=layer, fields=ctx.fields))
    changed = Context(
        layer=ctx.layer, fields=(*ctx.fields[:-1], (ctx.fields[-1][0], ctx.fields[-1][1] + "x"))
    )
    with pytest.raises(DecryptionError):
        open_(ring, envelope, changed)


@pytest.mark.parametrize("vector", HPKE_VECTORS, ids=HPKE_IDS)
def test_a_stored_outer_layer_still_opens(vector: Vector) -> None:
    private = _private_set(vector)
    outer = bytes.fromhex(vector["outer"])
    ctx = _context(vector["context"])
    plaintext = bytes.fromhex(vector["plaintext"])
    assert outer[:9] == b"\x02" + bytes.fromhex(vector["kid"])
    assert open_sealed(private, outer, ctx) == plaintext
    assert open_outer(private, Keyring.generate(), outer, ctx) == plaintext
    other = Context(layer=ctx.layer, fields=(*ctx.fields[:-1], (ctx.fields[-1][0], "someone-else")))
    with pytest.raises(DecryptionError):
        open_sealed(private, outer, other)


@pytest.mark.parametrize("vector", HPKE_VECTORS, ids=HPKE_IDS)
def test_the_keeper_public_key_is_frozen(vector: Vector) -> None:
    private = _private_set(vector)
    public = PublicKeySet.from_text(f"{vector['kid']}:{vector['public_key']}\n", source="vector")
    assert public.to_text() == private.public().to_text()
    raw = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["private_key"]))
    assert private.find(bytes.fromhex(vector["kid"])) is not None
    assert raw.public_key() == private.keys[0][1].public_key()


if __name__ == "__main__":  # pragma: no cover - a one-off: how envelope_v1.json was written
    if VECTORS_PATH.exists():
        raise SystemExit(f"{VECTORS_PATH} exists; it is frozen. Delete it only for a new format version.")
    VECTORS_PATH.write_text(json.dumps(_generate(), indent=2, ensure_ascii=False) + "\n")
