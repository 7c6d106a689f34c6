"""The pieces the API's parameters are made of: ids and times (the error body is in protocol.errors).

The constrained values of request bodies are sealbox.protocol.api_fields'; params.py builds the path,
query and header parameters from these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

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
