"""People leaving, and people who lost their token: a new first token for a user, and removing a user
with an explicit choice for what they own (transferred to another user, or deleted).

Removal keeps the user's row (the audit names them by id and name; the name is never given to anyone
else) but deletes their user key, so nothing of theirs can be opened under their name again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sealbox.crypto.keyring import Keyring
from sealbox.crypto.wrapping import UserKey, rewrap_data_key, unwrap_user_key
from sealbox.domain.principals import Principal, User
from sealbox.domain.secrets import OwnedVersion
from sealbox.errors import BadRequest, CiphertextIntegrityError, Conflict, DecryptionError, NotFound
from sealbox.services.audit import record
from sealbox.services.ports import Store, UnitOfWork
from sealbox.services.session_redemption import user_key_for
from sealbox.services.tokens import IssuedToken, issue_in
from sealbox.services.users import end_live_sessions

_NAMES_SHOWN = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class NewFirstToken:
    issued: IssuedToken
    tokens_revoked: int  # the user's other tokens, with `revoke_others`
    web_sessions_ended: int


@dataclass(frozen=True, kw_only=True, slots=True)
class RemovedUser:
    """What a removal did; `secrets` were transferred to `transferred_to`, or deleted when it is None."""

    user: User
    transferred_to: str | None
    secrets: int
    tokens_revoked: int
    web_sessions_ended: int
    sessions_ended: int
    grants_revoked: int
    memberships_removed: int


def _named(uow: UnitOfWork, name: str, *, field: str) -> User:
    user = uow.users.by_name(name)
    if user is None:
        raise NotFound("no such user", field=field)
    return user


def new_first_token(
    db: Store, name: str, *, revoke_others: bool, now: datetime, requested_by: Principal | None
) -> NewFirstToken:
    """A new token for a user whose token is lost, shown once. Their other tokens stay valid unless
    `revoke_others` (then they, and the web sessions signed in with them, end in the same transaction).
    Raises NotFound for an unknown name, Conflict for a disabled or removed user."""
    with db.writing() as uow:
        user = _named(uow, name, field="name")
        if user.is_removed:
            raise Conflict("the user was removed", code="user_removed", field="name")
        if user.is_disabled:
            raise Conflict("the user is disabled; enable them first", code="user_disabled", field="name")
        revoked = web = 0
        if revoke_others:
            for token in uow.tokens.list_for(user.id):
                if token.is_active(now) and uow.tokens.revoke(user_id=user.id, token_id=token.id, now=now):
                    revoked += 1
                    web += uow.web_sessions.remove_for_token(token.id, now)
        issued = issue_in(uow, user, name="first token", expires_at=None, now=now, requested_by=requested_by)
        record(
            uow,
            requested_by,
            "user.token",
            now=now,
            detail=(
                f"user={user.name} token_id={issued.token.id} tokens_revoked={revoked} "
                f"web_sessions_ended={web}"
            ),
        )
    return NewFirstToken(issued=issued, tokens_revoked=revoked, web_sessions_ended=web)


def remove_user(
    db: Store,
    master: Keyring,
    name: str,
    *,
    transfer_to: str | None,
    delete_secrets: bool,
    now: datetime,
    requested_by: Principal | None,
) -> RemovedUser:
    """Remove a user for good, in one transaction: their secrets (with every version) become
    `transfer_to`'s, each data key re-wrapped by that user's key (grants others hold on them stay), or
    are deleted (`delete_secrets`); their tokens are revoked, web sessions and live sessions ended, grants
    to them and their group and project memberships removed, and their user key deleted.

    Raises BadRequest unless exactly one choice is made; NotFound for an unknown user; Conflict for a
    user removed already, a transfer to themselves or to a disabled, removed or service user, or one to
    a user who already has a secret of the same name (nothing changes then)."""
    if (transfer_to is None) == (not delete_secrets):
        raise BadRequest("choose a transfer or deletion of the user's secrets", code="choice_required")
    with db.writing() as uow:
        user = _named(uow, name, field="name")
        if user.is_removed:
            raise Conflict("the user was removed already", code="user_removed", field="name")
        heir = _heir(uow, user, transfer_to) if transfer_to is not None else None
        owned = uow.removal.owned_versions(user.id)
        secrets = {v.secret_id: v.name for v in owned}
        if heir is not None:
            _transfer(uow, master, user, heir, owned, now=now, requested_by=requested_by)
        else:
            for secret_id, secret_name in secrets.items():
                # For good, with no recovery window: the user key that opens them is deleted below.
                uow.secrets.purge(secret_id)
                record(
                    uow,
                    requested_by,
                    "secret.purge",
                    now=now,
                    secret_id=secret_id,
                    secret_name=f"{user.name}/{secret_name}",
                    detail=f"user removed: {user.name}",
                )
        removed = _close_account(uow, user, heir, secrets=len(secrets), now=now, requested_by=requested_by)
    return removed


def _heir(uow: UnitOfWork, user: User, name: str) -> User:
    heir = _named(uow, name, field="transfer_to")
    if heir.id == user.id:
        raise Conflict("a user's secrets cannot be transferred to themselves", code="transfer_to_self")
    if heir.is_removed or heir.is_disabled:
        raise Conflict("the user to transfer to is disabled or removed", code="transfer_to_disabled")
    if heir.is_service:
        raise Conflict("secrets cannot be transferred to a service account", code="transfer_to_service")
    return heir


def _transfer(
    uow: UnitOfWork,
    master: Keyring,
    user: User,
    heir: User,
    owned: list[OwnedVersion],
    *,
    now: datetime,
    requested_by: Principal | None,
) -> None:
    """Every version's data key re-wrapped from the user's key to the heir's; then the secrets are the
    heir's. Their contexts keep binding the owner id they were written under (the keeper's outer layer
    and the inner ciphertext cannot be re-bound without a value), which the version row records."""
    secrets = {v.secret_id: v.name for v in owned}
    taken = uow.removal.names_taken(heir.id, sorted(set(secrets.values())))
    if taken:
        shown = ", ".join(taken[:_NAMES_SHOWN]) + (", ..." if len(taken) > _NAMES_SHOWN else "")
        raise Conflict(f"the user to transfer to already has secrets named {shown}", code="name_taken")
    try:
        to_key = unwrap_user_key(master, uow.users.wrapped_key(heir.id), user_id=heir.id)
        leaver_keys: dict[tuple[str, bytes], UserKey] = {}
        for v in owned:
            # The leaver's current key, or a previous one while a user-key rotation is unfinished.
            from_key = user_key_for(uow.users, master, leaver_keys, user.id, v.wrapped_dek)
            rewrapped = rewrap_data_key(
                from_key,
                to_key,
                v.wrapped_dek,
                secret_id=v.secret_id,
                version=v.version,
                owner_id=v.context_owner_id,
            )
            uow.removal.move_version(v, wrapped_dek=rewrapped, user_key_id=to_key.kid.hex())
    except DecryptionError:
        raise CiphertextIntegrityError() from None
    for secret_id, secret_name in secrets.items():
        uow.removal.set_owner(secret_id, heir.id)
        record(
            uow,
            requested_by,
            "secret.transfer",
            now=now,
            secret_id=secret_id,
            secret_name=f"{heir.name}/{secret_name}",
            detail=f"from={user.name} to={heir.name} (user removed)",
        )


def _close_account(
    uow: UnitOfWork,
    user: User,
    heir: User | None,
    *,
    secrets: int,
    now: datetime,
    requested_by: Principal | None,
) -> RemovedUser:
    removal = uow.removal
    tokens = removal.revoke_tokens(user.id, now)
    web = uow.web_sessions.remove_for_user(user.id, now)
    ended = end_live_sessions(uow.sessions, user=user, now=now)
    for session_id in ended:
        record(
            uow,
            requested_by,
            "session.end",
            now=now,
            detail=f"session={session_id} (user removed)",
            on_behalf_of=user.name,
            session_id=session_id,
        )
    grants = removal.remove_grants_to(user.id)
    memberships = removal.remove_memberships(user.id)
    removal.mark_removed(user.id, now)
    outcome = f"transferred_to={heir.name}" if heir is not None else "secrets_deleted"
    record(
        uow,
        requested_by,
        "user.remove",
        now=now,
        detail=(
            f"user={user.name} {outcome} secrets={secrets} tokens_revoked={tokens} web_sessions_ended={web} "
            f"sessions_ended={len(ended)} grants_revoked={grants} memberships_removed={memberships}"
        ),
    )
    removed = uow.users.by_id(user.id)
    assert removed is not None  # updated in this transaction
    return RemovedUser(
        user=removed,
        transferred_to=heir.name if heir is not None else None,
        secrets=secrets,
        tokens_revoked=tokens,
        web_sessions_ended=web,
        sessions_ended=len(ended),
        grants_revoked=grants,
        memberships_removed=memberships,
    )
