"""Writing audit records inside the transaction of the change they describe."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.domain.principals import Principal
from sealbox.errors import Unavailable
from sealbox.store.audit import AuditRepository


def record(
    conn: Connection,
    principal: Principal | None,
    action: str,
    *,
    now: datetime,
    outcome: Outcome = Outcome.SUCCESS,
    secret_id: str | None = None,
    secret_name: str | None = None,
    version: int | None = None,
    detail: str | None = None,
    client_addr: str | None = None,
) -> None:
    """Append one record; a failure here fails (rolls back) the change it belongs to: no record, no change."""
    try:
        _append(
            conn,
            principal,
            action,
            now=now,
            outcome=outcome,
            secret_id=secret_id,
            secret_name=secret_name,
            version=version,
            detail=detail,
            client_addr=client_addr,
        )
    except SQLAlchemyError:
        raise Unavailable(
            "the audit log cannot be written; nothing was changed", code="audit_unavailable"
        ) from None


def _append(
    conn: Connection,
    principal: Principal | None,
    action: str,
    *,
    now: datetime,
    outcome: Outcome,
    secret_id: str | None,
    secret_name: str | None,
    version: int | None,
    detail: str | None,
    client_addr: str | None,
) -> None:
    AuditRepository(conn).append(
        AuditEvent(
            at=now,
            actor_id=principal.user.id if principal else None,
            actor_name=principal.user.name if principal else None,
            token_id=principal.token_id if principal else None,
            action=action,
            outcome=outcome,
            secret_id=secret_id,
            secret_name=secret_name,
            version=version,
            client_addr=principal.client_addr if principal else client_addr,
            detail=detail,
        )
    )


def record_many(
    conn: Connection,
    principal: Principal | None,
    action: str,
    *,
    now: datetime,
    secrets: list[tuple[str, str, int]],
    detail: str | None = None,
    client_addr: str | None = None,
) -> None:
    """One record per (secret id, name, version), written in one statement; fails closed like `record`."""
    events = [
        AuditEvent(
            at=now,
            actor_id=principal.user.id if principal else None,
            actor_name=principal.user.name if principal else None,
            token_id=principal.token_id if principal else None,
            action=action,
            outcome=Outcome.SUCCESS,
            secret_id=secret_id,
            secret_name=name,
            version=version,
            client_addr=principal.client_addr if principal else client_addr,
            detail=detail,
        )
        for secret_id, name, version in secrets
    ]
    try:
        AuditRepository(conn).append_many(events)
    except SQLAlchemyError:
        raise Unavailable(
            "the audit log cannot be written; nothing was changed", code="audit_unavailable"
        ) from None
