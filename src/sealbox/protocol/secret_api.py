"""A person <-> server: a new secret, a new value, a change of its metadata.

POST /api/v1/secrets, PUT .../{name}/value and PATCH .../{name} (what those routes answer is in
`secret_answers`, which a client loads without the domain). A value is exactly
one of `value` (text), `value_base64` (bytes) or `fields` (the fields of an aws or database secret);
what each kind takes is stated per kind (`oneOf`, the Struct's `json_schema_extra`, which
server/openapi.py puts on its schema), from domain.patterns. The domain and the routes enforce those
rules with their own codes.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from sealbox.domain import patterns
from sealbox.domain.kinds import SPECS, TEXT_KINDS, Kind
from sealbox.domain.secrets import MAX_DESCRIPTION, MAX_SCOPES
from sealbox.protocol.api_fields import BASE64_PATTERN, CollectionName, Scope, SecretName, Timestamp, stated
from sealbox.protocol.base import Message

DESCRIPTION_PATTERN = r"^[^\x00]*$"  # services.secrets: no NUL

Description = Annotated[
    str, msgspec.Meta(max_length=MAX_DESCRIPTION, extra_json_schema=stated(DESCRIPTION_PATTERN))
]
Scopes = Annotated[list[Scope], msgspec.Meta(max_length=MAX_SCOPES, description="e.g. s3://team-data/*")]


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
    props = {name: {"type": "string", "pattern": field_patterns[name]} for name in spec.given_fields}

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
    return [shape(spec.required_fields)]


def _create_shapes() -> list[dict[str, Any]]:
    """Every shape a new secret's value may take, by kind (no `kind`: generic)."""
    shapes: list[dict[str, Any]] = []
    for kind, spec in SPECS.items():
        if spec.given_fields:
            shapes += _fields(kind)
        if spec.multi_field:
            continue
        for shape in _single({"const": kind.value}, patterns.VALUE[kind], text_only=kind in TEXT_KINDS):
            if kind is not Kind.GENERIC:
                shape["required"].append("kind")
            shapes.append(shape)
    return shapes


def _replace_shapes() -> list[dict[str, Any]]:
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


class SecretValue(Message, frozen=True, kw_only=True):
    """Exactly one of `value` (text), `value_base64` (bytes) or `fields` (multi-field kinds)."""

    value: Annotated[str | None, msgspec.Meta(description="the value as text; never returned")] = None
    value_base64: Annotated[
        str | None,
        msgspec.Meta(description="the value as base64 bytes (not for token or ssh-key); never returned"),
    ] = None
    fields: Annotated[
        dict[str, str] | None,
        msgspec.Meta(
            description="fields of an aws or database secret, or a token with its host and username"
        ),
    ] = None


class SecretCreate(SecretValue, frozen=True, kw_only=True):
    """POST /api/v1/secrets."""

    json_schema_extra: ClassVar[dict[str, Any]] = {"oneOf": _create_shapes()}

    name: SecretName
    kind: Kind = Kind.GENERIC
    description: Description = ""
    expires_at: Annotated[Timestamp | None, msgspec.Meta(description="in the future; RFC 3339")] = None
    project: Annotated[CollectionName | None, msgspec.Meta(description="only this project's sessions")] = None
    scopes: Scopes = msgspec.field(default_factory=list)


class SecretReplace(SecretValue, frozen=True, kw_only=True):
    """PUT /api/v1/secrets/{name}/value."""

    json_schema_extra: ClassVar[dict[str, Any]] = {"oneOf": _replace_shapes()}


class SecretUpdate(Message, frozen=True, kw_only=True):
    """PATCH /api/v1/secrets/{name}: what is given changes, what is left out stays."""

    description: Description | None = None
    expires_at: Annotated[
        Timestamp | None, msgspec.Meta(description="a new expiry, in the future; see clear_expiry")
    ] = None
    clear_expiry: bool = False
    scopes: Scopes | None = None
