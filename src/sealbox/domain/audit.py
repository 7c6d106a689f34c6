"""Audit records: who did what to which secret, when, from where, and how it ended. Never a value."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    actor_id: str | None
    actor_name: str | None
    token_id: str | None
    action: str
    outcome: Outcome
    secret_id: str | None = None
    secret_name: str | None = None
    version: int | None = None
    client_addr: str | None = None
    detail: str | None = None
    on_behalf_of: str | None = None  # the user a service account acted for
    session_id: str | None = None
    # The API request that wrote it (domain/request_ids.py); None outside a request, and before 0013.
    request_id: str | None = None


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """The chain head anchored outside the database: a record's id and tag, and the chain key's id."""

    record_id: int
    head: str
    key_id: str


class ChainCheck(msgspec.Struct, frozen=True, kw_only=True):
    """What verifying the audit chain found."""

    ok: bool
    records: int
    head: str
    first_bad_id: int | None = None
    legacy: int = 0  # unkeyed records (written before the chain was keyed) at the start
    checkpoint: Checkpoint | None = None  # the anchor the chain was checked against
    truncated: bool = False  # the chain ends before, or differs at, the record the checkpoint names
    # The re-anchorings the chain records (id, time, detail naming the gap), oldest first: a gap
    # accepted with `sealbox admin audit reanchor` stays on the record, inside the chain.
    reanchors: tuple[tuple[int, datetime, str], ...] = ()
