"""What a platform service (a JupyterHub, a spawner) does for a user besides launching: see what the user
may bring into a session through it, and end the sessions it started.

A service sees only what both allow: the user's access (own secrets and those shared with the user) and
the service's purposes (kinds and names an admin gave it). It never sees a value here.
"""

from __future__ import annotations

from datetime import datetime

from sealbox.domain.names import is_valid_user_name
from sealbox.domain.principals import Principal, User
from sealbox.domain.secrets import Secret
from sealbox.errors import Forbidden, NotFound
from sealbox.services.audit import record
from sealbox.services.ports import Store
from sealbox.services.secrets import MAX_PAGE, SecretService
from sealbox.services.users import get_user

MAX_USABLE_LISTED = 5000


def _require_service(principal: Principal) -> User:
    if not principal.user.is_service or principal.user.purposes is None:
        raise Forbidden("only service accounts use this endpoint", code="not_a_service_account")
    return principal.user


def acting_for(db: Store, principal: Principal, user_name: str) -> Principal:
    """The principal of the (person) user a service acts for; NotFound for anyone else (a disabled user
    too: a service cannot act for someone who cannot act themselves)."""
    _require_service(principal)
    # A name no user can have is no user (and never reaches the database: PostgreSQL refuses a NUL).
    target = get_user(db, user_name) if is_valid_user_name(user_name) else None
    if target is None or target.is_service or target.is_disabled:
        raise NotFound("no such user", field="on_behalf_of")
    return Principal(user=target, token_id=None, client_addr=principal.client_addr)


def usable_secrets(db: Store, secrets: SecretService, principal: Principal, user_name: str) -> list[Secret]:
    """The secrets `user_name` may use (own and shared) that the purposes allow, by (owner, name)."""
    service = _require_service(principal)
    purposes = service.purposes
    assert purposes is not None  # checked above
    target = acting_for(db, principal, user_name)
    found: list[Secret] = []
    cursor: str | None = None
    while len(found) < MAX_USABLE_LISTED:
        page = secrets.page(target, cursor=cursor, limit=MAX_PAGE, prefix=None)
        found.extend(s for s in page.items if purposes.allow(kind=s.kind.value, name=s.name, ref=s.ref))
        cursor = page.next_cursor
        if cursor is None:
            break
    return found[:MAX_USABLE_LISTED]


def end_session(db: Store, principal: Principal, session_id: str, *, now: datetime) -> str:
    """End a session this service started for a user; returns the user's name.

    Only the service that created a session may end it here (its own `session.create` record proves it);
    any other session answers exactly like a missing one. Ending twice is not an error.
    """
    service = _require_service(principal)
    with db.writing() as uow:
        session = uow.sessions.get(session_id[:64])
        created = (
            uow.audit.query(
                visible_to=service.id,
                visible_name=None,
                secret_id=None,
                session_id=session.id,
                since=None,
                after_id=None,
                limit=1000,
            )
            if session is not None
            else []
        )
        ours = any(e.action == "session.create" and e.actor_id == service.id for _, e in created)
        if session is None or not ours:
            raise NotFound("no such session")
        if uow.sessions.end(session.id, now):
            record(
                uow,
                principal,
                "session.end",
                now=now,
                detail=f"session={session.id}",
                on_behalf_of=session.owner_name,
                session_id=session.id,
            )
    return session.owner_name
