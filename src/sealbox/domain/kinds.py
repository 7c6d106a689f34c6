"""Secret kinds and the fields each one takes, validated before anything is encrypted."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum

import msgspec

from sealbox.errors import BadRequest


class Kind(StrEnum):
    GENERIC = "generic"
    AWS = "aws"
    DATABASE = "database"
    TOKEN = "token"  # noqa: S105 -- a kind name, not a credential  # nosec B105
    SSH_KEY = "ssh-key"


class KindSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which fields a kind takes. A kind with no fields holds one value."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    @property
    def multi_field(self) -> bool:
        return bool(self.required or self.optional)

    @property
    def all_fields(self) -> tuple[str, ...]:
        return self.required + self.optional


# Kinds whose value is text: given as `value`, never as `value_base64` (the rules below read it as text).
TEXT_KINDS = frozenset({Kind.TOKEN, Kind.SSH_KEY})

SPECS: Mapping[Kind, KindSpec] = {
    Kind.GENERIC: KindSpec(),
    Kind.TOKEN: KindSpec(),
    Kind.SSH_KEY: KindSpec(),
    Kind.AWS: KindSpec(required=("access_key_id", "secret_access_key"), optional=("session_token", "region")),
    Kind.DATABASE: KindSpec(optional=("url", "host", "port", "user", "password", "dbname")),
}

_AWS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
_PORT = re.compile(r"[0-9]{1,5}")  # ASCII digits only: str.isdigit() admits "²" and "٨"
_DB_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_SSH_KEY_HEADER = re.compile(rb"-----BEGIN ([A-Z0-9]+ )?PRIVATE KEY-----")
_PLAIN_FIELD_CHARS = re.compile(r"[\x20-\x7e]*")


def parse_kind(raw: str) -> Kind:
    try:
        return Kind(raw)
    except ValueError:
        kinds = ", ".join(k.value for k in Kind)
        raise BadRequest(f"unknown kind; use one of: {kinds}", code="invalid_kind", field="kind") from None


def encode_fields(kind: Kind, fields: Mapping[str, str]) -> bytes:
    """Validate the fields of a multi-field kind and return their canonical encoding."""
    spec = SPECS[kind]
    if not spec.multi_field:
        raise BadRequest(
            f"kind {kind.value} takes one value, not fields", code="invalid_value", field="fields"
        )
    unknown = sorted(set(fields) - set(spec.all_fields))
    if unknown:
        # Field *names* come from a fixed list, so naming the allowed ones is safe; the unknown
        # names are the caller's input and are not echoed.
        raise BadRequest(
            f"unknown field for kind {kind.value}; allowed: {', '.join(spec.all_fields)}",
            code="invalid_field",
            field="fields",
        )
    for name in spec.required:
        if not fields.get(name):
            raise BadRequest(f"kind {kind.value} needs the field {name}", code="missing_field", field=name)
    cleaned = {k: v for k, v in fields.items() if v != ""}
    for name, value in cleaned.items():
        if not isinstance(value, str):
            raise BadRequest(f"field {name} must be text", code="invalid_field", field=name)
        try:
            value.encode()
        except UnicodeEncodeError:
            raise BadRequest(f"field {name} is not valid text", code="invalid_field", field=name) from None
    _check_kind_rules(kind, cleaned)
    return json.dumps(cleaned, sort_keys=True, separators=(",", ":")).encode()


def check_text_kind(kind: Kind, *, given_as_bytes: bool) -> None:
    """A token's or an ssh-key's value is text (`value`), never bytes (`value_base64`)."""
    if given_as_bytes and kind in TEXT_KINDS:
        raise BadRequest(
            f"a {kind.value} value is text: give it as value", code="invalid_value", field="value_base64"
        )


def check_single_value(kind: Kind, value: bytes) -> bytes:
    spec = SPECS[kind]
    if spec.multi_field:
        fields = ", ".join(spec.all_fields)
        raise BadRequest(
            f"kind {kind.value} takes fields ({fields}), not one value", code="invalid_value", field="value"
        )
    if not value:
        raise BadRequest("the value is empty", code="invalid_value", field="value")
    if kind is Kind.SSH_KEY and not _SSH_KEY_HEADER.search(value):
        raise BadRequest(
            "an ssh-key value must be a PEM or OpenSSH private key", code="invalid_value", field="value"
        )
    if kind is Kind.TOKEN and (b"\n" in value.strip() or not value.strip()):
        raise BadRequest("a token value is one line of text", code="invalid_value", field="value")
    return value


def decode_fields(plaintext: bytes) -> dict[str, str]:
    """Inverse of `encode_fields`, for the session side."""
    data = json.loads(plaintext)
    if not isinstance(data, dict):
        raise ValueError("not a field map")
    return {str(k): str(v) for k, v in data.items()}


def _check_kind_rules(kind: Kind, fields: Mapping[str, str]) -> None:
    if kind is Kind.AWS:
        if not _AWS_KEY_ID.fullmatch(fields["access_key_id"]):
            raise BadRequest(
                "access_key_id must be 16-128 capital letters or digits",
                code="invalid_field",
                field="access_key_id",
            )
        region = fields.get("region")
        if region is not None and not _AWS_REGION.fullmatch(region):
            raise BadRequest("region must look like eu-west-1", code="invalid_field", field="region")
        for name in ("secret_access_key", "session_token"):
            value = fields.get(name)
            if value is not None and (not _PLAIN_FIELD_CHARS.fullmatch(value) or " " in value):
                raise BadRequest(
                    f"{name} must be printable text without spaces", code="invalid_field", field=name
                )
    elif kind is Kind.DATABASE:
        parts = {"host", "port", "user", "password", "dbname"}
        if "url" in fields:
            if set(fields) & parts:
                raise BadRequest(
                    "give either url, or host/port/user/password/dbname, not both",
                    code="invalid_field",
                    field="url",
                )
            if not _DB_URL.fullmatch(fields["url"]):
                raise BadRequest("url must look like scheme://…", code="invalid_field", field="url")
        else:
            if "host" not in fields:
                raise BadRequest(
                    "kind database needs url, or host (with port/user/password/dbname)",
                    code="missing_field",
                    field="host",
                )
            port = fields.get("port")
            if port is not None and (not _PORT.fullmatch(port) or not 0 < int(port) < 65536):
                raise BadRequest("port must be a number from 1 to 65535", code="invalid_field", field="port")
