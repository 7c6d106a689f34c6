"""Writing audit records inside the transaction of the change they describe (no record, no change)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import Keyring
from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.domain.grants import Level
from sealbox.domain.principals import Principal
from sealbox.errors import BadRequest, ConfigError, Unavailable
from sealbox.services.access import resolve
from sealbox.store.audit import AuditRepository, ChainCheck
from sealbox.store.audit_anchor import (
    CHECKPOINT_NAME,
    REANCHOR,
    CheckpointFile,
    anchor_gap,
    install_chain,
    read_checkpoint,
    read_text,
    staged_head,
)
from sealbox.store.database import Database
from sealbox.store.faults import fault_code, unavailable
from sealbox.store.ratelimit import DenialCounter
from sealbox.store.users import UserRepository

DENIAL_WINDOW_SECONDS = 60
# A record that sums up repeated denials starts its detail with this and the count; the first denial of
# each minute has a record of its own, without it.
DENIAL_COUNT = "count="
_NONE = "-"


def install_audit_chain(db: Database, master: Keyring, *, data_dir: Path | None) -> None:
    """Key `db`'s audit chain with the master keyring, anchoring heads in `data_dir`/audit.head.

    Every process that writes audit records calls this once after opening the database; without it,
    writes that need a record fail closed. With a checkpoint in `data_dir` that the database's chain
    does not hold (a rollback, a cut log), raises ConfigError, one line naming the gap and the way out
    (`sealbox admin audit reanchor`): the server refuses to start, however often it is restarted.
    """
    keys = ChainKeys.derive(master)
    if data_dir is not None:
        with db.read() as conn:
            gap = anchor_gap(conn, data_dir / CHECKPOINT_NAME, keys)
        if gap is not None:
            raise ConfigError(
                f"the audit chain does not hold what its checkpoint names: {gap.describe()}. The database "
                "was rolled back or its audit log cut; `sealbox audit verify` shows it. To accept it and "
                "record the gap in the log: sealbox admin audit reanchor --reason TEXT"
            )
    install_chain(
        db.engine, keys, checkpoint_path=data_dir / CHECKPOINT_NAME if data_dir is not None else None
    )


def _event(
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
    on_behalf_of: str | None,
    session_id: str | None,
) -> AuditEvent:
    return AuditEvent(
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
        on_behalf_of=on_behalf_of,
        session_id=session_id,
    )


def _append(conn: Connection, events: list[AuditEvent]) -> None:
    try:
        AuditRepository(conn).append_many(events)
    except (SQLAlchemyError, ConfigError) as exc:
        # The database itself failing is that, not the audit log refusing a record.
        code = fault_code(exc)
        if code is not None:
            raise unavailable(code) from None
        raise Unavailable(
            "the audit log cannot be written; nothing was changed", code="audit_unavailable"
        ) from None


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
    on_behalf_of: str | None = None,
    session_id: str | None = None,
) -> None:
    """Append one record; a failure here fails (rolls back) the change it belongs to."""
    _append(
        conn,
        [
            _event(
                principal,
                action,
                now=now,
                outcome=outcome,
                secret_id=secret_id,
                secret_name=secret_name,
                version=version,
                detail=detail,
                client_addr=client_addr,
                on_behalf_of=on_behalf_of,
                session_id=session_id,
            )
        ],
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
    on_behalf_of: str | None = None,
    session_id: str | None = None,
) -> None:
    """One record per (secret id, name, version), in one statement; fails closed like `record`."""
    _append(
        conn,
        [
            _event(
                principal,
                action,
                now=now,
                outcome=Outcome.SUCCESS,
                secret_id=secret_id,
                secret_name=name,
                version=version,
                detail=detail,
                client_addr=client_addr,
                on_behalf_of=on_behalf_of,
                session_id=session_id,
            )
            for secret_id, name, version in secrets
        ],
    )


def _denial_key(principal: Principal, action: str, status: int, secret_id: str | None) -> str:
    """Who was denied what: the user, the token, the status, the secret (403 only), the action."""
    return ":".join(
        (principal.user.id, principal.token_id or _NONE, str(status), secret_id or _NONE, action[:24])
    )


def _part(text: str) -> str | None:
    return None if text == _NONE else text


def record_denial(
    db: Database,
    principal: Principal,
    action: str,
    *,
    now: datetime,
    status: int,
    secret_name: str | None,
    secret_id: str | None,
    detail: str,
) -> None:
    """Count a denial on the record, in a transaction of its own (the refused request changed nothing).

    The first denial of a kind (same user, token, status, secret and action) in a minute is a `denied`
    record of its own; the ones after it in that minute are only counted, and `flush_denials` appends
    one record with their count once the minute is over. So every denial is on the record, and a client
    that is refused at any rate adds at most two records a minute for each kind (T14, finding 11).

    `secret_id` only for a secret the caller can see (403): a 404 looks the same whether the secret
    exists or not, and the caller reads their own records. Raises Unavailable when the audit log
    cannot be written.
    """
    window = int(now.timestamp()) // DENIAL_WINDOW_SECONDS
    with db.write() as conn:
        counter = DenialCounter(conn)
        if counter.bump(_denial_key(principal, action, status, secret_id), window) > 1:
            return
        _summarise(conn, counter.claim(before=window), now)
        record(
            conn,
            principal,
            action,
            now=now,
            outcome=Outcome.DENIED,
            secret_id=secret_id,
            secret_name=secret_name,
            detail=detail[:200],
        )


def flush_denials(db: Database, *, now: datetime, everything: bool = False) -> int:
    """Append the count records of the minutes that are over (`everything`: of the current one too, when a
    server stops); returns how many records were written. Safe to run from several replicas at once."""
    with db.write() as conn:
        window = int(now.timestamp()) // DENIAL_WINDOW_SECONDS
        return _summarise(conn, DenialCounter(conn).claim(before=None if everything else window), now)


def _summarise(conn: Connection, claimed: list[tuple[str, int, int]], now: datetime) -> int:
    """One record per claimed (key, minute) whose count goes past its first denial (recorded already)."""
    users = UserRepository(conn)
    names: dict[str, str | None] = {}
    events = []
    for key, window, count in claimed:
        if count < 2:
            continue
        user_id, token_id, status, secret_id, action = key.split(":", 4)
        if user_id not in names:
            found = users.by_id(user_id)
            names[user_id] = found.name if found else None
        minute = datetime.fromtimestamp(window * DENIAL_WINDOW_SECONDS, UTC).strftime("%Y-%m-%dT%H:%MZ")
        events.append(
            AuditEvent(
                at=now,
                actor_id=user_id,
                actor_name=names[user_id],
                token_id=_part(token_id),
                action=action,
                outcome=Outcome.DENIED,
                secret_id=_part(secret_id),
                secret_name=None,
                version=None,
                client_addr=None,
                detail=f"{DENIAL_COUNT}{count - 1} status={status} minute={minute}: the same denial again",
                on_behalf_of=None,
                session_id=None,
            )
        )
    _append(conn, events)
    return len(events)


def list_records(
    db: Database,
    requested_by: Principal,
    *,
    secret: str | None,
    session_id: str | None,
    since: datetime | None,
    cursor: int | None,
    limit: int,
) -> list[tuple[int, AuditEvent]]:
    """Audit records newest first: admins see all; others see their secrets' records and their own acts."""
    # Up to 1000 a page, plus the one more record a caller asks for to know whether a next page exists.
    if not 1 <= limit <= 1001:
        raise BadRequest("limit must be 1-1000", code="invalid_limit", field="limit")
    admin = requested_by.user.is_admin
    with db.reading() as uow:
        secret_id = None
        if secret is not None:
            owner, _, name = secret.rpartition("/")
            secret_id = resolve(uow, requested_by, name, owner or None, Level.USE).id
        return AuditRepository(uow.conn).query(
            visible_to=None if admin else requested_by.user.id,
            visible_name=None if admin else requested_by.user.name,
            secret_id=secret_id,
            session_id=session_id,
            since=since,
            after_id=cursor,
            limit=limit,
        )


