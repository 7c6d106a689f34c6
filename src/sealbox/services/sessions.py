"""Launches: create a session, hand out a one-time credential, and redeem it toward the session side.

The server's half of a redemption is the data keys, wrapped for this launch only; it also signs a
ticket naming exactly which outer layers the keeper may open, for which session key, until when.
The keeper's half (the inner ciphertexts) travels from the keeper to the session side and never
passes through the server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets as random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from sealbox.crypto.session_keys import SessionWrapper, SigningKey, outer_digest
from sealbox.crypto.wrapping import UserKey, unwrap_data_key, unwrap_user_key
from sealbox.domain.audit import Outcome
from sealbox.domain.grants import Level, at_least, split_ref
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
    SessionSecret,
    check_heartbeat,
    check_mappings,
    check_mount_path,
)
from sealbox.errors import (
    BadRequest,
    CiphertextIntegrityError,
    CredentialRefused,
    DecryptionError,
    Forbidden,
    NotFound,
    ServiceError,
)
from sealbox.services.audit import record, record_many
from sealbox.services.failure_limits import count_failure
from sealbox.services.keys import ServerKeys
from sealbox.services.ports import KeeperPort
from sealbox.services.secrets import resolve
from sealbox.services.session_checks import (
    check_field,
    check_not_expired,
    check_project_scope,
    no_such_secret,
    purpose_not_allowed,
)
from sealbox.services.tokens import constant_time_equal
from sealbox.store.database import Database
from sealbox.store.secrets import SecretRepository
from sealbox.store.sessions import SessionRepository
from sealbox.store.sharing import SharingRepository
from sealbox.store.users import UserRepository

CREDENTIAL_PREFIX = "sbl_"
_CREDENTIAL = re.compile(r"sbl_([a-f0-9]{16})_([A-Za-z0-9_-]{43})")
_DUMMY_HASH = hashlib.sha256(b"sealbox-launch-dummy").digest()
MAX_SESSIONS_LISTED = 500
# A pod's init container may start minutes after its session is created (scheduling, image pulls): a
# platform may ask for a longer-lived launch credential, up to this bound. It is still spent by its first use.
MAX_CREDENTIAL_TTL_SECONDS = 900
REPORTABLE_FAILURES = frozenset({"integrity_error", "launch_refused", "keeper_unavailable"})


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    session: Session
    value: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class RedeemedItem:
    secret: SessionSecret
    outer: bytes
    wrapped_dek: bytes
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Redemption:
    session: Session
    sealed_key: bytes  # the server's launch key, sealed to the session's public key
    ticket: str  # signed by the server; the keeper's only authority for this launch
    items: tuple[RedeemedItem, ...]


def _hash(credential_id: str, secret_part: str) -> bytes:
    return hashlib.sha256(
        b"sealbox-launch\x00" + credential_id.encode() + b"\x00" + secret_part.encode()
    ).digest()


class SessionService:
    def __init__(
        self,
        db: Database,
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

    def _issue_credential(
        self, repo: SessionRepository, session_id: str, now: datetime, ttl: int = CREDENTIAL_TTL_SECONDS
    ) -> tuple[str, datetime]:
        credential_id = random.token_hex(8)
        secret_part = random.token_urlsafe(32)
        expires_at = now + timedelta(seconds=ttl)
        repo.add_credential(
            credential_id=credential_id,
            session_id=session_id,
            secret_hash=_hash(credential_id, secret_part),
            now=now,
            expires_at=expires_at,
        )
        return f"{CREDENTIAL_PREFIX}{credential_id}_{secret_part}", expires_at

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
    ) -> IssuedCredential:
        """Record a session and return its one-time launch credential; every secret must be usable.

        With `acting_for`, a service account launches on a user's behalf: the user's access decides,
        the service's purposes limit what it may take, and the audit names both.
        `credential_ttl_seconds` (60-900, default 60, at most the session's lifetime) is for pods whose
        init container starts late; a longer lifetime is written into the audit record.
        `heartbeat_seconds`: the session side will call in that often (services/heartbeats.py).
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
        credential_ttl = _credential_ttl(credential_ttl_seconds, session_ttl=ttl)
        # Fail fast with a clear 503 rather than hand out a credential no keeper can serve.
        self.keeper.health()
        subject = acting_for or requested_by
        user = subject.user
        purposes = requested_by.user.purposes if acting_for is not None else None
        if acting_for is not None and (not requested_by.user.is_service or purposes is None):
            raise Forbidden("only service accounts act on a user's behalf")
        session_id = SessionID(random.token_hex(16))
        with self.db.write() as conn:
            if project is not None:
                _check_project_member(conn, user.id, project)
            refs = [split_ref(m.secret) for m in mappings]
            own = [name for owner, name in refs if owner is None or owner == user.name]
            by_name = SecretRepository(conn).get_many(owner_id=user.id, names=own)
            items: list[SessionSecret] = []
            for index, (m, (owner, name)) in enumerate(zip(mappings, refs, strict=True)):
                try:
                    found = (
                        by_name.get(name)
                        if owner is None or owner == user.name
                        else resolve(conn, subject, name, owner, Level.USE)
                    )
                except (NotFound, Forbidden, BadRequest):
                    found = None
                if found is None:
                    raise no_such_secret(m.secret, index)
                check_project_scope(
                    m.secret,
                    index,
                    project_id=found.project_id,
                    project_name=found.project,
                    session_project=project,
                )
                if purposes is not None and not purposes.allow(
                    kind=found.kind.value, name=found.name, ref=found.ref
                ):
                    raise purpose_not_allowed(m.secret, index)
                check_field(found.kind, m, index, stored_fields=found.field_names)
                check_not_expired(m.secret, found.expires_at, now, field=f"secrets[{index}]")
                items.append(
                    SessionSecret(
                        secret_id=found.id,
                        secret_name=found.name,
                        owner_id=found.owner_id,
                        owner_name=found.owner_name,
                        kind=found.kind.value,
                        field=m.field,
                        file=m.file,
                        env=m.env,
                        version=found.current_version,
                    )
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
            )
            repo = SessionRepository(conn)
            repo.add(session)
            credential, expires_at = self._issue_credential(repo, session_id, now, credential_ttl)
            record_many(
                conn,
                requested_by,
                "session.create",
                now=now,
                secrets=[(item.secret_id, item.secret_name, item.version) for item in items],
                detail=f"session={session_id}"
                + (" service-fetch" if acting_for else "")
                + _credential_ttl_note(credential_ttl),
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
        credential_ttl = _credential_ttl(credential_ttl_seconds, session_ttl=None)
        with self.db.write() as conn:
            repo = SessionRepository(conn)
            session = repo.get(session_id, owner_id=requested_by.user.id)
            if session is None or not session.is_live(now):
                raise NotFound("no such live session")
            credential, expires_at = self._issue_credential(repo, session_id, now, credential_ttl)
            record(
                conn,
                requested_by,
                "session.credential",
                now=now,
                detail=f"session={session_id}" + _credential_ttl_note(credential_ttl),
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
            count_failure(self.db, [f"redeem:{client_addr or '-'}"], now=now, limit=self.failure_limit)
            self._audit_refusal(session_id, client_addr, now, Outcome.DENIED, str(refused.reason))
            raise CredentialRefused() from None
        except ServiceError as failed:
            if failed.code != "audit_unavailable":
                self._audit_refusal(session_id, client_addr, now, Outcome.FAILED, failed.code)
            raise

    def _audit_refusal(
        self, session_id: str, client_addr: str | None, now: datetime, outcome: Outcome, reason: str
    ) -> None:
        with self.db.write() as conn:
            record(
                conn,
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
        match = _CREDENTIAL.fullmatch(credential)
        credential_id, secret_part = (match.group(1), match.group(2)) if match else ("", "")
        if len(session_public_key) != 32:
            raise BadRequest(
                "public_key must be 32 bytes (X25519)", code="invalid_public_key", field="public_key"
            )
        with self.db.write() as conn:
            repo = SessionRepository(conn)
            stored = repo.credential(credential_id) if match else None
            ok = constant_time_equal(
                _hash(credential_id, secret_part), stored.secret_hash if stored else _DUMMY_HASH
            )
            if not ok or stored is None:
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
            if UserRepository(conn).is_disabled(session.owner_id):
                raise CredentialRefused("owner-disabled")
            if not repo.mark_redeemed(credential_id, now):
                raise CredentialRefused("already-redeemed")
            material = repo.current_material([s.secret_id for s in session.secrets])
            sharing = SharingRepository(conn)
            scoped = sharing.project_by_name(session.project) if session.project else None
            session_project_id = scoped["id"] if scoped else None
            users = UserRepository(conn)
            user_keys: dict[str, UserKey] = {}
            wrapper = SessionWrapper.for_session(session_public_key, session_id=session_id, part="dek")
            items: list[RedeemedItem] = []
            delivered: dict[int, int] = {}
            for position, s in enumerate(session.secrets):
                current = material.get(s.secret_id)
                if current is None or current.owner_id != s.owner_id:
                    raise NotFound("a secret of this session no longer exists", code="secret_gone")
                # Access is checked again at every redemption: a revoked grant stops the next launch.
                if s.owner_id != session.owner_id and sharing.level_of(s.secret_id, session.owner_id) is None:
                    raise Forbidden("access to a secret of this session was revoked", code="access_revoked")
                if current.project_id is not None and current.project_id != session_project_id:
                    raise Forbidden(
                        "a secret of this session belongs to another project", code="project_scope"
                    )
                # Leaving the project is checked again too, like a revoked grant.
                if (
                    current.project_id is not None
                    and sharing.project_role(current.project_id, session.owner_id) is None
                ):
                    raise Forbidden("access to a secret of this session was revoked", code="access_revoked")
                # Expiry too: a refresh (or a late first redemption) after it delivers nothing.
                check_not_expired(
                    s.secret_name if s.owner_id == session.owner_id else f"{s.owner_name}/{s.secret_name}",
                    current.expires_at,
                    now,
                )
                try:
                    if s.owner_id not in user_keys:
                        user_keys[s.owner_id] = unwrap_user_key(
                            self.keys.master, users.wrapped_key(s.owner_id), user_id=s.owner_id
                        )
                    dek = unwrap_data_key(
                        user_keys[s.owner_id],
                        current.wrapped_dek,
                        secret_id=s.secret_id,
                        version=current.version,
                        owner_id=s.owner_id,
                    )
                except DecryptionError:
                    raise CiphertextIntegrityError() from None
                wrapped = wrapper.wrap(
                    dek, secret_id=s.secret_id, version=current.version, owner_id=s.owner_id
                )
                delivered[position] = current.version
                items.append(
                    RedeemedItem(
                        secret=_with_version(s, current.version),
                        outer=current.outer,
                        wrapped_dek=wrapped,
                        scopes=current.scopes,
                    )
                )
            repo.mark_delivered(session_id, delivered)
            record_many(
                conn,
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
                "items": _unique_ticket_items(items),
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
        match = _CREDENTIAL.fullmatch(credential)
        credential_id, secret_part = (match.group(1), match.group(2)) if match else ("", "")
        with self.db.write() as conn:
            stored = SessionRepository(conn).credential(credential_id) if match else None
            ok = constant_time_equal(
                _hash(credential_id, secret_part), stored.secret_hash if stored else _DUMMY_HASH
            )
            if not ok or stored is None or stored.session_id != session_id or stored.redeemed_at is None:
                raise CredentialRefused()
            record(
                conn,
                None,
                "session.redeem",
                now=now,
                outcome=Outcome.FAILED,
                client_addr=client_addr,
                detail=f"session={session_id} reason={code} (reported by the session side)",
                session_id=session_id,
            )

    def list_sessions(self, requested_by: Principal, *, live_only: bool, now: datetime) -> list[Session]:
        with self.db.read() as conn:
            return SessionRepository(conn).list_for(
                requested_by.user.id, live_only=live_only, now=now, limit=MAX_SESSIONS_LISTED
            )

    def get(self, requested_by: Principal, session_id: str) -> Session:
        with self.db.read() as conn:
            session = SessionRepository(conn).get(session_id[:64], owner_id=requested_by.user.id)
        if session is None:
            raise NotFound("no such session")
        return session

    def end(self, requested_by: Principal, session_id: str, *, now: datetime) -> Session:
        with self.db.write() as conn:
            repo = SessionRepository(conn)
            session = repo.get(session_id[:64])
            if session is None or not _may_end(conn, requested_by, session):
                raise NotFound("no such session")
            if repo.end(session.id, now):
                record(
                    conn,
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
        with self.db.read() as conn:
            return SessionRepository(conn).live_for_secret(secret_id, now)


def _credential_ttl(requested: int | None, *, session_ttl: int | None) -> int:
    """The launch credential's lifetime: 60 s unless asked for, never above the bound; one asked for
    beyond the session's own lifetime ends with the session (a rule a schema can state as a range)."""
    ttl = CREDENTIAL_TTL_SECONDS if requested is None else requested
    if not CREDENTIAL_TTL_SECONDS <= ttl <= MAX_CREDENTIAL_TTL_SECONDS:
        raise BadRequest(
            f"credential_ttl_seconds must be {CREDENTIAL_TTL_SECONDS}-{MAX_CREDENTIAL_TTL_SECONDS}",
            code="invalid_credential_ttl",
            field="credential_ttl_seconds",
        )
    return ttl if session_ttl is None else min(ttl, session_ttl)


def _credential_ttl_note(ttl: int) -> str:
    return "" if ttl == CREDENTIAL_TTL_SECONDS else f" credential_ttl={ttl}"


def _unique_ticket_items(items: list[RedeemedItem]) -> list[dict[str, object]]:
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


def _may_end(conn: Connection, requested_by: Principal, session: Session) -> bool:
    """Its owner may end a session, and so may whoever manages a secret it mounts (after revoking a grant)."""
    me = requested_by.user.id
    if session.owner_id == me:
        return True
    sharing = SharingRepository(conn)
    return any(
        s.owner_id == me or at_least(sharing.level_of(s.secret_id, me), Level.MANAGE) for s in session.secrets
    )


def _check_project_member(conn: Connection, user_id: str, project: str) -> None:
    sharing = SharingRepository(conn)
    found = sharing.project_by_name(project)
    if found is None or sharing.project_role(found["id"], user_id) is None:
        raise NotFound("no such project, or you are not a member", field="project")


def _with_version(s: SessionSecret, version: int) -> SessionSecret:
    return SessionSecret(
        secret_id=s.secret_id,
        secret_name=s.secret_name,
        owner_id=s.owner_id,
        owner_name=s.owner_name,
        kind=s.kind,
        field=s.field,
        file=s.file,
        env=s.env,
        version=version,
    )


def decode_public_key(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("public_key must be base64", code="invalid_public_key", field="public_key") from None
