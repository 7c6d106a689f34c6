"""Bodies of /api/v1/secrets: a new secret, a new value, a change, what comes back, and grants.

A value is exactly one of `value` (text), `value_base64` (bytes) or `fields` (the fields of an aws or
database secret), and what each kind takes is stated per kind (`oneOf`), from domain.patterns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool

from sealbox.domain import patterns
from sealbox.domain.grants import GRANTABLE, Grant
from sealbox.domain.kinds import SPECS, TEXT_KINDS, Kind
from sealbox.domain.secrets import Page, Secret
from sealbox.domain.sessions import LiveSession
from sealbox.server.schemas.fields import (
    BASE64_PATTERN,
    CollectionName,
    In,
    Scope,
    SecretName,
    Timestamp,
    UserName,
)
from sealbox.services.secrets import MAX_DESCRIPTION, MAX_SCOPES

DESCRIPTION_PATTERN = r"^[^\x00]*$"  # services.secrets: no NUL


def _text(pattern: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "pattern": pattern}


def _absent(*names: str) -> dict[str, Any]:
    """None of these, or each null (a client may send `"value": null` for a value it does not give)."""
    return {"properties": {name: {"type": "null"} for name in names}}


def _single(kind_value: dict[str, Any], pattern: str, *, text_only: bool) -> list[dict[str, Any]]:
    """One value: as text (matching the kind's pattern), or as base64 bytes unless the kind is text."""
    shapes = [
        {
            "required": ["value"],
            "properties": {"kind": kind_value, "value": _text(pattern)},
            "allOf": [_absent("value_base64", "fields")],
        }
    ]
    if not text_only:
        shapes.append(
            {
                "required": ["value_base64"],
                "properties": {"kind": kind_value, "value_base64": _text(BASE64_PATTERN)},
                "allOf": [_absent("value", "fields")],
            }
        )
    return shapes


def _fields(kind: Kind) -> list[dict[str, Any]]:
    """The fields of a multi-field kind; a database is a url, or a host with the other parts."""
    spec = SPECS[kind]
    field_patterns = patterns.FIELD[kind]
    props = {name: {"type": "string", "pattern": field_patterns[name]} for name in spec.all_fields}

    def shape(required: tuple[str, ...], empty: tuple[str, ...] = ()) -> dict[str, Any]:
        fields_schema = {
            "type": "object",
            "properties": {
                **props,
                **{name: {**props[name], "minLength": 1} for name in required},
                **{name: {"type": "string", "maxLength": 0} for name in empty},
            },
            "required": list(required),
            "additionalProperties": False,
        }
        return {
            "required": ["kind", "fields"],
            "properties": {"kind": {"const": kind.value}, "fields": fields_schema},
            "allOf": [_absent("value", "value_base64")],
        }

    if kind is Kind.DATABASE:
        parts = tuple(n for n in spec.all_fields if n != "url")
        return [shape(("url",), empty=parts), shape(("host",), empty=("url",))]
    return [shape(spec.required)]


def _create_shapes() -> list[JsonValue]:
    """Every shape a new secret's value may take, by kind (no `kind`: generic)."""
    shapes: list[JsonValue] = []
    for kind, spec in SPECS.items():
        if spec.multi_field:
            shapes += _fields(kind)
            continue
        for shape in _single({"const": kind.value}, patterns.VALUE[kind], text_only=kind in TEXT_KINDS):
            if kind is not Kind.GENERIC:
                shape["required"].append("kind")
            shapes.append(shape)
    return shapes


def _replace_shapes() -> list[JsonValue]:
    """A new value for a stored secret: its kind (not in the body) decides which shape is taken."""
    given = {
        "value": {"type": "string", "minLength": 1},
        "value_base64": _text(BASE64_PATTERN),
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    }
    return [
        {"required": [name], "properties": {name: schema}, "allOf": [_absent(*(set(given) - {name}))]}
        for name, schema in given.items()
    ]


class SecretValue(In):
    """Exactly one of `value` (text), `value_base64` (bytes) or `fields` (multi-field kinds)."""

    value: str | None = Field(default=None, description="the value as text; never returned")
    value_base64: str | None = Field(
        default=None, description="the value as base64 bytes (not for token or ssh-key); never returned"
    )
    fields: dict[str, str] | None = Field(default=None, description="fields of an aws or database secret")


class SecretCreate(SecretValue):
    name: SecretName
    kind: Kind = Kind.GENERIC
    description: str = Field(
        default="", max_length=MAX_DESCRIPTION, json_schema_extra={"pattern": DESCRIPTION_PATTERN}
    )
    expires_at: Timestamp | None = Field(default=None, description="in the future; RFC 3339")
    project: CollectionName | None = Field(default=None, description="only this project's sessions")
    scopes: list[Scope] = Field(default=[], max_length=MAX_SCOPES, description="e.g. s3://team-data/*")

    model_config = ConfigDict(json_schema_extra={"oneOf": _create_shapes()})


class SecretReplace(SecretValue):
    model_config = ConfigDict(json_schema_extra={"oneOf": _replace_shapes()})


class SecretUpdate(In):
    description: str | None = Field(
        default=None, max_length=MAX_DESCRIPTION, json_schema_extra={"pattern": DESCRIPTION_PATTERN}
    )
    expires_at: Timestamp | None = Field(
        default=None, description="a new expiry, in the future; see clear_expiry"
    )
    clear_expiry: StrictBool = False
    scopes: list[Scope] | None = Field(default=None, max_length=MAX_SCOPES)


# What comes back: msgspec Structs, encoded by the one read handler (server/hot.py) and by the write
# routes alike, and put into the OpenAPI document from these same types (server/openapi.py).


class SecretVersionPublic(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    created_at: datetime
    created_by: str
    size: int


class MountingSession(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    owner: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, s: LiveSession) -> MountingSession:
        return cls(id=s.id, owner=s.owner, created_at=s.created_at, expires_at=s.expires_at)


class SecretPublic(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    owner: str
    ref: Annotated[str, msgspec.Meta(description="owner/name: how others refer to it")]
    access: Annotated[str, msgspec.Meta(description="your level: owner, manage, write or use")]
    kind: Kind
    description: str
    fields: Annotated[list[str], msgspec.Meta(description="names of the fields present (never their values)")]
    project: str | None = None
    scopes: list[str] = []
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    expires_at: datetime | None
    current_version: int
    versions: list[SecretVersionPublic] | None = None
    sessions: Annotated[
        list[MountingSession] | None, msgspec.Meta(description="live sessions that mount it")
    ] = None

    @classmethod
    def of(cls, s: Secret, *, with_versions: bool, live: Sequence[LiveSession] | None = None) -> SecretPublic:
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
            sessions=None if live is None else [MountingSession.of(m) for m in live],
        )


class SecretPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SecretPublic]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page) -> SecretPage:
        return cls(
            items=[SecretPublic.of(s, with_versions=False) for s in page.items], next_cursor=page.next_cursor
        )