def verify_chain(db: Database, master: Keyring, *, data_dir: Path | None) -> ChainCheck:
    """Check the chain under the master keyring's chain keys, and against data_dir's checkpoint if any.

    Raises ConfigError when the checkpoint file is there but unreadable or does not verify.
    """
    keys = ChainKeys.derive(master)
    checkpoint = read_checkpoint(data_dir / CHECKPOINT_NAME, keys) if data_dir is not None else None
    with db.read() as conn:
        return AuditRepository(conn).verify_chain(keys, checkpoint=checkpoint)


@dataclass(frozen=True, kw_only=True, slots=True)
class Reanchored:
    record_id: int  # the `audit.reanchor` record, which the checkpoint now names
    gap: str


def reanchor(
    db: Database, master: Keyring, *, data_dir: Path, reason: str, operator: str, now: datetime
) -> Reanchored | None:
    """Accept a chain that lost what `data_dir`'s checkpoint names: record the gap, then anchor there.

    None when there is nothing to accept. The chain must verify on its own up to its newest record:
    a lost tail is accepted, an edited record never (ConfigError). `db` has the chain key installed
    without a checkpoint file (`install_audit_chain(..., data_dir=None)`), so that nothing but this
    moves the checkpoint. The record (action `audit.reanchor`) names the checkpoint's record and tag
    and the chain's newest record and tag, the reason and who ran it; it is part of the chain, so
    `verify` reports it from then on.
    """
    keys = ChainKeys.derive(master)
    path = data_dir / CHECKPOINT_NAME
    before = read_text(path)
    with db.read() as conn:
        gap = anchor_gap(conn, path, keys)
        if gap is None:
            return None
        check = AuditRepository(conn).verify_chain(keys)
    if not check.ok:
        raise ConfigError(
            f"the audit chain itself is broken at record {check.first_bad_id}: re-anchoring accepts "
            "records missing at its end, never an edited one (restore the database from a backup)"
        )
    detail = f"{gap.describe()}; reason: {reason}; by {operator}"
    with db.write() as conn:
        record(conn, None, REANCHOR, now=now, detail=detail)
        staged = staged_head(conn)
    assert staged is not None  # record() appended in this transaction
    if not CheckpointFile(path, keys, lookup=lambda _ids: {}).replace(*staged, expected=before):
        raise ConfigError(f"the audit checkpoint {path} changed meanwhile; run the command again")
    return Reanchored(record_id=staged[0], gap=gap.describe())
