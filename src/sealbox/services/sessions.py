"""Sessions: create one, hand out its one-time credential, redeem it toward the session side, end it.

The credential is services/session_credentials.py's; the server's half of a redemption (the data keys,
the signed ticket) is services/session_redemption.py's; the checks on each secret a session brings in
are services/session_checks.py's.
"""

from __future__ import annotations

import base64
import binascii
import secrets as random
from datetime import datetime, timedelta

from sealbox.crypto.session_keys import SessionWrapper, SigningKey
from sealbox.domain.audit import Outcome
from sealbox.domain.grants import Level, at_least
from sealbox.domain.names import is_valid_secret_name
from sealbox.domain.principals import Principal
from sealbox.domain.sessions import (
    CREDENTIAL_TTL_SECONDS,
    DEFAULT_TTL_SECONDS,
    MAX_TTL_SECONDS,
    LiveSession,
    Mapping,
    Session,
    SessionID,
    check_heartbeat,
    check_mappings,
    check_mount_path,
)
from sealbox.errors import (
    BadRequest,
    CredentialRefused,
    Forbidden,
    NotFound,
    ServiceError,
)
from sealbox.protocol.sessions import REPORTABLE_FAILURES
from sealbox.services.audit import record, record_many
from sealbox.services.failure_limits import count_failure
from sealbox.services.keeper_port import KeeperPort
from sealbox.services.keys import ServerKeys
from sealbox.services.ports import Store, UnitOfWork
from sealbox.services.session_checks import session_secrets
from sealbox.services.session_credentials import (
    IssuedCredential,
    checked_credential_ttl,
    credential_ttl_note,
    issue_credential,
    stored_credential,
)
from sealbox.services.session_redemption import Redemption, deliver, spend_credential, unique_ticket_items

MAX_SESSIONS_LISTED = 500


def _create_detail(session_id: str, service: bool, credential_ttl: int, expired: list[str] | None) -> str:
    """The `session.create` record's detail: a service's fetch, a long credential, expired secrets let in."""
    return (
        f"session={session_id}"
        + (" service-fetch" if service else "")
        + credential_ttl_note(credential_ttl)
        + (f" allow-expired={','.join(expired)}" if expired else "")
    )


