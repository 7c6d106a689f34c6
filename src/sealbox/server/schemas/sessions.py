"""Bodies of /api/v1/sessions and /api/v1/service/sessions: what a session brings in, and the launch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from sealbox.domain.sessions import (
    CREDENTIAL_TTL_SECONDS,
    HEARTBEAT_MISSES,
    MAX_HEARTBEAT_SECONDS,
    MAX_SECRETS_PER_SESSION,
    MAX_TTL_SECONDS,
    MIN_HEARTBEAT_SECONDS,
    Session,
)
from sealbox.server.schemas.fields import (
    CREDENTIAL_PATTERN,
    PUBLIC_KEY_PATTERN,
    CollectionName,
    EnvName,
    FieldName,
    FileName,
    In,
    Integer,
    MountPath,
    SecretRef,
    UserName,
)
from sealbox.services.session_credentials import MAX_CREDENTIAL_TTL_SECONDS
from sealbox.services.sessions import REPORTABLE_FAILURES

MIN_TTL_SECONDS = 60  # services.sessions refuses shorter sessions

# The bounds are the services' rules, stated here; the services enforce them with their own codes
# (invalid_ttl, invalid_credential_ttl). The schema only refuses what no service would read.
_TTL: dict[str, Any] = {
    "ge": 1,
    "le": 10 * 365 * 24 * 3600,
    "json_schema_extra": {"minimum": MIN_TTL_SECONDS, "maximum": MAX_TTL_SECONDS},
}
_CREDENTIAL_TTL: dict[str, Any] = {
    "ge": 1,
    "le": 24 * 3600,
    "json_schema_extra": {"minimum": CREDENTIAL_TTL_SECONDS, "maximum": MAX_CREDENTIAL_TTL_SECONDS},
}
_FAILURE_CODES: list[JsonValue] = [*sorted(REPORTABLE_FAILURES)]
_SECRETS: dict[str, Any] = {"max_length": MAX_SECRETS_PER_SESSION, "json_schema_extra": {"minItems": 1}}


class SessionSecretIn(In):
    """One secret (or one field of it) as a file, a variable, or both."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["file"], "properties": {"file": {"type": "string"}}},
                {"required": ["env"], "properties": {"env": {"type": "string"}}},
            ]
        }
    )

    name: SecretRef = Field(description="NAME (yours) or OWNER/NAME (shared with you)")
    field: FieldName | None = None
    file: FileName | None = None
    env: EnvName | None = None


class SessionCreate(In):
    secrets: list[SessionSecretIn] = Field(**_SECRETS)
    mount_path: MountPath | None = None
    project: CollectionName | None = None
    ttl_seconds: Integer | None = Field(default=None, description="default 12 h", **_TTL)
    credential_ttl_seconds: Integer | None = Field(
        default=None,
        description="the session credential's lifetime, default 60; never beyond the session's",
        **_CREDENTIAL_TTL,
    )
    heartbeat_seconds: Integer | None = Field(
        default=None,
        ge=MIN_HEARTBEAT_SECONDS,
        le=MAX_HEARTBEAT_SECONDS,
        json_schema_extra={"minimum": MIN_HEARTBEAT_SECONDS, "maximum": MAX_HEARTBEAT_SECONDS},
        description="the session side will call in (POST .../heartbeat) this often; a session not heard "
        f"from for {HEARTBEAT_MISSES} intervals is over. Unset: no heartbeat (the session lasts its ttl)",
    )


class CredentialCreate(In):
    credential_ttl_seconds: Integer | None = Field(
        default=None,
        description="the session credential's lifetime, default 60; never beyond the session's",
        **_CREDENTIAL_TTL,
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


class SessionCreated(BaseModel):
    session: SessionPublic
    session_credential: str = Field(
        description="one-time, expires within a minute; redeem it on the session side"
    )
    credential_expires_at: datetime
    keeper_url: str


class RedeemIn(In):
    credential: str = Field(max_length=200, json_schema_extra={"pattern": CREDENTIAL_PATTERN})
    public_key: str = Field(
        max_length=100,
        description="the session's ephemeral X25519 public key, base64",
        json_schema_extra={"pattern": PUBLIC_KEY_PATTERN},
    )


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


class FailureIn(In):
    credential: str = Field(max_length=200, json_schema_extra={"pattern": CREDENTIAL_PATTERN})
    code: str = Field(max_length=32, json_schema_extra={"enum": _FAILURE_CODES})


class ServiceSecretIn(In):
    name: SecretRef = Field(description="NAME or OWNER/NAME, as the user sees it")
    field: FieldName | None = None


class ServiceSessionSecretIn(ServiceSecretIn):
    file: FileName | None = None
    env: EnvName | None = None


class ServiceFetchIn(In):
    """Without `mount_path`, files or variables: a fetch (the service assembles the values itself, the
    session lives a minute). With them: a session for the user (e.g. a notebook server a hub starts),
    listed among the user's sessions, that the service ends when the server stops."""

    on_behalf_of: UserName = Field(description="the user whose access decides")
    secrets: list[ServiceSessionSecretIn] = Field(**_SECRETS)
    project: CollectionName | None = None
    mount_path: MountPath | None = None
    ttl_seconds: Integer | None = Field(default=None, description="sessions only; default 12 h", **_TTL)
    credential_ttl_seconds: Integer | None = Field(
        default=None, description="sessions only: the session credential's lifetime", **_CREDENTIAL_TTL
    )
