"""Request bodies as sealbox.protocol Structs: decoded by msgspec, refused as a pydantic body is refused.

`struct_body(Kind)` is a FastAPI dependency that reads the body and decodes it into `Kind`. A body that is
not JSON is a 400 invalid_json; an unknown field, a wrong type, a missing field or a broken bound is a
422 invalid_request whose `errors` name the place and the kind of problem, from the schema only: the
failure becomes a RequestValidationError in pydantic's shape, rendered by the one handler (server/errors.py).
Declare the dependency after the route's authentication, so that a caller without a token hears 401 first.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from fastapi import Request
from fastapi.exceptions import RequestValidationError

from sealbox.protocol.base import Message

M = TypeVar("M", bound=Message)

_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_MISSING = re.compile(r"Object missing required field `([A-Za-z_][A-Za-z0-9_]*)`")
_BOUND = re.compile(r"Expected `(str|array|int)[^`]*` (of length )?(<=|>=) (\d+)")
_TYPE = re.compile(r"Expected `([a-z]+)(?: \| null)?`, got `[a-z]+`")
_BOUND_KINDS = {
    ("str", "<="): ("string_too_long", "max_length"),
    ("str", ">="): ("string_too_short", "min_length"),
    ("array", "<="): ("too_long", "max_length"),
    ("array", ">="): ("too_short", "min_length"),
    ("int", "<="): ("less_than_equal", "le"),
    ("int", ">="): ("greater_than_equal", "ge"),
}
_TYPE_KINDS = {"str": "string_type", "int": "int_type", "array": "list_type", "object": "model_type"}
_UNKNOWN = "\x00"  # a place no schema names: the handler writes it as "…"


def _loc(path: str) -> tuple[int | str, ...]:
    """`$.secrets[0].name` as ("body", "secrets", 0, "name")."""
    parts: list[int | str] = ["body"]
    for name, index in _PATH_PART.findall(path):
        parts.append(int(index) if index else name)
    return tuple(parts)


def validation_error(message: str) -> dict[str, Any]:
    """msgspec's message as one error in pydantic's shape. Only words of the schema are kept: msgspec may
    quote the input (an unknown field's name), which is never passed on."""
    problem, found, where = message.rpartition(" - at `")
    if not found:
        problem, where = message, "$"
    loc = _loc(where.rstrip("`"))
    if missing := _MISSING.fullmatch(problem):
        return {"type": "missing", "loc": (*loc, missing[1])}
    if problem.startswith("Object contains unknown field"):
        return {"type": "extra_forbidden", "loc": (*loc, _UNKNOWN)}
    if bound := _BOUND.fullmatch(problem):
        what, length, op, limit = bound.groups()
        kind, key = _BOUND_KINDS[("array" if what == "array" else "str" if length else "int", op)]
        return {"type": kind, "loc": loc, "ctx": {key: int(limit)}}
    if typed := _TYPE.fullmatch(problem):
        return {"type": _TYPE_KINDS.get(typed[1], "type_error"), "loc": loc}
    return {"type": "value_error", "loc": loc}


def decode_body(body: bytes, kind: type[M], content_type: str | None) -> M:
    """`body` as a `kind`; raises RequestValidationError as FastAPI does for a pydantic body."""
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",)}])
    if content_type is None or not _is_json(content_type):  # FastAPI's strict content type
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",)}])
    not_json = RequestValidationError([{"type": "json_invalid", "loc": ("body", 0)}])
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        error = validation_error(str(exc))
    except msgspec.DecodeError:
        raise not_json from None
    try:  # msgspec may refuse the type before it reaches the end: is it JSON at all?
        untyped = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise not_json from None
    # JSON Schema's integers include 60.0 (pydantic took it too); msgspec's do not. So decode once more
    # with each integral number as an int; any other problem stays the first one.
    try:
        return msgspec.convert(_integral(untyped), type=kind, strict=True)
    except msgspec.ValidationError:
        raise RequestValidationError([error]) from None


def _integral(value: object) -> object:
    """`value` with every float that is a whole number as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def struct_body(kind: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency: the request's body as a `kind`."""

    async def read(request: Request) -> M:
        return decode_body(await request.body(), kind, request.headers.get("content-type"))

    return read


def optional_struct_body(kind: type[M]) -> Callable[[Request], Awaitable[M | None]]:
    """A dependency: the request's body as a `kind`, or None when there is none."""

    async def read(request: Request) -> M | None:
        body = await request.body()
        if not body:
            return None
        return decode_body(body, kind, request.headers.get("content-type"))

    return read
