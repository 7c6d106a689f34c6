"""The pieces the API's parameters and its answers are made of: ids, times, the error and health bodies.

The constrained values of request bodies are sealbox.protocol.api_fields'; params.py builds the path,
query and header parameters from these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from sealbox.domain.times import parse_rfc3339, to_utc
from sealbox.protocol.api_fields import MAX_TIME_TEXT

# Session and token ids, as the server makes them (token_hex(16); base32 of 10 bytes).
SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"
TOKEN_ID_PATTERN = r"^[a-z2-7]{16}$"  # noqa: S105 -- a pattern, not a credential  # nosec B105


def _time(value: object) -> object:
    """RFC 3339 text only (pydantic's lax mode would also take 4102444800, 0.0 or a date alone), as UTC;
    a time past either end of what a store holds is moved to that end (domain.times)."""
    if isinstance(value, datetime):
        return to_utc(value)
    if not isinstance(value, str) or len(value) > MAX_TIME_TEXT:
        raise ValueError("expected an RFC 3339 time")
    return parse_rfc3339(value)


Timestamp = Annotated[
    datetime,
    BeforeValidator(_time),
    WithJsonSchema({"type": "string", "format": "date-time", "maxLength": MAX_TIME_TEXT}),
]


class ErrorDetail(BaseModel):
    field: str | None = None
    problem: str


class ErrorBody(BaseModel):
    code: str
    message: str
    errors: list[ErrorDetail] = []


class Ready(BaseModel):
    status: str = Field(
        description="ok; degraded (ready, but the keeper is unavailable: launches fail); or unready (503)"
    )
    database: str = Field(description="ok or unavailable")
    keeper: str = Field(description="ok or unavailable (reported; it does not make the replica unready)")
    migrations: str = Field(
        description="ok (the schema is at this server's newest revision), behind, ahead, or unknown "
        "(the database cannot be read)"
    )
    failed: list[str] = Field(description="the parts that make the replica unready: database, migrations")


class Health(BaseModel):
    status: str = Field(description="ok, degraded (reads work; writes or the keeper do not) or unavailable")
    database: str = Field(description="reads: ok or unavailable")
    database_write: str = Field(description="writes: ok, storage_full or database_unavailable")
    keeper: str = Field(description="ok or unavailable")
