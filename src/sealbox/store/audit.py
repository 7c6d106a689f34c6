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
        self.append_many([event])

    def append_many(self, events: list[AuditEvent]) -> None:
        """One statement for many records (a launch of N secrets writes N records)."""
        if not events:
            return
        self.conn.execute(
            insert(audit_events),
            [
                {
                    "at": e.at,
                    "actor_id": e.actor_id,
                    "actor_name": e.actor_name,
                    "token_id": e.token_id,
                    "action": e.action,
                    "outcome": e.outcome.value,
                    "secret_id": e.secret_id,
                    "secret_name": e.secret_name,
                    "version": e.version,
                    "client_addr": e.client_addr,
                    "detail": e.detail,
                }
                for e in events
            ],
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
