"""The constrained values the API's request bodies are made of, each stating its rule.

The OpenAPI document must say what the server enforces, so that a generated client refuses what the
server refuses. A bound the decoder enforces (a length, a count, a range) is a 422 from the Struct itself.
A rule the domain enforces with its own stable code (a name, a variable, a mount path, a scope) is only
stated (`stated`), from the domain's own constants: the decoder lets a little more through (a guard
against the absurd, such as a 200-character name), the domain refuses it with its 400, and the document
states the rule itself. msgspec writes a decoder bound over any `maxLength` of `extra_json_schema`, so the
stated rules travel under the key `STATED` and server/openapi.py puts them in place when it builds the
document. tests/unit/server/test_schema_rules.py checks that each pattern agrees with its rule.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from sealbox.domain import patterns
from sealbox.domain.env_names import ENV_NAME_PATTERN, MAX_ENV_NAME
from sealbox.domain.names import MAX_NAME_LENGTH, MAX_REF_LENGTH, MAX_USER_NAME_LENGTH
from sealbox.domain.secrets import MAX_SCOPE_LENGTH

STATED = "x-stated"


def stated(pattern: str | None = None, **rules: Any) -> dict[str, Any]:
    """Rules for the OpenAPI document only (they replace the decoder's own bounds there)."""
    return {STATED: {"pattern": pattern, **rules} if pattern is not None else rules}


# Base64 as RFC 4648 writes it (padded, nothing after the padding), of at least one byte. The server
# checks these with the same expressions before decoding: Python's decoder is more lenient ("AAAA=").
BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})")
BASE64_PATTERN = f"^{BASE64_RE.pattern}$"
# One printable line: no C0 control character.
_LINE = r"[^\x00-\x1f]"
SCOPE_PATTERN = rf"^{_LINE}{{1,{MAX_SCOPE_LENGTH}}}$"
_WS = patterns.PY_WHITESPACE
# A token's name: 1-128 characters once stripped, none of them a control character (services.tokens).
TOKEN_NAME_PATTERN = rf"^[{_WS}]*(?:[^\x00-\x1f{_WS}]|[^\x00-\x1f{_WS}]{_LINE}*[^\x00-\x1f{_WS}])[{_WS}]*$"

# An RFC 3339 time: text, turned into a time by server.bodies.body_time (domain.times.parse_rfc3339).
MAX_TIME_TEXT = 64
Timestamp = Annotated[str, msgspec.Meta(max_length=MAX_TIME_TEXT, extra_json_schema={"format": "date-time"})]

# How much of a name reaches the domain's check (and its 400 invalid_name); the document states the rule.
_NAME_GUARD = 200

SecretName = Annotated[
    str,
    msgspec.Meta(
        max_length=_NAME_GUARD,
        examples=["db_password"],
        extra_json_schema=stated(patterns.SECRET_NAME, minLength=1, maxLength=MAX_NAME_LENGTH),
    ),
]
SecretRef = Annotated[
    str,
    msgspec.Meta(
        max_length=_NAME_GUARD,
        description="NAME (yours) or OWNER/NAME (shared with you)",
        examples=["db_password", "alice/db_password"],
        extra_json_schema=stated(patterns.SECRET_REF, minLength=1, maxLength=MAX_REF_LENGTH),
    ),
]
UserName = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_USER_NAME_LENGTH,
        examples=["alice"],
        extra_json_schema=stated(patterns.USER_NAME, minLength=1),
    ),
]
# Groups and projects follow the secret-name rules.
CollectionName = Annotated[
    str,
    msgspec.Meta(
        max_length=_NAME_GUARD,
        extra_json_schema=stated(patterns.SECRET_NAME, minLength=1, maxLength=MAX_NAME_LENGTH),
    ),
]
FileName = Annotated[
    str,
    msgspec.Meta(
        max_length=_NAME_GUARD,
        description="file name in the mount folder",
        extra_json_schema=stated(patterns.SECRET_NAME, maxLength=MAX_NAME_LENGTH),
    ),
]
EnvName = Annotated[
    str,
    msgspec.Meta(
        max_length=_NAME_GUARD,
        description="environment variable name; names that change how programs run are refused "
        "(docs/sessions.md)",
        extra_json_schema=stated(ENV_NAME_PATTERN, minLength=1, maxLength=MAX_ENV_NAME),
    ),
]
FieldName = Annotated[
    str,
    msgspec.Meta(
        max_length=64,
        description="one field of an aws or database secret",
        extra_json_schema=stated(patterns.FIELD_NAME, minLength=1, maxLength=32),
    ),
]
MountPath = Annotated[
    str,
    msgspec.Meta(
        max_length=1024,
        description="an absolute path without '.' or '..' parts; empty: /secrets",
        extra_json_schema=stated(patterns.MOUNT_PATH),
    ),
]
Scope = Annotated[
    str, msgspec.Meta(max_length=MAX_SCOPE_LENGTH, extra_json_schema=stated(SCOPE_PATTERN, minLength=1))
]
