"""Path, query and header parameters of the API, each stating its rule (FastAPI `Annotated` aliases).

As in fields.py: a pattern names the rule the service enforces (with its own error code); a range or a
format that the parameter's type enforces is a 422. hot.py reads the same parameters without FastAPI
and passes anything it does not fully understand on to these.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Path, Query
from pydantic import AfterValidator, WithJsonSchema

from sealbox.domain import patterns
from sealbox.errors import NotFound
from sealbox.protocol.api_fields import MAX_TIME_TEXT
from sealbox.server.schemas.fields import SESSION_ID_PATTERN, TOKEN_ID_PATTERN, Timestamp
from sealbox.services.secrets import MAX_PAGE

# The audit's record ids are 32-bit on PostgreSQL: a cursor past that is no position of any record.
MAX_AUDIT_CURSOR = 2**31 - 1
MAX_AUDIT_PAGE = 1000
# A page of secrets ends at the last item's OWNER/NAME; the next page starts after it.
MAX_SECRETS_CURSOR = 64 + 1 + 128
SECRETS_CURSOR_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}/(?!\.\.?$)[A-Za-z0-9._-]{1,128}$"
PREFIX_PATTERN = r"^[A-Za-z0-9._-]*$"
# What If-Match takes: "*", or a version as an ETag ("3", W/"3") or bare (3).
IF_MATCH_PATTERN = r'^(?:\*|(?:W/)?"?[0-9]{1,9}"?)$'
GRANTEE_TYPES = ("user", "group")


def _path(pattern: str, description: str) -> Any:
    return Path(description=description, json_schema_extra={"pattern": pattern})


def _text(pattern: str, max_length: int) -> WithJsonSchema:
    """An optional text parameter as the document shows it: a string, or absent (never null: a query
    or a header cannot be null)."""
    return WithJsonSchema({"type": "string", "maxLength": max_length, "pattern": pattern})


def _known_shape(pattern: str) -> Callable[[str], str]:
    """An id that no object can have is no object: 404, as for one that does not exist (the lookup
    never sees it, so no database is asked about a NUL byte)."""
    shape = re.compile(pattern.removeprefix("^").removesuffix("$"))

    def check(value: str) -> str:
        if not shape.fullmatch(value):
            raise NotFound("not found")
        return value

    return check


SecretNamePath = Annotated[str, _path(patterns.SECRET_NAME, "the secret's name")]
OwnerQuery = Annotated[
    str | None,
    _text(patterns.USER_NAME, 64),
    Query(max_length=64, description="the owner, for a secret shared with you; default: you"),
]
SecretsLimit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
SecretsCursor = Annotated[
    str | None,
    _text(SECRETS_CURSOR_PATTERN, MAX_SECRETS_CURSOR),
    Query(max_length=MAX_SECRETS_CURSOR, description="the previous page's next_cursor"),
]
Prefix = Annotated[str | None, _text(PREFIX_PATTERN, 128), Query(max_length=128, pattern=PREFIX_PATTERN)]
IfMatch = Annotated[
    str | None,
    _text(IF_MATCH_PATTERN, 64),
    Header(max_length=64, description='the version you last saw, e.g. "3"; * for any'),
]
GranteeTypePath = Annotated[
    str, Path(description="user or group", json_schema_extra={"enum": list(GRANTEE_TYPES)})
]
GranteePath = Annotated[str, _path(patterns.SECRET_NAME, "a user's or a group's name")]
SessionIdPath = Annotated[
    str, AfterValidator(_known_shape(SESSION_ID_PATTERN)), _path(SESSION_ID_PATTERN, "a session's id")
]
TokenIdPath = Annotated[
    str, AfterValidator(_known_shape(TOKEN_ID_PATTERN)), _path(TOKEN_ID_PATTERN, "a token's id")
]
CollectionNamePath = Annotated[str, _path(patterns.SECRET_NAME, "the group's or project's name")]
UserPath = Annotated[str, _path(patterns.USER_NAME, "a user's name")]

AuditSecret = Annotated[
    str | None, _text(patterns.SECRET_REF, 200), Query(max_length=200, description="NAME or OWNER/NAME")
]
# A filter, not a lookup: an id that no session can have is refused, not answered with nothing.
AuditSession = Annotated[
    str | None,
    _text(SESSION_ID_PATTERN, 64),
    Query(max_length=64, pattern=SESSION_ID_PATTERN, description="a session's id"),
]
AuditSince = Annotated[
    Timestamp | None,
    WithJsonSchema({"type": "string", "format": "date-time", "maxLength": MAX_TIME_TEXT}),
    Query(description="records at or after this RFC 3339 time (a time before year 1 means all)"),
]
AuditCursor = Annotated[
    int | None,
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_AUDIT_CURSOR}),
    Query(ge=1, le=MAX_AUDIT_CURSOR, description="the previous page's next_cursor"),
]
AuditLimit = Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)]
