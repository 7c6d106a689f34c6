"""Deleting a secret: a recovery window first (hidden everywhere, versions and grants kept), then restore,
purge at once, or removal for good by the sweep when the window ends. Each step is audited in its
transaction.

As in AWS Secrets Manager, the name of a secret in its window stays taken until it is restored or purged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from msgspec.structs import replace

from sealbox.domain.grants import Level
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import Secret
from sealbox.errors import NotFound
from sealbox.services.access import resolve, visible_sessions, with_access
from sealbox.services.audit import record
from sealbox.services.ports import Store, UnitOfWork
from sealbox.services.usage import check_not_held

MAX_LISTED = 500
SWEEP_BATCH = 100


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class DeletionService:
    def __init__(self, db: Store, window: timedelta) -> None:
        self.db = db
        self.window = window

    def delete(
        self,
        requested_by: Principal,
        name: str,
        *,
        now: datetime,
        owner: str | None = None,
        purge: bool = False,
        force: bool = False,
    ) -> Secret:
        """Into the recovery window (needs `manage`); with `purge`, removed for good at once, also one
        already in its window. Returns the secret as it was, with `purge_at` when it went into the window.

        A secret that live sessions hold is deleted only with `force`; otherwise Conflict (409
        secret_in_use) names them. One already in its window is purged without it."""
        with self.db.writing() as uow:
            if not purge:
                current = resolve(uow, requested_by, name, owner, Level.MANAGE)
                held = _held(uow, requested_by, current, now, force=force)
                purge_at = now + self.window
                if not uow.secrets.mark_deleted(
                    current.id, at=now, by=requested_by.user.name, purge_at=purge_at
                ):
                    raise NotFound("no such secret")  # another request deleted it meanwhile
                _audit(uow, requested_by, "secret.delete", current, now, f"purge_at={_when(purge_at)}{held}")
                return _deleted(current, now, requested_by.user.name, purge_at)
            current = _live_or_deleted(uow, requested_by, name, owner)
            held = (
                "" if current.deleted_at is not None else _held(uow, requested_by, current, now, force=force)
            )
            if not uow.secrets.purge(current.id):
                raise NotFound("no such secret")  # another request deleted it meanwhile
            in_window = current.deleted_at is not None
            _audit(
                uow,
                requested_by,
                "secret.purge",
                current,
                now,
                "from the recovery window" if in_window else f"at once{held}",
            )
            return current

    def restore(
        self, requested_by: Principal, name: str, *, now: datetime, owner: str | None = None
    ) -> Secret:
        """Out of the recovery window with its versions and grants (needs `manage`, as deleting does)."""
        with self.db.writing() as uow:
            current = resolve(uow, requested_by, name, owner, Level.MANAGE, deleted=True)
            if not uow.secrets.restore(current.id, now=now):
                raise NotFound("no such secret")  # its window is over: the sweep removes it for good
            _audit(uow, requested_by, "secret.restore", current, now, None)
            restored = uow.secrets.get(owner_id=current.owner_id, name=current.name, with_versions=True)
        if restored is None:  # pragma: no cover -- restored in that transaction
            raise NotFound("no such secret")
        return with_access(restored, Level(current.access))

    def deleted(self, requested_by: Principal, *, now: datetime) -> list[Secret]:
        """What is in its recovery window that the caller may restore: own, and shared with `manage`."""
        me = requested_by.user
        with self.db.reading() as uow:
            rows = uow.secrets.deleted(
                owner_id=me.id, managed_ids=uow.sharing.granted_secret_ids(me.id), now=now, limit=MAX_LISTED
            )
            levels = uow.sharing.levels_for(me.id, [r.id for r in rows if r.owner_id != me.id])
        return [
            with_access(r, Level.OWNER if r.owner_id == me.id else levels[r.id])
            for r in rows
            if r.owner_id == me.id or levels.get(r.id) == Level.MANAGE
        ]


def purge_due(db: Store, *, now: datetime) -> int:
    """Remove for good what is past its recovery window, one secret per transaction (a crash loses no
    more than that one's turn); a secret another replica removed first is skipped. Returns the count."""
    purged = 0
    while True:
        with db.reading() as uow:
            due = uow.secrets.due_for_purge(now=now, limit=SWEEP_BATCH)
        done = 0
        for secret in due:
            with db.writing() as uow:
                if uow.secrets.purge(secret.id, due_by=now):
                    _audit(uow, None, "secret.purge", secret, now, "recovery window ended")
                    done += 1
        purged += done
        if len(due) < SWEEP_BATCH or done == 0:
            return purged


def _held(uow: UnitOfWork, requested_by: Principal, secret: Secret, now: datetime, *, force: bool) -> str:
    """Conflict naming the live sessions that hold the secret, unless `force`; with it, the note for the
    audit record's detail (empty when none holds it)."""
    # A `manage` grantee sees every live session, as the owner does (services/access.py).
    live = visible_sessions(secret, requested_by, uow.sessions.live_for_secret(secret.id, now))
    if not force:
        check_not_held(secret, live, what="delete it")
    return f" forced: held by {len(live)} live session(s)" if live else ""


def _live_or_deleted(uow: UnitOfWork, requested_by: Principal, name: str, owner: str | None) -> Secret:
    try:
        return resolve(uow, requested_by, name, owner, Level.MANAGE)
    except NotFound:
        return resolve(uow, requested_by, name, owner, Level.MANAGE, deleted=True)


def _deleted(secret: Secret, at: datetime, by: str, purge_at: datetime) -> Secret:
    return replace(secret, deleted_at=at, deleted_by=by, purge_at=purge_at)


def _audit(
    uow: UnitOfWork,
    principal: Principal | None,
    action: str,
    secret: Secret,
    now: datetime,
    detail: str | None,
) -> None:
    record(
        uow,
        principal,
        action,
        now=now,
        secret_id=secret.id,
        secret_name=secret.ref,
        version=secret.current_version,
        detail=detail,
    )
