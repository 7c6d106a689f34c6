"""The id of the API request being handled: on its log lines, in its answer and in its audit records.

A client's own `X-Request-ID` is kept when it is a sane token (`accepted`: bounded, a safe charset, so
it can sit in a log line or a header as it is); anything else is replaced by a generated one, never
echoed or logged. The id lives in a context variable for the request's task (and the threads it hands
work to), so the log formatter and the audit log read it without being passed it.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token

MAX_CHARS = 64
HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# A sealbox token or launch credential sent here by mistake is not kept: it would reach logs and records.
_CREDENTIAL = re.compile(r"(?i)sb[xl]_")
_current: ContextVar[str | None] = ContextVar("sealbox_request_id", default=None)


def accepted(raw: bytes | str | None) -> str | None:
    """`raw` as a request id if it is a sane token, else None."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        if len(raw) > MAX_CHARS:
            return None
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
    if len(raw) > MAX_CHARS or not _SANE.fullmatch(raw) or _CREDENTIAL.match(raw):
        return None
    return raw


def generated() -> str:
    return secrets.token_hex(12)


def current() -> str | None:
    """The id of the request this code runs for, or None outside one."""
    return _current.get()


def enter(request_id: str) -> Token[str | None]:
    return _current.set(request_id)


def leave(token: Token[str | None]) -> None:
    _current.reset(token)
