"""The audit log: append-only rows, chained by hash, never a value.

Each record carries the hash of the one before it, and its own hash over its fields and that link,
so a record edited, deleted or moved breaks the chain at that point (`verify_chain`). Writers take
a lock first (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL) so the chain has one order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select, text
from sqlalchemy.engine import Connection

from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.store.tables import audit_events, secrets

_CHAIN_LOCK = 0x5EA1B0C5  # PostgreSQL advisory lock id for the audit chain
GENESIS = "0" * 64
_FIELDS = (
    "at",
    "actor_id",
    "actor_name",
    "token_id",
    "action",
    "outcome",
    "secret_id",
    "secret_name",
    "version",
    "client_addr",
    "detail",
    "on_behalf_of",
    "session_id",
)


def _canonical_at(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def record_hash(prev_hash: str, row: dict[str, Any]) -> str:
    body = {k: (_canonical_at(row[k]) if k == "at" else row[k]) for k in _FIELDS}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


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
        on_behalf_of=m["on_behalf_of"],
        session_id=m["session_id"],
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainCheck:
    ok: bool
    records: int
    head: str
    first_bad_id: int | None = None


class AuditRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(self, event: AuditEvent) -> None:
        self.append_many([event])

    def append_many(self, events: list[AuditEvent]) -> None:
        """One statement for many records (a launch of N secrets writes N records), chained in order."""
        if not events:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
        prev = (
            self.conn.execute(
                select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)
            ).scalar()
            or GENESIS
        )
        rows = []
        for e in events:
            row: dict[str, Any] = {
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
                "on_behalf_of": e.on_behalf_of,
                "session_id": e.session_id,
            }
            row["prev_hash"] = prev
            row["hash"] = prev = record_hash(prev, row)
            rows.append(row)
        self.conn.execute(insert(audit_events), rows)

    def query(
        self,
        *,
        visible_to: str | None,
        visible_name: str | None,
        secret_id: str | None,
        session_id: str | None,
        since: datetime | None,
        after_id: int | None,
        limit: int,
    ) -> list[tuple[int, AuditEvent]]:
        """Records newest first; `visible_to` (a user id) limits them to that user's secrets and own acts."""
        query = select(audit_events)
        if visible_to is not None:
            conditions: list[ColumnElement[bool]] = [
                audit_events.c.secret_id.in_(select(secrets.c.id).where(secrets.c.owner_id == visible_to)),
                audit_events.c.actor_id == visible_to,
            ]
            if visible_name is not None:
                conditions.append(audit_events.c.on_behalf_of == visible_name)
            query = query.where(or_(*conditions))
        if secret_id is not None:
            query = query.where(audit_events.c.secret_id == secret_id)
        if session_id is not None:
            query = query.where(audit_events.c.session_id == session_id)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if after_id is not None:
            query = query.where(audit_events.c.id < after_id)
        rows = self.conn.execute(query.order_by(audit_events.c.id.desc()).limit(limit))
        return [(r._mapping["id"], _event(r)) for r in rows]

    def for_secret(self, secret_id: str, *, limit: int = 100) -> list[AuditEvent]:
        return [
            e
            for _, e in self.query(
                visible_to=None,
                visible_name=None,
                secret_id=secret_id,
                session_id=None,
                since=None,
                after_id=None,
                limit=limit,
            )
        ]

    def all(self, *, limit: int = 1000) -> list[AuditEvent]:
        rows = self.conn.execute(select(audit_events).order_by(audit_events.c.id).limit(limit))
        return [_event(r) for r in rows]

    def _in_order(self, batch: int = 5000) -> Iterator[dict[str, Any]]:
        last = 0
        while True:
            rows = self.conn.execute(
                select(audit_events).where(audit_events.c.id > last).order_by(audit_events.c.id).limit(batch)
            ).all()
            if not rows:
                return
            for r in rows:
                yield dict(r._mapping)
            last = rows[-1]._mapping["id"]

    def verify_chain(self) -> ChainCheck:
        """Walk the chain from the first record; the first record whose link or hash is wrong fails it."""
        prev = GENESIS
        count = 0
        for row in self._in_order():
            count += 1
            if row["prev_hash"] != prev or record_hash(prev, row) != row["hash"]:
                return ChainCheck(ok=False, records=count, head=prev, first_bad_id=row["id"])
            prev = row["hash"]
        return ChainCheck(ok=True, records=count, head=prev)