class SessionService:
    def __init__(
        self,
        db: Store,
        keys: ServerKeys,
        signing: SigningKey,
        keeper: KeeperPort,
        *,
        failure_limit: int = 20,
    ) -> None:
        self.db = db
        self.failure_limit = failure_limit  # refused redemptions per minute and client address
        self.keys = keys
        self.signing = signing
        self.keeper = keeper

    def create(
        self,
        requested_by: Principal,
        *,
        mappings: list[Mapping],
        mount_path: str | None,
        project: str | None,
        ttl_seconds: int | None,
        now: datetime,
        acting_for: Principal | None = None,
        credential_ttl_seconds: int | None = None,
        heartbeat_seconds: int | None = None,
        allow_expired: bool = False,
    ) -> IssuedCredential:
        """Record a session and return its one-time session credential; every secret must be usable.

        With `acting_for`, a service account launches on a user's behalf: the user's access decides,
        the service's purposes limit what it may take, and the audit names both.
        `credential_ttl_seconds` (60-900, default 60, at most the session's lifetime) is for pods whose
        init container starts late; a longer lifetime is written into the audit record.
        `heartbeat_seconds`: the session side will call in that often (services/heartbeats.py).
        `allow_expired`: secrets past their expiry are let through; the audit record names them.
        """
        check_mappings(mappings)
        check_heartbeat(heartbeat_seconds)
        mount = check_mount_path(mount_path or "/secrets")
        if project is not None and not is_valid_secret_name(project):
            raise BadRequest(
                "a project name follows the secret-name rules", code="invalid_project", field="project"
            )
        ttl = DEFAULT_TTL_SECONDS if ttl_seconds is None else ttl_seconds
        if not 60 <= ttl <= MAX_TTL_SECONDS:
            raise BadRequest(
                f"ttl_seconds must be 60-{MAX_TTL_SECONDS}", code="invalid_ttl", field="ttl_seconds"
            )
        credential_ttl = checked_credential_ttl(credential_ttl_seconds, session_ttl=ttl)
        # Fail fast with a clear 503 rather than hand out a credential no keeper can serve.
        self.keeper.health()
        subject = acting_for or requested_by
        user = subject.user
        purposes = requested_by.user.purposes if acting_for is not None else None
        if acting_for is not None and (not requested_by.user.is_service or purposes is None):
            raise Forbidden("only service accounts act on a user's behalf")
        session_id = SessionID(random.token_hex(16))
        with self.db.writing() as uow:
            if project is not None:
                _check_project_member(uow, user.id, project)
            expired: list[str] | None = [] if allow_expired else None
            items = session_secrets(
                uow, subject, mappings, project=project, purposes=purposes, now=now, expired=expired
            )
            session = Session(
                id=session_id,
                owner_id=user.id,
                owner_name=user.name,
                project=project,
                mount_path=mount,
                status="pending",
                created_at=now,
                expires_at=now + timedelta(seconds=ttl),
                ended_at=None,
                secrets=tuple(items),
                heartbeat_seconds=heartbeat_seconds,
                last_seen_at=now if heartbeat_seconds is not None else None,
                allow_expired=allow_expired,
            )
            repo = uow.sessions
            repo.add(session)
            credential, expires_at = issue_credential(repo, session_id, now, credential_ttl)
            record_many(
                uow,
                requested_by,
                "session.create",
                now=now,
                secrets=[(item.secret_id, item.secret_name, item.version) for item in items],
                detail=_create_detail(session_id, acting_for is not None, credential_ttl, expired),
                on_behalf_of=acting_for.user.name if acting_for else None,
                session_id=session_id,
            )
        return IssuedCredential(session=session, value=credential, expires_at=expires_at)

    def new_credential(
        self,
        requested_by: Principal,
        session_id: str,
        *,
        now: datetime,
        credential_ttl_seconds: int | None = None,
    ) -> IssuedCredential:
        """A fresh one-time credential for a live session of mine (used by `sealbox run --refresh`, and to
        reissue one for a pod whose first credential expired before its init container ran)."""
        credential_ttl = checked_credential_ttl(credential_ttl_seconds, session_ttl=None)
        with self.db.writing() as uow:
            repo = uow.sessions
            session = repo.get(session_id, owner_id=requested_by.user.id)
            if session is None or not session.is_live(now):
                raise NotFound("no such live session")
            credential, expires_at = issue_credential(repo, session_id, now, credential_ttl)
            record(
                uow,
                requested_by,
                "session.credential",
                now=now,
                detail=f"session={session_id}" + credential_ttl_note(credential_ttl),
                session_id=session_id,
            )
        return IssuedCredential(session=session, value=credential, expires_at=expires_at)

    def redeem(
        self,
        *,
        session_id: str,
        credential: str,
        session_public_key: bytes,
        client_addr: str | None,
        now: datetime,
    ) -> Redemption:
        """Spend a credential once; refusals are audited and all look alike to the caller.

        Refusals are counted per client address: past the limit a refusal is a 429 with no record of its
        own, so that made-up credentials cannot grow the audit log at the rate they are sent. A valid
        credential is checked first and never refused by the count."""
        try:
            return self._redeem(
                session_id=session_id,
                credential=credential,
                session_public_key=session_public_key,
                client_addr=client_addr,
                now=now,
            )
        except CredentialRefused as refused:
            with self.db.reading() as uow:
                count_failure(
                    self.db,
                    [f"redeem:{client_addr or '-'}"],
                    now=now,
                    limit=self.failure_limit,
                    counts=uow.failures,
                )
            self._audit_refusal(session_id, client_addr, now, Outcome.DENIED, str(refused.reason))
            raise CredentialRefused() from None
        except ServiceError as failed:
            if failed.code != "audit_unavailable":
                self._audit_refusal(session_id, client_addr, now, Outcome.FAILED, failed.code)
            raise

    def _audit_refusal(
        self, session_id: str, client_addr: str | None, now: datetime, outcome: Outcome, reason: str
    ) -> None:
        with self.db.writing() as uow:
            record(
                uow,
                None,
                "session.redeem",
                now=now,
                outcome=outcome,
                client_addr=client_addr,
                detail=f"session={session_id[:32]} reason={reason}",
                session_id=session_id[:32],  # so that `sealbox audit --session ID` shows refusals too
            )

    def _redeem(
        self,
        *,
        session_id: str,
        credential: str,
        session_public_key: bytes,
        client_addr: str | None,
        now: datetime,
    ) -> Redemption:
        if len(session_public_key) != 32:
            raise BadRequest(
                "public_key must be 32 bytes (X25519)", code="invalid_public_key", field="public_key"
            )
        try:
            wrapper = SessionWrapper.for_session(session_public_key, session_id=session_id, part="dek")
        except ValueError:  # a low-order point (all zeros): no key agreement with it is possible
            raise BadRequest(
                "public_key is not a usable X25519 key", code="invalid_public_key", field="public_key"
            ) from None
        with self.db.writing() as uow:
            session = spend_credential(uow, session_id, credential, now)
            items = deliver(uow, self.keys.master, session, wrapper, now)
            record_many(
                uow,
                None,
                "session.redeem",
                now=now,
                secrets=[(i.secret.secret_id, i.secret.secret_name, i.secret.version) for i in items],
                client_addr=client_addr,
                detail=f"session={session_id} owner={session.owner_name}",
                on_behalf_of=session.owner_name,
                session_id=session_id,
            )
        ticket = self.signing.sign_ticket(
            {
                "session_id": session_id,
                "ticket_id": random.token_hex(16),
                "exp": int((now + timedelta(seconds=CREDENTIAL_TTL_SECONDS)).timestamp()),
                "recipient": base64.b64encode(session_public_key).decode(),
                "items": unique_ticket_items(items),
            }
        )
        return Redemption(session=session, sealed_key=wrapper.sealed_key, ticket=ticket, items=tuple(items))

    def report_failure(
        self, *, session_id: str, credential: str, code: str, client_addr: str | None, now: datetime
    ) -> None:
        """The session side reports that a redeemed launch failed after the server's part (keeper refusal,
        integrity error): recorded as a failed redemption. Only the holder of the spent credential can."""
        if code not in REPORTABLE_FAILURES:
            raise BadRequest("unknown failure code", code="invalid_code", field="code")
        with self.db.writing() as uow:
            stored = stored_credential(uow.sessions, credential)
            if stored is None or stored.session_id != session_id or stored.redeemed_at is None:
                raise CredentialRefused()
            record(
                uow,
                None,
                "session.redeem",
                now=now,
                outcome=Outcome.FAILED,
                client_addr=client_addr,
                detail=f"session={session_id} reason={code} (reported by the session side)",
                session_id=session_id,
            )

    def list_sessions(self, requested_by: Principal, *, live_only: bool, now: datetime) -> list[Session]:
        with self.db.reading() as uow:
            return uow.sessions.list_for(
                requested_by.user.id, live_only=live_only, now=now, limit=MAX_SESSIONS_LISTED
            )

    def get(self, requested_by: Principal, session_id: str) -> Session:
        with self.db.reading() as uow:
            session = uow.sessions.get(session_id[:64], owner_id=requested_by.user.id)
        if session is None:
            raise NotFound("no such session")
        return session

    def end(self, requested_by: Principal, session_id: str, *, now: datetime) -> Session:
        with self.db.writing() as uow:
            repo = uow.sessions
            session = repo.get(session_id[:64])
            if session is None or not _may_end(uow, requested_by, session):
                raise NotFound("no such session")
            if repo.end(session.id, now):
                record(
                    uow,
                    requested_by,
                    "session.end",
                    now=now,
                    detail=f"session={session.id}",
                    session_id=session.id,
                )
            ended = repo.get(session.id)
        if ended is None:  # pragma: no cover
            raise NotFound("no such session")
        return ended

    def live_sessions_for(self, secret_id: str, *, now: datetime) -> list[LiveSession]:
        with self.db.reading() as uow:
            return uow.sessions.live_for_secret(secret_id, now)


def _may_end(uow: UnitOfWork, requested_by: Principal, session: Session) -> bool:
    """Its owner may end a session, and so may whoever manages a secret it mounts (after revoking a grant)."""
    me = requested_by.user.id
    if session.owner_id == me:
        return True
    sharing = uow.sharing
    return any(
        s.owner_id == me or at_least(sharing.level_of(s.secret_id, me), Level.MANAGE) for s in session.secrets
    )


def _check_project_member(uow: UnitOfWork, user_id: str, project: str) -> None:
    sharing = uow.sharing
    found = sharing.project_by_name(project)
    if found is None or sharing.project_role(found.id, user_id) is None:
        raise NotFound("no such project, or you are not a member", field="project")


def decode_public_key(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("public_key must be base64", code="invalid_public_key", field="public_key") from None
