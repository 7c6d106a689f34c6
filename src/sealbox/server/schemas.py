"""HTTP bodies. A `...Public` schema never has a value field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sealbox.domain.audit import AuditEvent
from sealbox.domain.grants import Grant
from sealbox.domain.kinds import Kind
from sealbox.domain.launches import HEARTBEAT_MISSES, MAX_HEARTBEAT_SECONDS, MIN_HEARTBEAT_SECONDS, Session
from sealbox.domain.principals import AccessToken, User
from sealbox.domain.secrets import Secret


def _iso_text(value: object) -> object:
    """Body timestamps are ISO 8601 text only: pydantic's lax mode would also take 4102444800 or 0.0."""
    if not isinstance(value, str | datetime):
        raise ValueError("expected an ISO 8601 time")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_iso_text)]
NameStr = Annotated[
    str,
    Field(
        max_length=200,
        examples=["db_password"],
        description="1-128 letters, digits, '.', '_' or '-'; not '.' or '..'",
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class ValueIn(_In):
    """Exactly one of `value` (text), `value_base64` (bytes) or `fields` (multi-field kinds)."""

    value: str | None = Field(default=None, description="the value as text; never returned")
    value_base64: str | None = Field(default=None, description="the value as base64 bytes; never returned")
    fields: dict[str, str] | None = Field(default=None, description="fields of an aws or database secret")


class SecretCreate(ValueIn):
    name: NameStr
    kind: Kind = Kind.GENERIC
    description: str = Field(default="", max_length=1024)
    expires_at: Timestamp | None = None
    project: str | None = Field(default=None, max_length=200, description="only this project's sessions")
    scopes: list[str] = Field(
        default=[], max_length=32, description="resource patterns, e.g. s3://team-data/*"
    )


class SecretReplace(ValueIn):
    pass


class SecretUpdate(_In):
    description: str | None = Field(default=None, max_length=1024)
    expires_at: Timestamp | None = Field(default=None, description="a new expiry; see clear_expiry")
    clear_expiry: bool = False
    scopes: list[str] | None = Field(default=None, max_length=32)


class SecretVersionPublic(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    size: int


class MountingSession(BaseModel):
    id: str
    owner: str
    created_at: datetime
    expires_at: datetime


class SecretPublic(BaseModel):
    id: str
    name: str
    owner: str
    ref: str = Field(description="owner/name: how others refer to it")
    access: str = Field(description="your level: owner, manage, write or use")
    kind: Kind
    description: str
    fields: list[str] = Field(description="names of the fields present (never their values)")
    project: str | None = None
    scopes: list[str] = []
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    expires_at: datetime | None
    current_version: int
    versions: list[SecretVersionPublic] | None = None
    sessions: list[MountingSession] | None = Field(default=None, description="live sessions that mount it")

    @classmethod
    def of(cls, s: Secret, *, with_versions: bool) -> SecretPublic:
        return cls(
            id=s.id,
            name=s.name,
            owner=s.owner_name,
            ref=s.ref,
            access=s.access,
            kind=s.kind,
            description=s.description,
            fields=list(s.field_names),
            project=s.project,
            scopes=list(s.scopes),
            created_at=s.created_at,
            created_by=s.created_by,
            updated_at=s.updated_at,
            updated_by=s.updated_by,
            expires_at=s.expires_at,
            current_version=s.current_version,
            versions=[
                SecretVersionPublic(
                    version=v.version, created_at=v.created_at, created_by=v.created_by, size=v.size
                )
                for v in s.versions
            ]
            if with_versions
            else None,
        )


class SecretPage(BaseModel):
    items: list[SecretPublic]
    next_cursor: str | None


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=128)
    expires_at: Timestamp | None = None


class TokenPublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: AccessToken) -> TokenPublic:
        return cls(
            id=t.id, name=t.name, created_at=t.created_at, expires_at=t.expires_at, revoked_at=t.revoked_at
        )


class TokenIssued(TokenPublic):
    token: str = Field(description="the token itself: shown this once, never stored")


class UserPublic(BaseModel):
    id: str
    name: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserPublic:
        return cls(id=u.id, name=u.name, is_admin=u.is_admin, created_at=u.created_at)


class UserCreate(_In):
    name: str = Field(min_length=1, max_length=64)
    is_admin: bool = False


class UserCreated(BaseModel):
    user: UserPublic
    token: str = Field(description="the new user's first token: shown this once")


class ErrorDetail(BaseModel):
    field: str | None = None
    problem: str


class ErrorBody(BaseModel):
    code: str
    message: str
    errors: list[ErrorDetail] = []


class Health(BaseModel):
    status: str = Field(description="ok, degraded (reads work; writes or the keeper do not) or unavailable")
    database: str = Field(description="reads: ok or unavailable")
    database_write: str = Field(description="writes: ok, storage_full or database_unavailable")
    keeper: str = Field(description="ok or unavailable")


class SessionSecretIn(_In):
    name: str = Field(max_length=200, description="the secret's name")
    field: str | None = Field(default=None, max_length=64, description="one field of an aws/database secret")
    file: str | None = Field(default=None, max_length=200, description="file name in the mount folder")
    env: str | None = Field(default=None, max_length=200, description="environment variable name")


class SessionCreate(_In):
    secrets: list[SessionSecretIn] = Field(max_length=500)
    mount_path: str | None = Field(default=None, max_length=1024)
    project: str | None = Field(default=None, max_length=200)
    ttl_seconds: int | None = Field(default=None, ge=1, le=10 * 365 * 24 * 3600)
    credential_ttl_seconds: int | None = Field(
        default=None, ge=1, le=24 * 3600, description="the launch credential's lifetime: 60-900, default 60"
    )
    heartbeat_seconds: int | None = Field(
        default=None,
        ge=MIN_HEARTBEAT_SECONDS,
        le=MAX_HEARTBEAT_SECONDS,
        description="the session side will call in (POST .../heartbeat) this often; a session not heard "
        f"from for {HEARTBEAT_MISSES} intervals is over. Unset: no heartbeat (the session lasts its ttl)",
    )


class CredentialCreate(_In):
    credential_ttl_seconds: int | None = Field(
        default=None, ge=1, le=24 * 3600, description="the launch credential's lifetime: 60-900, default 60"
    )


class SessionSecretPublic(BaseModel):
    name: str
    owner: str
    kind: str
    field: str | None
    file: str | None
    env: str | None
    version: int = Field(description="the version last delivered to the session")
    current_version: int | None = Field(description="the secret's version now; null once deleted")


class SessionPublic(BaseModel):
    id: str
    owner: str
    project: str | None
    mount_path: str
    status: str = Field(
        description="pending, active, ended, or expired (over without being ended: past expires_at, or not "
        "heard from for 3 heartbeat intervals)"
    )
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    heartbeat_seconds: int | None = Field(default=None, description="null: the session side does not call in")
    last_seen_at: datetime | None = Field(default=None, description="when the session side last called in")
    secrets: list[SessionSecretPublic]

    @classmethod
    def of(cls, s: Session, *, now: datetime) -> SessionPublic:
        return cls(
            id=s.id,
            owner=s.owner_name,
            project=s.project,
            mount_path=s.mount_path,
            status=s.state(now),
            created_at=s.created_at,
            expires_at=s.expires_at,
            ended_at=s.ended_at,
            heartbeat_seconds=s.heartbeat_seconds,
            last_seen_at=s.last_seen_at,
            secrets=[
                SessionSecretPublic(
                    name=i.secret_name,
                    owner=i.owner_name,
                    kind=i.kind,
                    field=i.field,
                    file=i.file,
                    env=i.env,
                    version=i.version,
                    current_version=i.current_version,
                )
                for i in s.secrets
            ],
        )


class SessionLaunch(BaseModel):
    session: SessionPublic
    launch_credential: str = Field(
        description="one-time, expires within a minute; redeem it on the session side"
    )
    credential_expires_at: datetime
    keeper_url: str


class RedeemIn(_In):
    credential: str = Field(max_length=200)
    public_key: str = Field(max_length=100, description="the session's ephemeral X25519 public key, base64")


class RedeemedItemPublic(BaseModel):
    name: str
    owner: str
    secret_id: str
    owner_id: str
    kind: str
    field: str | None
    file: str | None
    env: str | None
    version: int
    scopes: list[str] = []
    outer: str = Field(description="the stored outer layer (only the keeper can open it), base64")
    wrapped_dek: str = Field(description="the data key wrapped for this launch, base64")


class RedeemOut(BaseModel):
    session_id: str
    mount_path: str
    sealed_key: str
    ticket: str
    keeper_url: str
    items: list[RedeemedItemPublic]


class GrantIn(_In):
    user: str | None = Field(default=None, max_length=64)
    group: str | None = Field(default=None, max_length=128)
    level: str = Field(max_length=16, description="use, write or manage")


class GrantPublic(BaseModel):
    grantee_type: str
    grantee: str
    level: str
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, g: Grant) -> GrantPublic:
        return cls(
            grantee_type=g.grantee_type,
            grantee=g.grantee_name,
            level=g.level.value,
            created_at=g.created_at,
            created_by=g.created_by,
        )


