"""Writing audit records inside the transaction of the change they describe (no record, no change).

The chain's keying, verification and re-anchoring are the store's: `store/audit_chain.py`."""

from __future__ import annotations

from datetime import UTC, datetime

from sealbox.domain.audit import AuditEvent, Outcome
from sealbox.domain.grants import Level
from sealbox.domain.principals import Principal
from sealbox.errors import BadRequest
from sealbox.services.access import resolve
from sealbox.services.ports import Store, UnitOfWork

DENIAL_WINDOW_SECONDS = 60
# A record that sums up repeated denials starts its detail with this and the count; the first denial of
# each minute has a record of its own, without it.
DENIAL_COUNT = "count="
_NONE = "-"


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


def record(
    uow: UnitOfWork,
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
    uow.audit.append_failing_closed(
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
    uow: UnitOfWork,
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
    uow.audit.append_failing_closed(
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
    db: Store,
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
    with db.writing() as uow:
        if uow.denials.bump(_denial_key(principal, action, status, secret_id), window) > 1:
            return
        _summarise(uow, uow.denials.claim(before=window), now)
        record(
            uow,
            principal,
            action,
            now=now,
            outcome=Outcome.DENIED,
            secret_id=secret_id,
            secret_name=secret_name,
            detail=detail[:200],
        )


def flush_denials(db: Store, *, now: datetime, everything: bool = False) -> int:
    """Append the count records of the minutes that are over (`everything`: of the current one too, when a
    server stops); returns how many records were written. Safe to run from several replicas at once."""
    with db.writing() as uow:
        window = int(now.timestamp()) // DENIAL_WINDOW_SECONDS
        return _summarise(uow, uow.denials.claim(before=None if everything else window), now)


def _summarise(uow: UnitOfWork, claimed: list[tuple[str, int, int]], now: datetime) -> int:
    """One record per claimed (key, minute) whose count goes past its first denial (recorded already)."""
    users = uow.users
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
    uow.audit.append_failing_closed(events)
    return len(events)


def list_records(
    db: Store,
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
        return uow.audit.query(
            visible_to=None if admin else requested_by.user.id,
            visible_name=None if admin else requested_by.user.name,
            secret_id=secret_id,
            session_id=session_id,
            since=since,
            after_id=cursor,
            limit=limit,
        )
