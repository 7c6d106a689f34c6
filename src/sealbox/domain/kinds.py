"""Secret kinds and the fields each one takes, validated before anything is encrypted."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum

import msgspec

from sealbox.domain.cloud_kinds import ROLE_FIELDS_OPTIONAL, ROLE_FIELDS_REQUIRED, check_aws_role
from sealbox.errors import BadRequest


class Kind(StrEnum):
    GENERIC = "generic"
    AWS = "aws"
    DATABASE = "database"
    TOKEN = "token"  # noqa: S105 -- a kind name, not a credential  # nosec B105
    SSH_KEY = "ssh-key"
    GCP = "gcp"
    AWS_ROLE = "aws-role"  # a role assumed at launch: domain/cloud_kinds.py


class KindSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which fields a kind takes. A kind with no fields holds one value."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    # A one-value kind whose value may also be given as fields: the value under `value_field`, with
    # `beside` (optional) next to it. Such fields are not selectable (`NAME.FIELD`): the value is the value.
    value_field: str | None = None
    beside: tuple[str, ...] = ()

    @property
    def multi_field(self) -> bool:
        return bool(self.required or self.optional)

    @property
    def all_fields(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def given_fields(self) -> tuple[str, ...]:
        """The fields a value may be given as: a multi-field kind's, or a value with fields beside it."""
        if self.value_field is not None:
            return (self.value_field, *self.beside)
        return self.all_fields

    @property
    def required_fields(self) -> tuple[str, ...]:
        return self.required if self.value_field is None else (self.value_field,)


# Kinds whose value is text: given as `value`, never as `value_base64` (the rules below read it as text).
TEXT_KINDS = frozenset({Kind.TOKEN, Kind.SSH_KEY, Kind.GCP})

SPECS: Mapping[Kind, KindSpec] = {
    Kind.GENERIC: KindSpec(),
    # A token alone, or with the host it is for and a user name (what netrc, git and docker need).
    Kind.TOKEN: KindSpec(value_field="token", beside=("host", "username")),
    Kind.SSH_KEY: KindSpec(),
    Kind.GCP: KindSpec(),  # a service-account key, the JSON document Google Cloud hands out
    Kind.AWS: KindSpec(required=("access_key_id", "secret_access_key"), optional=("session_token", "region")),
    Kind.DATABASE: KindSpec(optional=("url", "host", "port", "user", "password", "dbname")),
    Kind.AWS_ROLE: KindSpec(required=ROLE_FIELDS_REQUIRED, optional=ROLE_FIELDS_OPTIONAL),
}

