"""What crosses the wire to the keeper."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class OuterLayer:
    """One stored outer layer and the row it belongs to (the keeper rebuilds the context from these ids)."""

    secret_id: str
    version: int
    owner_id: str
    outer: bytes
