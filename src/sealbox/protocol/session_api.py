"""A person or a service <-> server: a new session, a fresh credential, the session as the API shows it.

POST /api/v1/sessions, POST .../{id}/credentials, the answers of every /api/v1/sessions route,
POST /api/v1/service/sessions and GET /api/v1/service/users/{user}/secrets. The server decodes and
encodes through these Structs, and the OpenAPI document is generated from them. The limits the Structs
enforce are those no service would read past (lengths, counts, ranges); a rule the domain enforces with
its own stable code (a name, a mount path, a lifetime) is only stated in the schema
(`api_fields.stated`, `extra_json_schema`), from the domain's own constants, so a generated client
refuses what the server refuses. The session side never imports this module (the domain's patterns
are not light); its own messages are in `sessions`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from sealbox.domain import patterns
from sealbox.domain.names import MAX_REF_LENGTH
from sealbox.domain.sessions import (
    CREDENTIAL_TTL_SECONDS,
    HEARTBEAT_MISSES,
    MAX_CREDENTIAL_TTL_SECONDS,
    MAX_HEARTBEAT_SECONDS,
    MAX_SECRETS_PER_SESSION,
    MAX_TTL_SECONDS,
    MIN_HEARTBEAT_SECONDS,
)
from sealbox.protocol.api_fields import (
    CollectionName,
    EnvName,
    FieldName,
    FileName,
    MountPath,
    SecretRef,
    UserName,
    stated,
)
from sealbox.protocol.base import Message

MIN_TTL_SECONDS = 60  # services.sessions refuses shorter sessions


# The bounds are the services' rules, stated on the whole field; the services enforce them with their own
# codes (invalid_ttl, invalid_credential_ttl). The decoder only refuses what no service would read.
_TTL_RANGE = Annotated[int, msgspec.Meta(ge=1, le=10 * 365 * 24 * 3600)]
_TTL_STATED = {"minimum": MIN_TTL_SECONDS, "maximum": MAX_TTL_SECONDS}
_CREDENTIAL_TTL_RANGE = Annotated[int, msgspec.Meta(ge=1, le=24 * 3600)]
_CREDENTIAL_TTL_STATED = {"minimum": CREDENTIAL_TTL_SECONDS, "maximum": MAX_CREDENTIAL_TTL_SECONDS}
_CREDENTIAL_TTL_TEXT = "the session credential's lifetime, default 60; never beyond the session's"
CredentialTTL = Annotated[
    _CREDENTIAL_TTL_RANGE | None,
    msgspec.Meta(description=_CREDENTIAL_TTL_TEXT, extra_json_schema=_CREDENTIAL_TTL_STATED),
]
_HEARTBEAT_RANGE = Annotated[int, msgspec.Meta(ge=MIN_HEARTBEAT_SECONDS, le=MAX_HEARTBEAT_SECONDS)]
_SECRETS = msgspec.Meta(max_length=MAX_SECRETS_PER_SESSION, extra_json_schema={"minItems": 1})
# A secret in a session is a file, a variable, or both.
_FILE_OR_ENV = msgspec.Meta(
    extra_json_schema={
        "anyOf": [
            {"required": ["file"], "properties": {"file": {"type": "string"}}},
            {"required": ["env"], "properties": {"env": {"type": "string"}}},
        ]
    }
)


class SessionSecretIn(Message, frozen=True):
    """One secret (or one field of it) as a file, a variable, or both."""

    name: SecretRef
    field: FieldName | None = None
    file: FileName | None = None
    env: EnvName | None = None


class SessionCreate(Message, frozen=True):
    """POST /api/v1/sessions."""

    secrets: Annotated[list[Annotated[SessionSecretIn, _FILE_OR_ENV]], _SECRETS]
    mount_path: MountPath | None = None
    project: CollectionName | None = None
    ttl_seconds: Annotated[
        _TTL_RANGE | None, msgspec.Meta(description="default 12 h", extra_json_schema=_TTL_STATED)
    ] = None
    credential_ttl_seconds: CredentialTTL = None
    heartbeat_seconds: Annotated[
        _HEARTBEAT_RANGE | None,
        msgspec.Meta(
            description="the session side will call in (POST .../heartbeat) this often; a session not heard "
            f"from for {HEARTBEAT_MISSES} intervals is over. Unset: no heartbeat (the session lasts its ttl)",
            extra_json_schema={"minimum": MIN_HEARTBEAT_SECONDS, "maximum": MAX_HEARTBEAT_SECONDS},
        ),
    ] = None
    allow_expired: Annotated[
        bool,
        msgspec.Meta(
            description="bring secrets past their expiry too (refused otherwise, 409 secret_expired); the "
            "audit record of the launch names them"
        ),
    ] = False


class CredentialCreate(Message, frozen=True):
    """POST /api/v1/sessions/{id}/credentials (the body is optional)."""

    credential_ttl_seconds: CredentialTTL = None


class SessionSecretPublic(Message, frozen=True):
    name: str
    owner: str
    kind: str
    field: str | None
    file: str | None
    env: str | None
    version: Annotated[int, msgspec.Meta(description="the version last delivered to the session")]
    current_version: Annotated[
        int | None, msgspec.Meta(description="the secret's version now; null once deleted")
    ]


class SessionPublic(Message, frozen=True):
    id: str
    owner: str
    project: str | None
    mount_path: str
    status: Annotated[
        str,
        msgspec.Meta(
            description="pending, active, ended, or expired (over without being ended: past expires_at, or "
            "not heard from for 3 heartbeat intervals)"
        ),
    ]
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    secrets: list[SessionSecretPublic]
    heartbeat_seconds: Annotated[
        int | None, msgspec.Meta(description="null: the session side does not call in")
    ] = None
    last_seen_at: Annotated[
        datetime | None, msgspec.Meta(description="when the session side last called in")
    ] = None


class SessionCreated(Message, frozen=True):
    """A new session, or a fresh credential for one: redeem the credential on the session side."""

    session: SessionPublic
    session_credential: Annotated[
        str, msgspec.Meta(description="one-time, expires within a minute; redeem it on the session side")
    ]
    credential_expires_at: datetime
    keeper_url: str


class ServiceUsableSecret(Message, frozen=True):
    """GET /api/v1/service/users/{user}/secrets: a secret the user may bring into a session through this
    service; metadata only."""

    ref: Annotated[
        str, msgspec.Meta(description="`name` for the user's own, `owner/name` for one shared with them")
    ]
    name: str
    owner: str
    kind: str
    description: str
    fields: list[str]
    project: str | None


class ServiceSecretIn(Message, frozen=True):
    name: Annotated[
        str,
        msgspec.Meta(
            max_length=200,
            description="NAME or OWNER/NAME, as the user sees it",
            examples=["db_password", "alice/db_password"],
            extra_json_schema=stated(patterns.SECRET_REF, minLength=1, maxLength=MAX_REF_LENGTH),
        ),
    ]
    field: FieldName | None = None


class ServiceSessionSecretIn(ServiceSecretIn, frozen=True):
    file: FileName | None = None
    env: EnvName | None = None


class ServiceFetchIn(Message, frozen=True):
    """Without `mount_path`, files or variables: a fetch (the service assembles the values itself, the
    session lives a minute). With them: a session for the user (e.g. a notebook server a hub starts),
    listed among the user's sessions, that the service ends when the server stops."""

    on_behalf_of: Annotated[UserName, msgspec.Meta(description="the user whose access decides")]
    secrets: Annotated[list[ServiceSessionSecretIn], _SECRETS]
    project: CollectionName | None = None
    mount_path: MountPath | None = None
    ttl_seconds: Annotated[
        _TTL_RANGE | None,
        msgspec.Meta(description="sessions only; default 12 h", extra_json_schema=_TTL_STATED),
    ] = None
    credential_ttl_seconds: Annotated[
        _CREDENTIAL_TTL_RANGE | None,
        msgspec.Meta(
            description="sessions only: the session credential's lifetime",
            extra_json_schema=_CREDENTIAL_TTL_STATED,
        ),
    ] = None
