"""The constrained values that HTTP bodies and parameters are made of, each stating its rule.

The OpenAPI document must say what the server enforces, so that a generated client refuses what the
server would. Each type here carries its rule as JSON Schema (a pattern, a length, a format, a range).
Where a rule lives in the domain (names, variables, mount paths), the schema states it with a pattern
made from the same constants and the domain still enforces it, with its own stable error code; a
property test (tests/unit/server/test_schema_rules.py) checks that the two agree.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from sealbox.domain import patterns
from sealbox.domain.env_names import ENV_NAME_PATTERN
from sealbox.domain.times import parse_rfc3339, to_utc

# Session and token ids, as the server makes them (token_hex(16); base32 of 10 bytes).
SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"
TOKEN_ID_PATTERN = r"^[a-z2-7]{16}$"  # noqa: S105 -- a pattern, not a credential  # nosec B105
# Base64 as RFC 4648 writes it (padded, nothing after the padding), of at least one byte. The server
# checks these with the same expressions before decoding: Python's decoder is more lenient ("AAAA=").
BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})")
BASE64_PATTERN = f"^{BASE64_RE.pattern}$"
# One printable line: no C0 control character.
_LINE = r"[^\x00-\x1f]"
SCOPE_PATTERN = rf"^{_LINE}{{1,512}}$"
_WS = patterns.PY_WHITESPACE
# A token's name: 1-128 characters once stripped, none of them a control character (services.tokens).
TOKEN_NAME_PATTERN = rf"^[{_WS}]*(?:[^\x00-\x1f{_WS}]|[^\x00-\x1f{_WS}]{_LINE}*[^\x00-\x1f{_WS}])[{_WS}]*$"


MAX_TIME_TEXT = 64


def _time(value: object) -> object:
    """RFC 3339 text only (pydantic's lax mode would also take 4102444800, 0.0 or a date alone), as UTC;
    a time past either end of what a store holds is moved to that end (domain.times)."""
    if isinstance(value, datetime):
        return to_utc(value)
    if not isinstance(value, str) or len(value) > MAX_TIME_TEXT:
        raise ValueError("expected an RFC 3339 time")
    return parse_rfc3339(value)


def _integer(value: object) -> object:
    """A JSON integer (2 or 2.0), never text ("2") or a boolean (true), which pydantic's lax mode takes."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("expected an integer")
    return value


Integer = Annotated[int, BeforeValidator(_integer)]

Timestamp = Annotated[
    datetime,
    BeforeValidator(_time),
    WithJsonSchema({"type": "string", "format": "date-time", "maxLength": MAX_TIME_TEXT}),
]


def _stated(pattern: str, **extra: Any) -> Any:
    """A pattern for the OpenAPI document only: the domain enforces the same rule with its own error."""
    return Field(json_schema_extra={"pattern": pattern, **extra})


# Up to 200 characters reach the domain's name check (and its 400 invalid_name); the schema states 128.
SecretName = Annotated[
    str,
    Field(max_length=200, examples=["db_password"]),
    _stated(patterns.SECRET_NAME, minLength=1, maxLength=128),
]
SecretRef = Annotated[
    str,
    Field(max_length=200, examples=["db_password", "alice/db_password"]),
    _stated(patterns.SECRET_REF, minLength=1),
]
UserName = Annotated[str, Field(max_length=64, examples=["alice"]), _stated(patterns.USER_NAME, minLength=1)]
# Groups and projects follow the secret-name rules.
CollectionName = Annotated[
    str, Field(max_length=200), _stated(patterns.SECRET_NAME, minLength=1, maxLength=128)
]
FileName = Annotated[
    str,
    Field(max_length=200, description="file name in the mount folder"),
    _stated(patterns.SECRET_NAME, maxLength=128),
]
EnvName = Annotated[
    str,
    Field(
        max_length=200,
        description="environment variable name; names that change how programs run are refused "
        "(docs/sessions.md)",
    ),
    _stated(ENV_NAME_PATTERN, minLength=1, maxLength=128),
]
FieldName = Annotated[
    str,
    Field(max_length=64, description="one field of an aws or database secret"),
    _stated(patterns.FIELD_NAME, minLength=1, maxLength=32),
]
MountPath = Annotated[
    str,
    Field(max_length=1024, description="an absolute path without '.' or '..' parts; empty: /secrets"),
    _stated(patterns.MOUNT_PATH),
]
Scope = Annotated[str, Field(max_length=512), _stated(SCOPE_PATTERN, minLength=1)]


class In(BaseModel):
    """A request body: unknown fields are refused, and no error repeats the submitted input."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class ErrorDetail(BaseModel):
    field: str | None = None
    problem: str


class ErrorBody(BaseModel):
    code: str
    message: str
    errors: list[ErrorDetail] = []


class Ready(BaseModel):
    status: str = Field(description="ok, or unready when a part below is not ok")
    database: str = Field(description="ok or unavailable")
    keeper: str = Field(description="ok or unavailable")
    migrations: str = Field(
        description="ok (the schema is at this server's newest revision), behind, ahead, or unknown "
        "(the database cannot be read)"
    )
    failed: list[str] = Field(description="the parts that are not ok: database, keeper, migrations")


class Health(BaseModel):
    status: str = Field(description="ok, degraded (reads work; writes or the keeper do not) or unavailable")
    database: str = Field(description="reads: ok or unavailable")
    database_write: str = Field(description="writes: ok, storage_full or database_unavailable")
    keeper: str = Field(description="ok or unavailable")
