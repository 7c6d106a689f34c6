"""Server -> a person: what GET /api/v1/audit answers (built by server/schemas/audit.py)."""

from __future__ import annotations

from sealbox.protocol.base import Answer, Time


class AuditRecord(Answer, frozen=True, kw_only=True):
    id: int
    at: Time
    actor: str | None
    token_id: str | None
    on_behalf_of: str | None
    action: str
    outcome: str
    secret_id: str | None
    secret: str | None
    version: int | None
    session_id: str | None
    request_id: str | None  # the API request that wrote it (X-Request-ID); None before it was kept
    client_addr: str | None
    detail: str | None


class AuditPage(Answer, frozen=True, kw_only=True):
    items: list[AuditRecord]
    next_cursor: int | None
