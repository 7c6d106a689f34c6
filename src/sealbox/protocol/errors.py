"""The error body every sealbox process answers with: a stable code, a fixed message, field problems.

The server's OpenAPI document names it for every error answer (server/openapi.py, `error_answers`).
"""

from __future__ import annotations

import msgspec

from sealbox.protocol.base import Message


class FieldProblem(Message, frozen=True, kw_only=True):
    field: str | None = None
    problem: str


class ErrorBody(Message, frozen=True):
    code: str
    message: str
    errors: list[FieldProblem] = msgspec.field(default_factory=list)