class UnshareOut(BaseModel):
    live_sessions: list[MountingSession] = Field(description="sessions that still hold the value; end them")


class CollectionIn(_In):
    name: str = Field(max_length=200)


class MemberIn(_In):
    user: str = Field(max_length=64)
    role: str = Field(default="member", max_length=16)


class Member(BaseModel):
    user: str
    role: str


class CollectionPublic(BaseModel):
    name: str
    members: list[Member]


class Membership(BaseModel):
    name: str
    role: str


class ServiceAccountCreate(_In):
    name: str = Field(max_length=64)
    kinds: list[str] = Field(default=[], max_length=16, description="kinds of secret it may fetch")
    names: list[str] = Field(
        default=[], max_length=256, description="secret names (or owner/name) it may fetch"
    )


class ServiceSecretIn(_In):
    name: str = Field(max_length=200, description="name or owner/name, as the user sees it")
    field: str | None = Field(default=None, max_length=64)


class ServiceSessionSecretIn(ServiceSecretIn):
    file: str | None = Field(default=None, max_length=200, description="file name in the mount folder")
    env: str | None = Field(default=None, max_length=200, description="environment variable name")


class ServiceFetchIn(_In):
    """Without `mount_path`, files or variables: a fetch (the service assembles the values itself, the
    session lives a minute). With them: a session for the user (e.g. a notebook server a hub starts),
    listed among the user's sessions, that the service ends when the server stops."""

    on_behalf_of: str = Field(max_length=64, description="the user whose access decides")
    secrets: list[ServiceSessionSecretIn] = Field(max_length=500)
    project: str | None = Field(default=None, max_length=200)
    mount_path: str | None = Field(default=None, max_length=1024)
    ttl_seconds: int | None = Field(default=None, ge=1, le=10 * 365 * 24 * 3600)
    credential_ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        le=24 * 3600,
        description="sessions only: the launch credential's lifetime, 60-900",
    )