class DeletedSecretPublic(msgspec.Struct, frozen=True, kw_only=True):
    """A secret in its recovery window: hidden everywhere; restorable until `purge_at`."""

    id: str
    name: str
    owner: str
    ref: str
    access: str
    kind: Kind
    description: str
    current_version: int
    deleted_at: datetime
    deleted_by: str
    purge_at: Annotated[datetime, msgspec.Meta(description="when it is removed for good")]

    @classmethod
    def of(cls, s: Secret) -> DeletedSecretPublic:
        if s.deleted_at is None or s.purge_at is None:
            raise ValueError("not a deleted secret")
        return cls(
            id=s.id,
            name=s.name,
            owner=s.owner_name,
            ref=s.ref,
            access=s.access,
            kind=s.kind,
            description=s.description,
            current_version=s.current_version,
            deleted_at=s.deleted_at,
            deleted_by=s.deleted_by or "",
            purge_at=s.purge_at,
        )


class DeletedSecrets(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeletedSecretPublic]


GRANT_LEVELS = tuple(level.value for level in GRANTABLE)


class GrantIn(In):
    """Exactly one of `user` or `group`."""

    user: UserName | None = None
    group: CollectionName | None = None
    level: str = Field(json_schema_extra={"enum": list(GRANT_LEVELS)}, description="use, write or manage")

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["user"], "properties": {"user": {"type": "string"}, "group": {"type": "null"}}},
                {
                    "required": ["group"],
                    "properties": {"group": {"type": "string"}, "user": {"type": "null"}},
                },
            ]
        }
    )


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


class UnshareOut(msgspec.Struct, frozen=True, kw_only=True):
    live_sessions: Annotated[
        list[MountingSession], msgspec.Meta(description="sessions that still hold the value; end them")
    ]
