"""Users: created by an admin (or by `sealbox up`), each with their own wrapped user key; disabled and
enabled again by an admin."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sealbox.crypto.keyring import Keyring
from sealbox.crypto.wrapping import new_user_key, wrap_user_key
from sealbox.domain.names import check_user_name
from sealbox.domain.principals import Principal, Purposes, User, UserID
from sealbox.errors import Conflict, ConstraintViolation, NotFound
from sealbox.services.audit import record
from sealbox.services.ports import Sessions, Store

_SESSION_BATCH = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class DisabledUser:
    """A user after `disable`: what ended with it (0 and 0 when the user was disabled already)."""

    user: User
    web_sessions_ended: int
    sessions_ended: int


def create_user(
    db: Store,
    master: Keyring,
    *,
    name: str,
    is_admin: bool,
    now: datetime,
    requested_by: Principal | None,
    kind: str = "person",
    purposes: Purposes | None = None,
    external_id: str | None = None,
) -> User:
    check_user_name(name)
    if purposes is not None:
        purposes.checked()
    user = User(
        id=UserID(secrets.token_hex(16)),
        name=name,
        is_admin=is_admin,
        created_at=now,
        kind=kind,
        purposes=purposes,
        external_id=external_id,
    )
    wrapped = wrap_user_key(master, new_user_key(), user_id=user.id)
    try:
        with db.writing() as uow:
            repo = uow.users
            existing = repo.by_name(name)
            if existing is not None and existing.is_removed:
                # The audit names people by name: a new person under a removed name would be mistaken
                # for the one who left.
                raise Conflict(
                    "a removed user had that name; names are not reused", code="name_removed", field="name"
                )
            if existing is not None:
                raise Conflict("a user with that name exists", code="already_exists", field="name")
            repo.add(user=user, wrapped_user_key=wrapped, master_key_id=master.current_id.hex())
            record(
                uow, requested_by, "user.create", now=now, detail=f"user={name} admin={is_admin} kind={kind}"
            )
    except ConstraintViolation:
        raise Conflict("a user with that name exists", code="already_exists", field="name") from None
    return user


def get_user(db: Store, name: str) -> User | None:
    with db.reading() as uow:
        return uow.users.by_name(name)


def list_users(db: Store) -> list[User]:
    with db.reading() as uow:
        return uow.users.list()


def disable_user(db: Store, name: str, *, now: datetime, requested_by: Principal | None) -> DisabledUser:
    """Disable a user: from this transaction on, none of their tokens, web sessions or single sign-on
    and proxy sign-ins works; their web sessions are deleted and their live sessions ended.

    Their secrets, grants and group memberships stay (enable the user to undo). An admin cannot
    disable themselves through the API (`requested_by`); `sealbox admin` on the data dir can.
    Raises NotFound for an unknown name, Conflict for oneself."""
    with db.writing() as uow:
        repo = uow.users
        user = repo.by_name(name)
        if user is None:
            raise NotFound("no such user", field="name")
        if requested_by is not None and requested_by.user.id == user.id:
            raise Conflict("you cannot disable yourself", code="self_disable", field="name")
        if not repo.set_disabled(user.id, now):
            return DisabledUser(user=user, web_sessions_ended=0, sessions_ended=0)
        web = uow.web_sessions.remove_for_user(user.id, now)
        ended = end_live_sessions(uow.sessions, user=user, now=now)
        for session_id in ended:
            record(
                uow,
                requested_by,
                "session.end",
                now=now,
                detail=f"session={session_id} (user disabled)",
                on_behalf_of=user.name,
                session_id=session_id,
            )
        record(
            uow,
            requested_by,
            "user.disable",
            now=now,
            detail=f"user={user.name} web_sessions_ended={web} sessions_ended={len(ended)}",
        )
        disabled = repo.by_id(user.id)
    assert disabled is not None  # updated in this transaction
    return DisabledUser(user=disabled, web_sessions_ended=web, sessions_ended=len(ended))


def end_live_sessions(sessions: Sessions, *, user: User, now: datetime) -> list[str]:
    """End every live session the user owns (those a service started for them too); their ids."""
    ended: list[str] = []
    while True:
        batch = [
            s.id
            for s in sessions.list_for(user.id, live_only=True, now=now, limit=_SESSION_BATCH)
            if sessions.end(s.id, now)
        ]
        if not batch:
            return ended
        ended.extend(batch)


def enable_user(db: Store, name: str, *, now: datetime, requested_by: Principal | None) -> User:
    """Enable a disabled user again: their tokens that are neither revoked nor expired work again (web
    sessions and sessions that ended stay ended). Raises NotFound for an unknown name, Conflict for a
    removed user."""
    with db.writing() as uow:
        repo = uow.users
        user = repo.by_name(name)
        if user is None:
            raise NotFound("no such user", field="name")
        if user.is_removed:
            raise Conflict("a removed user cannot be enabled", code="user_removed", field="name")
        if repo.set_disabled(user.id, None):
            record(uow, requested_by, "user.enable", now=now, detail=f"user={user.name}")
        enabled = repo.by_id(user.id)
    assert enabled is not None  # read in this transaction
    return enabled
