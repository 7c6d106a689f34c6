"""The error body every sealbox process answers with: a stable code, a fixed message, field problems."""

from __future__ import annotations

import msgspec

from sealbox.protocol.base import Message


class FieldProblem(Message, frozen=True):
    field: str | None
    problem: str


class ErrorBody(Message, frozen=True):
    code: str
    message: str
    errors: list[FieldProblem] = msgspec.field(default_factory=list)
