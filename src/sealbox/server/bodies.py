"""Request bodies as sealbox.protocol Structs: decoded by msgspec, refused as a pydantic body is refused.

`struct_body(Kind)` is a FastAPI dependency that reads the body and decodes it into `Kind`. A body that is
not JSON is a 400 invalid_json; an unknown field, a wrong type, a missing field or a broken bound is a
422 invalid_request whose `errors` name the place and the kind of problem, from the schema only: the
failure becomes a RequestValidationError in pydantic's shape, rendered by the one handler (server/errors.py).
Declare the dependency after the route's authentication, so that a caller without a token hears 401 first.
Every request body of the API is decoded here; an RFC 3339 field becomes a time with `body_time`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import msgspec
from fastapi import Request
from fastapi.exceptions import RequestValidationError

from sealbox.domain.times import parse_rfc3339
from sealbox.errors import TimeFormatError
from sealbox.protocol.base import Message

M = TypeVar("M", bound=Message)

_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\[\.\.\.\])")
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
_TYPE_KINDS = {
    "str": "string_type",
    "int": "int_type",
    "bool": "bool_type",
    "array": "list_type",
    "object": "model_type",
}
_UNKNOWN = "\x00"  # a place no schema names: the handler writes it as "…"


def _loc(path: str) -> tuple[int | str, ...]:
    """`$.secrets[0].name` as ("body", "secrets", 0, "name")."""
    parts: list[int | str] = ["body"]
    for name, index, key in _PATH_PART.findall(path):
        parts.append(_UNKNOWN if key else int(index) if index else name)  # a key of a map: not named
    return tuple(parts)


def _type_at(kind: type[Message], loc: tuple[int | str, ...]) -> Any:
    """The type the schema has at `loc` (as msgspec.inspect describes it), or None."""
    found: Any = msgspec.inspect.type_info(kind)
    for part in (*loc[1:], None):
        while isinstance(found, msgspec.inspect.Metadata | msgspec.inspect.UnionType):
            if isinstance(found, msgspec.inspect.Metadata):
                found = found.type
            else:  # `X | None`: X
                found = next((t for t in found.types if not isinstance(t, msgspec.inspect.NoneType)), None)
        if part is None:
            return found
        if isinstance(found, msgspec.inspect.StructType):
            found = next((f.type for f in found.fields if f.encode_name == part), None)
        elif isinstance(found, msgspec.inspect.ListType) and isinstance(part, int):
            found = found.item_type
        else:
            return None
    return found


def _choices(enum: type[Enum]) -> str:
    """An enum's values as pydantic lists them: `'a', 'b' or 'c'`."""
    *rest, last = [repr(member.value) for member in enum]
    return f"{', '.join(rest)} or {last}" if rest else last


def validation_error(message: str, kind: type[Message] | None = None) -> dict[str, Any]:
    """msgspec's message as one error in pydantic's shape. Only words of the schema are kept: msgspec may
    quote the input (an unknown field's name, a value that is not one of an enum's), never passed on."""
    problem, found, where = message.rpartition(" - at `")
    if not found:
        problem, where = message, "$"
    loc = _loc(where.rstrip("`"))
    expected = _type_at(kind, loc) if kind is not None else None
    if problem.startswith("Invalid enum value") and isinstance(expected, msgspec.inspect.EnumType):
        return {"type": "enum", "loc": loc, "ctx": {"expected": _choices(expected.cls)}}
    if isinstance(expected, msgspec.inspect.DictType) and _TYPE.fullmatch(problem):
        return {"type": "dict_type", "loc": loc}
    if missing := _MISSING.fullmatch(problem):
        return {"type": "missing", "loc": (*loc, missing[1])}
    if problem.startswith("Object contains unknown field"):
        return {"type": "extra_forbidden", "loc": (*loc, _UNKNOWN)}
    if bound := _BOUND.fullmatch(problem):
        what, length, op, limit = bound.groups()
        error, key = _BOUND_KINDS[("array" if what == "array" else "str" if length else "int", op)]
        return {"type": error, "loc": loc, "ctx": {key: int(limit)}}
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
        error = validation_error(str(exc), kind)
    except msgspec.DecodeError:
        raise not_json from None
    try:  # msgspec may refuse the type before it reaches the end: is it JSON at all?
        untyped = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise not_json from None
    except RecursionError:  # nested too deep to read untyped: the type's refusal stands
        raise RequestValidationError([error]) from None
    # JSON Schema's integers include 60.0 (pydantic took it too); msgspec's do not. So decode once more
    # with each integral number as an int; any other problem stays the first one.
    try:
        return msgspec.convert(_integral(untyped), type=kind, strict=True)
    except msgspec.ValidationError:
        raise RequestValidationError([error]) from None


def body_time(text: str | None, field: str) -> datetime | None:
    """An RFC 3339 field of a body (api_fields.Timestamp) as a UTC time; anything else is refused as the
    schema's `date-time` format (422, with domain.times' fixed message, never the text)."""
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except TimeFormatError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", field), "ctx": {"error": exc}}]
        ) from None


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
