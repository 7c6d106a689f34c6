"""What /api/v1/audit answers: the Structs of protocol.audit_api, built here from the domain's records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealbox.protocol.audit_api import AuditPage, AuditRecord

if TYPE_CHECKING:
    from sealbox.domain.audit import AuditEvent

__all__ = ["AuditPage", "AuditRecord", "audit_record"]


def audit_record(record_id: int, e: AuditEvent) -> AuditRecord:
    return AuditRecord(
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
