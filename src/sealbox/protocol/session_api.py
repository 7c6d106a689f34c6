"""A person or a service <-> server: a new session, a fresh credential, the session as the API shows it.

POST /api/v1/sessions, POST .../{id}/credentials and POST /api/v1/service/sessions (what those routes
answer is in `session_answers`). The server decodes them and the SDK's `Client` encodes them, and the
OpenAPI document is generated from them. The limits the Structs
enforce are those no service would read past (lengths, counts, ranges); a rule the domain enforces with
its own stable code (a name, a mount path, a lifetime) is only stated in the schema
(`api_fields.stated`, `extra_json_schema`), from the domain's own constants, so a generated client
refuses what the server refuses. `sealbox run` never imports this module (the domain's patterns are
not light); its own messages are in `sessions`, and the SDK's `Client` loads it only when called.
"""

from __future__ import annotations

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