_AWS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
_PORT = re.compile(r"[0-9]{1,5}")  # ASCII digits only: str.isdigit() admits "²" and "٨"
_DB_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_SSH_KEY_HEADER = re.compile(rb"-----BEGIN ([A-Z0-9]+ )?PRIVATE KEY-----")
_PLAIN_FIELD_CHARS = re.compile(r"[\x20-\x7e]*")
# A token's host: a name or address with an optional port, optionally as an http(s) URL with a path
# (Docker Hub's key is https://index.docker.io/v1/).
TOKEN_HOST = re.compile(
    r"(?:https?://)?[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]{0,200})?"
)
# A user name that Basic auth, netrc and git can carry: printable, no space, no colon.
TOKEN_USERNAME = re.compile(r"[\x21-\x39\x3b-\x7e]{1,256}")
# A token given as a field: one line, no control character, no space at either end.
TOKEN_TEXT = re.compile(r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?")
GCP_FIELDS = ("type", "client_email", "private_key", "token_uri")


def parse_kind(raw: str) -> Kind:
    try:
        return Kind(raw)
    except ValueError:
        kinds = ", ".join(k.value for k in Kind)
        raise BadRequest(f"unknown kind; use one of: {kinds}", code="invalid_kind", field="kind") from None


def encode_fields(kind: Kind, fields: Mapping[str, str]) -> bytes:
    """Validate the fields of a multi-field kind and return their canonical encoding."""
    spec = SPECS[kind]
    if not spec.given_fields:
        raise BadRequest(
            f"kind {kind.value} takes one value, not fields", code="invalid_value", field="fields"
        )
    unknown = sorted(set(fields) - set(spec.given_fields))
    if unknown:
        # Field *names* come from a fixed list, so naming the allowed ones is safe; the unknown
        # names are the caller's input and are not echoed.
        raise BadRequest(
            f"unknown field for kind {kind.value}; allowed: {', '.join(spec.given_fields)}",
            code="invalid_field",
            field="fields",
        )
    for name in spec.required_fields:
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
    if kind is Kind.GCP:
        check_gcp_key(value)
    return value


def check_gcp_key(value: bytes) -> None:
    """A service-account key as Google Cloud hands it out: a JSON object with these fields, each text."""
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise BadRequest(
            "a gcp value is a service-account key: the JSON document Google Cloud gives",
            code="invalid_value",
            field="value",
        )
    for name in GCP_FIELDS:
        if not isinstance(data.get(name), str) or not data[name]:
            raise BadRequest(f"a gcp key needs the field {name}", code="missing_field", field=name)
    if data["type"] != "service_account":
        raise BadRequest("a gcp key's type must be service_account", code="invalid_field", field="type")
    if "@" not in data["client_email"]:
        raise BadRequest("a gcp key's client_email is an address", code="invalid_field", field="client_email")
    if not _SSH_KEY_HEADER.search(data["private_key"].encode()):
        raise BadRequest("a gcp key's private_key is a PEM key", code="invalid_field", field="private_key")
    if not data["token_uri"].startswith("https://"):
        raise BadRequest("a gcp key's token_uri is an https URL", code="invalid_field", field="token_uri")


def _token_given_as_fields(value: bytes) -> dict[str, str] | None:
    """The fields of a token stored by `encode_fields` (a JSON object with `token`), else None."""
    if value[:1] != b"{":
        return None
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("token"), str):
        return {str(k): str(v) for k, v in data.items()}
    return None


def token_fields(value: bytes) -> dict[str, str]:
    """A token's parts for the session side: {"token": ...} for a token given as one value, or the fields it
    was given with (`token`, and `host` and `username` when given)."""
    fields = _token_given_as_fields(value)
    if fields is not None:
        return fields
    return {"token": value.decode("utf-8", errors="replace").strip()}


def token_value(value: bytes) -> bytes:
    """What a file or a variable of a token holds: the value as stored, or the `token` field of one given
    with its host and user name."""
    fields = _token_given_as_fields(value)
    return value if fields is None else fields["token"].encode()


def decode_fields(plaintext: bytes) -> dict[str, str]:
    """Inverse of `encode_fields`, for the session side."""
    data = json.loads(plaintext)
    if not isinstance(data, dict):
        raise ValueError("not a field map")
    return {str(k): str(v) for k, v in data.items()}


def _check_kind_rules(kind: Kind, fields: Mapping[str, str]) -> None:
    if kind is Kind.AWS_ROLE:
        check_aws_role(fields)
    elif kind is Kind.AWS:
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
    elif kind is Kind.TOKEN:
        if "token" in fields and not TOKEN_TEXT.fullmatch(fields["token"]):
            raise BadRequest(
                "a token is one line of text without spaces around it", code="invalid_field", field="token"
            )
        if "host" in fields and not TOKEN_HOST.fullmatch(fields["host"]):
            raise BadRequest(
                "host must look like github.com, host:port or https://host/path",
                code="invalid_field",
                field="host",
            )
        if "username" in fields and not TOKEN_USERNAME.fullmatch(fields["username"]):
            raise BadRequest(
                "username must be printable text without spaces or ':'",
                code="invalid_field",
                field="username",
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
