"""The audit log: append-only rows, chained by keyed hash, never a value.

Each record carries the tag of the one before it, and its own tag over its fields and that link: an
HMAC-SHA256 under the chain key (derived from the master key, never in the database; `key_id` names
it), so a record edited, deleted or moved breaks the chain at that point (`verify_chain`), and nobody
with only the database can recompute the tags after an edit. Records from before the chain was keyed
(chain_version 1, plain SHA-256) may only precede the first keyed one. Keyed records since revision
0013 (chain_version 3) also cover their request id; version 2 records verify as they were written.
The newest committed head is anchored outside the database (`audit_anchor`), which catches a removed
tail. Writers take a lock first (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL) so the
chain has one order.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from sealbox.crypto.chain import ChainKeys
from sealbox.domain import request_ids
from sealbox.domain.audit import AuditEvent, ChainCheck, Checkpoint, Outcome
from sealbox.errors import ConfigError, DecryptionError, Unavailable
from sealbox.store.audit_anchor import REANCHOR, chain_setup, stage_head
from sealbox.store.faults import fault_code, unavailable
from sealbox.store.inserts import insert_into
from sealbox.store.raw import RawReader, Statement
from sealbox.store.tables import audit_events, secrets

_CHAIN_LOCK = 0x5EA1B0C5  # PostgreSQL advisory lock id for the audit chain
GENESIS = "0" * 64
# chain_version: plain SHA-256 (before revision 0007); HMAC-SHA256 over _FIELDS (before 0013); the same
# over _FIELDS and the request id. Only the newest is written.
LEGACY, KEYED, KEYED_WITH_REQUEST = 1, 2, 3
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
_FIELDS_V3 = (*_FIELDS, "request_id")
_KEYED_VERSIONS = (KEYED, KEYED_WITH_REQUEST)
_COLUMNS = (*_FIELDS_V3, "chain_version", "key_id", "prev_hash", "hash")
# Written once (store/inserts.py): every change runs these under the chain lock.
_TAKE_CHAIN_LOCK = Statement.of("SELECT pg_advisory_xact_lock(?)")  # PostgreSQL only
_LAST_HASH = Statement.of("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1")
_INSERT = insert_into(audit_events, _COLUMNS, returning="id")
_INSERT_MANY = insert_into(audit_events, _COLUMNS)
_NEWEST_ID = Statement.of("SELECT max(id) FROM audit_events")


@functools.lru_cache(maxsize=256)
def _canonical_at(at: datetime) -> str:
    """Cached: a launch's records share one time, and a verification walks runs of equal ones."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _canonical(row: dict[str, Any], fields: tuple[str, ...] = _FIELDS) -> str:
    body = {k: (_canonical_at(row[k]) if k == "at" else row[k]) for k in fields}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def record_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The unkeyed (chain_version 1) hash: anyone can recompute it, so it is only checked, never written."""
    return hashlib.sha256(f"{prev_hash}\n{_canonical(row)}".encode()).hexdigest()


def _keyed_message(prev_hash: str, row: dict[str, Any]) -> bytes:
    """What a keyed record's tag covers; its version is part of it, so no record passes for another."""
    if row["chain_version"] == KEYED_WITH_REQUEST:
        body = _canonical(row, _FIELDS_V3)
        return f"sealbox audit v3\n{row['key_id']}\n{prev_hash}\n{body}".encode()
    return f"sealbox audit v2\n{row['key_id']}\n{prev_hash}\n{_canonical(row)}".encode()


def record_tag(keys: ChainKeys, prev_hash: str, row: dict[str, Any]) -> str:
    """The keyed (chain_version 2 or 3) tag of `row` after `prev_hash`, under the key `row["key_id"]`."""
    return keys.tag(_keyed_message(prev_hash, row), key_id=row["key_id"])


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
        request_id=m["request_id"],
    )


class AuditRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(self, event: AuditEvent) -> None:
        self.append_many([event])

    def append_failing_closed(self, events: list[AuditEvent]) -> None:
        """As `append_many`, every failure one `Unavailable` that fails the change the records belong to:
        the database's own code (the database itself failing is that, not the audit log refusing a
        record), or `audit_unavailable`."""
        try:
            self.append_many(events)
        except (SQLAlchemyError, ConfigError) as exc:
            code = fault_code(exc)
            if code is not None:
                raise unavailable(code) from None
            raise Unavailable(
                "the audit log cannot be written; nothing was changed", code="audit_unavailable"
            ) from None

    def append_many(self, events: list[AuditEvent]) -> None:
        """One statement for many records (a launch of N secrets writes N records), chained in order."""
        if not events:
            return
        setup = chain_setup(self.conn)
        raw = RawReader(self.conn)
        if not raw.sqlite:
            raw.one(_TAKE_CHAIN_LOCK, (_CHAIN_LOCK,))
        # Under the chain lock: a key rotated before the record ahead of ours was written tags ours.
        keys = setup.keys
        last = raw.one(_LAST_HASH, ())
        prev = (last[0] if last is not None else None) or GENESIS
        rows = []
        request_id = request_ids.current()
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
                "request_id": e.request_id or request_id,
                "chain_version": KEYED_WITH_REQUEST,
                "key_id": keys.current_id,
            }
            row["prev_hash"] = prev
            row["hash"] = prev = record_tag(keys, prev, row)
            rows.append(row)
        if len(rows) == 1:  # a change's one record: a statement written once, answering its id
            (row,) = rows
            values = tuple(raw.time_param(row[c]) if c == "at" else row[c] for c in _COLUMNS)
            inserted = raw.one(_INSERT, values)
            if inserted is None:  # pragma: no cover -- RETURNING answers the row it inserted
                raise ConfigError("the audit record was not written")
            newest = inserted[0]
        else:
            times = {at: raw.time_param(at) for at in {row["at"] for row in rows}}  # one per launch, often
            raw.execute_many(
                _INSERT_MANY,
                [tuple(times[row[c]] if c == "at" else row[c] for c in _COLUMNS) for row in rows],
            )
            # Still under the chain lock: the newest id is ours.
            newest_row = raw.one(_NEWEST_ID, ())
            if newest_row is None:  # pragma: no cover -- the rows were just written
                raise ConfigError("the audit records were not written")
            newest = newest_row[0]
        # It goes to the checkpoint after the commit.
        stage_head(self.conn, int(newest), prev)

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

    def verify_chain(self, keys: ChainKeys, *, checkpoint: Checkpoint | None = None) -> ChainCheck:
        """Walk the chain from the first record; the first record whose link or tag is wrong fails it.

        With a `checkpoint`, the chain must also reach the record it names, with the tag it names.
        """
        prev = GENESIS
        count = legacy = 0
        keyed_seen = False
        anchored = checkpoint is None
        reanchors: list[tuple[int, datetime, str]] = []

        def broken(first_bad_id: int, *, truncated: bool = False) -> ChainCheck:
            return ChainCheck(
                ok=False,
                records=count,
                head=prev,
                first_bad_id=first_bad_id,
                legacy=legacy,
                checkpoint=checkpoint,
                truncated=truncated,
                reanchors=tuple(reanchors),
            )

        for row in self._in_order():
            count += 1
            if row["prev_hash"] != prev or not _row_verifies(keys, prev, row, keyed_seen=keyed_seen):
                return broken(row["id"])
            if row["chain_version"] in _KEYED_VERSIONS:
                keyed_seen = True
            else:
                legacy += 1
            prev = row["hash"]
            if row["action"] == REANCHOR:
                reanchors.append((row["id"], row["at"], row["detail"] or ""))
            if checkpoint is not None and row["id"] == checkpoint.record_id:
                if row["hash"] != checkpoint.head or row["chain_version"] not in _KEYED_VERSIONS:
                    return broken(row["id"], truncated=True)
                anchored = True
        if not anchored:
            assert checkpoint is not None
            return broken(checkpoint.record_id, truncated=True)
        return ChainCheck(
            ok=True,
            records=count,
            head=prev,
            legacy=legacy,
            checkpoint=checkpoint,
            reanchors=tuple(reanchors),
        )


def _row_verifies(keys: ChainKeys, prev: str, row: dict[str, Any], *, keyed_seen: bool) -> bool:
    """One record's own check: its tag (keyed) or its hash (unkeyed, only before the first keyed one)."""
    try:
        if row["chain_version"] == KEYED and row["request_id"] is not None:
            return False  # version 2 tags do not cover a request id, and none was written with one
        if row["chain_version"] in _KEYED_VERSIONS:
            keys.verify(_keyed_message(prev, row), row["hash"], key_id=row["key_id"])
            return True
        if row["chain_version"] == LEGACY and not keyed_seen and row["key_id"] is None:
            return bool(record_hash(prev, row) == row["hash"])
    except (DecryptionError, TypeError, ValueError, AttributeError):
        pass  # a column that does not even parse is a broken record, never a crash
    return False
