"""Bodies of /api/v1/audit: one record, and a page of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from sealbox.domain.audit import AuditEvent


class AuditRecord(BaseModel):
    id: int
    at: datetime
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

    @classmethod
    def of(cls, record_id: int, e: AuditEvent) -> AuditRecord:
        return cls(
            id=record_id,
            at=e.at,
            actor=e.actor_name,
            token_id=e.token_id,
            on_behalf_of=e.on_behalf_of,
            action=e.action,
            outcome=e.outcome.value,
            secret_id=e.secret_id,
            secret=e.secret_name,
            version=e.version,
            session_id=e.session_id,
            request_id=e.request_id,
            client_addr=e.client_addr,
            detail=e.detail,
        )


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_cursor: int | None
