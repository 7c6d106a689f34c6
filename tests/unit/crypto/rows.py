"""Contexts for one stored row and for the same ciphertext moved elsewhere (TEST-PLAN T3 in miniature)."""

from __future__ import annotations

from sealbox.crypto.context import Context, Layer

SECRET_ID = "s-1"
VERSION = 1
OWNER_ID = "u-1"

# (label, secret id, version, owner id): each differs from the base row in one field, including
# near misses that a careless encoding (no length prefixes, no separators) would confuse.
MOVES: list[tuple[str, str, int, str]] = [
    ("other-secret", "s-2", VERSION, OWNER_ID),
    ("other-version", SECRET_ID, 2, OWNER_ID),
    ("other-owner", SECRET_ID, VERSION, "u-2"),
    ("secret-prefix", "s-", VERSION, OWNER_ID),
    ("secret-suffix", "s-11", VERSION, OWNER_ID),
    ("version-10", SECRET_ID, 10, OWNER_ID),
    ("version-0", SECRET_ID, 0, OWNER_ID),
    ("owner-empty", SECRET_ID, VERSION, ""),
    ("secret-and-owner-swapped", OWNER_ID, VERSION, SECRET_ID),
    ("boundary-shift", "s-1u", VERSION, "-1"),
]
MOVE_IDS = [label for label, *_ in MOVES]


def row(
    layer: Layer, *, secret_id: str = SECRET_ID, version: int = VERSION, owner_id: str = OWNER_ID
) -> Context:
    return Context.for_version(layer, secret_id=secret_id, version=version, owner_id=owner_id)


def moved(layer: Layer, move: tuple[str, str, int, str]) -> Context:
    _, secret_id, version, owner_id = move
    return row(layer, secret_id=secret_id, version=version, owner_id=owner_id)
