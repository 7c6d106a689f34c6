"""Audit records: who did what to which secret, when, from where, and how it ended. Never a value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditEvent:
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
