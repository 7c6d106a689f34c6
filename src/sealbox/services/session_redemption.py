"""Redemption, the server's half: spend a session credential once and hand out the data keys.

The data keys are wrapped for this redemption only (a fresh key sealed to the session's public key);
a ticket, signed by the server, names exactly which outer layers the keeper may open, for which
session key, until when. The keeper's half (the inner ciphertexts) travels from the keeper to the
session side and never passes through the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sealbox.crypto.envelope import key_id_of
from sealbox.crypto.keyring import Keyring
from sealbox.crypto.session_keys import SessionWrapper, outer_digest
from sealbox.crypto.wrapping import UserKey, unwrap_data_key, unwrap_user_key
from sealbox.domain.sessions import CurrentMaterial, Session, SessionSecret
from sealbox.errors import CiphertextIntegrityError, CredentialRefused, DecryptionError, Forbidden, NotFound
from sealbox.services.ports import Sharing, UnitOfWork, Users
from sealbox.services.session_checks import check_not_expired
from sealbox.services.session_credentials import stored_credential


@dataclass(frozen=True, kw_only=True, slots=True)
class RedeemedItem:
    secret: SessionSecret
    outer: bytes
    wrapped_dek: bytes
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Redemption:
    session: Session
    sealed_key: bytes  # the server's redemption key, sealed to the session's public key
    ticket: str  # signed by the server; the keeper's only authority for this redemption
    items: tuple[RedeemedItem, ...]


def spend_credential(uow: UnitOfWork, session_id: str, credential: str, now: datetime) -> Session:
    """The live session the credential opens, the credential marked spent; or CredentialRefused with
    the reason (for the audit record; the caller sees one message for every reason)."""
    repo = uow.sessions
    stored = stored_credential(repo, credential)
    if stored is None:
        raise CredentialRefused("unknown")
    if stored.session_id != session_id:
        raise CredentialRefused("other-session")
    if stored.redeemed_at is not None:
        raise CredentialRefused("already-redeemed")
    if now >= stored.expires_at:
        raise CredentialRefused("expired")
    session = repo.get(session_id)
    if session is None or not session.is_live(now):
        raise CredentialRefused("session-ended")
    if uow.users.is_disabled(session.owner_id):
        raise CredentialRefused("owner-disabled")
    if not repo.mark_redeemed(stored.id, now):
        raise CredentialRefused("already-redeemed")
    return session


def deliver(
    uow: UnitOfWork, master: Keyring, session: Session, wrapper: SessionWrapper, now: datetime
) -> list[RedeemedItem]:
    """Each secret of the session at its current version, its data key wrapped by `wrapper`; access,
    project scope and expiry are checked again, as at creation (a revoked grant stops the next one)."""
    repo = uow.sessions
    material = repo.current_material([s.secret_id for s in session.secrets])
    sharing = uow.sharing
    scoped = sharing.project_by_name(session.project) if session.project else None
    users = uow.users
    user_keys: dict[tuple[str, bytes], UserKey] = {}
    items: list[RedeemedItem] = []
    for s in session.secrets:
        current = material.get(s.secret_id)
        if current is None:
            raise NotFound("a secret of this session no longer exists", code="secret_gone")
        _check_still_allowed(sharing, session, s, current, scoped.id if scoped else None, now)
        # The owner's key unwraps the data key (the owner now: a secret may have been transferred since the
        # session began); every context binds the owner id the version was written under.
        owner, bound = current.owner_id, current.context_owner_id
        try:
            dek = unwrap_data_key(
                user_key_for(users, master, user_keys, owner, current.wrapped_dek),
                current.wrapped_dek,
                secret_id=s.secret_id,
                version=current.version,
                owner_id=bound,
            )
        except DecryptionError:
            raise CiphertextIntegrityError() from None
        wrapped = wrapper.wrap(dek, secret_id=s.secret_id, version=current.version, owner_id=bound)
        items.append(
            RedeemedItem(
                secret=_as_delivered(s, current),
                outer=current.outer,
                wrapped_dek=wrapped,
                scopes=current.scopes,
            )
        )
    repo.mark_delivered(session.id, {position: i.secret.version for position, i in enumerate(items)})
    return items


def user_key_for(
    users: Users, master: Keyring, cache: dict[tuple[str, bytes], UserKey], owner_id: str, wrapped_dek: bytes
) -> UserKey:
    """The owner's user key that wraps `wrapped_dek`: the current one, or during a user-key rotation
    (`services.user_key_rotation`) a previous one that the re-wrap has not yet moved the data key off."""
    kid = key_id_of(wrapped_dek)
    if (owner_id, kid) not in cache:
        current = unwrap_user_key(master, users.wrapped_key(owner_id), user_id=owner_id)
        cache[(owner_id, current.kid)] = current
        if current.kid != kid:
            previous = users.previous_wrapped_key(owner_id, kid.hex())
            if previous is None:
                raise DecryptionError
            cache[(owner_id, kid)] = unwrap_user_key(master, previous, user_id=owner_id)
    return cache[(owner_id, kid)]


def _check_still_allowed(
    sharing: Sharing,
    session: Session,
    s: SessionSecret,
    current: CurrentMaterial,
    session_project_id: str | None,
    now: datetime,
) -> None:
    # Access is checked again at every redemption: a revoked grant stops the next one.
    if current.owner_id != session.owner_id and sharing.level_of(s.secret_id, session.owner_id) is None:
        raise Forbidden("access to a secret of this session was revoked", code="access_revoked")
    if current.project_id is not None and current.project_id != session_project_id:
        raise Forbidden("a secret of this session belongs to another project", code="project_scope")
    # Leaving the project is checked again too, like a revoked grant.
    if current.project_id is not None and sharing.project_role(current.project_id, session.owner_id) is None:
        raise Forbidden("access to a secret of this session was revoked", code="access_revoked")
    # Expiry too: a refresh (or a late first redemption) after it delivers nothing, unless the session
    # was launched with --allow-expired (its creation's audit record says so).
    if session.allow_expired:
        return
    check_not_expired(
        s.secret_name if s.owner_id == session.owner_id else f"{s.owner_name}/{s.secret_name}",
        current.expires_at,
        now,
    )


def unique_ticket_items(items: list[RedeemedItem]) -> list[dict[str, object]]:
    """One ticket entry per secret version, however many files or variables it feeds."""
    unique: dict[tuple[str, int], dict[str, object]] = {}
    for i in items:
        unique[(i.secret.secret_id, i.secret.version)] = {
            "secret_id": i.secret.secret_id,
            "version": i.secret.version,
            "owner_id": i.secret.owner_id,
            "outer_sha256": outer_digest(i.outer),
        }
    return list(unique.values())


def _as_delivered(s: SessionSecret, current: CurrentMaterial) -> SessionSecret:
    """The session's secret at its current version; `owner_id` is the one its contexts bind (what the
    keeper and the session side open it with)."""
    return SessionSecret(
        secret_id=s.secret_id,
        secret_name=s.secret_name,
        owner_id=current.context_owner_id,
        owner_name=s.owner_name,
        kind=s.kind,
        field=s.field,
        file=s.file,
        env=s.env,
        version=current.version,
    )
