"""What crosses the wire to the keeper."""

from __future__ import annotations

import msgspec


class OuterLayer(msgspec.Struct, frozen=True, kw_only=True):
    """One stored outer layer and the row it belongs to (the keeper rebuilds the context from these ids)."""

    secret_id: str
    version: int
    owner_id: str
    outer: bytes