class ServiceUsableSecret(BaseModel):
    """A secret a user may bring into a session through this service: metadata only."""

    ref: str = Field(description="`name` for the user's own, `owner/name` for one shared with them")
    name: str
    owner: str
    kind: str
    description: str
    fields: list[str]
    project: str | None

    @classmethod
    def of(cls, s: Secret, *, for_user: str) -> ServiceUsableSecret:
        return cls(
            ref=s.name if s.owner_name == for_user else s.ref,
            name=s.name,
            owner=s.owner_name,
            kind=s.kind.value,
            description=s.description,
            fields=list(s.field_names),
            project=s.project,
        )


class AuditRecord(BaseModel):
    id: int
    at: datetime
    actor: str | None
    token_id: str | None
    on_behalf_of: str | None
    action: str
    outcome: str
    secret_id: str | None
    secret: str | None
    version: int | None
    session_id: str | None
    client_addr: str | None
    detail: str | None

    @classmethod
    def of(cls, record_id: int, e: AuditEvent) -> AuditRecord:
        return cls(
            id=record_id,
            at=e.at,
            actor=e.actor_name,
            token_id=e.token_id,
            on_behalf_of=e.on_behalf_of,
            action=e.action,
            outcome=e.outcome.value,
            secret_id=e.secret_id,
            secret=e.secret_name,
            version=e.version,
            session_id=e.session_id,
            client_addr=e.client_addr,
            detail=e.detail,
        )


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_cursor: int | None


class FailureIn(_In):
    credential: str = Field(max_length=200)
    code: str = Field(max_length=32, description="integrity_error, launch_refused or keeper_unavailable")
