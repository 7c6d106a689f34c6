"""The audit log: append-only rows, never a value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.store.tables import audit_events


def _event(row: Any) -> AuditEvent:
    m = row._mapping
    return AuditEvent(
        at=m["at"],
        actor_id=m["actor_id"],
        actor_name=m["actor_name"],
        token_id=m["token_id"],
        action=m["action"],
        outcome=Outcome(m["outcome"]),
        secret_id=m["secret_id"],
        secret_name=m["secret_name"],
        version=m["version"],
        client_addr=m["client_addr"],
        detail=m["detail"],
    )


class AuditRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(self, event: AuditEvent) -> None:
        self.conn.execute(
            insert(audit_events).values(
                at=event.at,
                actor_id=event.actor_id,
                actor_name=event.actor_name,
                token_id=event.token_id,
                action=event.action,
                outcome=event.outcome.value,
                secret_id=event.secret_id,
                secret_name=event.secret_name,
                version=event.version,
                client_addr=event.client_addr,
                detail=event.detail,
            )
        )

    def for_secret(self, secret_id: str, *, limit: int = 100) -> list[AuditEvent]:
        rows = self.conn.execute(
            select(audit_events)
            .where(audit_events.c.secret_id == secret_id)
            .order_by(audit_events.c.id.desc())
            .limit(limit)
        )
        return [_event(r) for r in rows]

    def all(self, *, limit: int = 1000) -> list[AuditEvent]:
        rows = self.conn.execute(select(audit_events).order_by(audit_events.c.id).limit(limit))
        return [_event(r) for r in rows]
