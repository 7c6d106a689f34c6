"""The OpenAPI document: FastAPI's, plus what FastAPI cannot see.

Every answer (errors included) and every request body is a Struct of sealbox.protocol: answers are
encoded by msgspec (`struct_response`) and declared with `struct_answer` or `error_answers`, bodies are
decoded by server.bodies and declared with `struct_request`; their schemas come from msgspec
(`schema_components`), from the same types. The hot reads (server/hot.py) are plain routes; their
operations come from hot.py's own parameter table (`openapi_paths`). Two things msgspec cannot write
are added here: a Struct's `json_schema_extra` (a ClassVar: the `oneOf` of a body's shapes) on its own
schema, and the rules a field states (protocol.api_fields.stated) in place of the decoder's bounds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from fastapi import FastAPI, Response

from sealbox.protocol.api_fields import STATED
from sealbox.protocol.errors import ErrorBody

_REF = "#/components/schemas/{name}"
_encode = msgspec.json.Encoder().encode


def struct_response(
    value: msgspec.Struct | list[msgspec.Struct],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A Struct (or a list of them) as a JSON answer."""
    return Response(_encode(value), status_code=status_code, headers=headers, media_type="application/json")


def struct_answer(
    struct: type[msgspec.Struct], description: str = "Successful Response", *, many: bool = False
) -> dict[str, Any]:
    """A route's `responses` entry for an answer of this Struct type (a list of them: `many`)."""
    schema: dict[str, Any] = {"$ref": _REF.format(name=struct.__name__)}
    if many:
        schema = {"type": "array", "items": schema}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_answers(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses` entries answering an ErrorBody for each status: those of `described` with their
    description, the others described by FastAPI with the status's phrase ("Not Found")."""
    ref = {"content": {"application/json": {"schema": {"$ref": _REF.format(name=ErrorBody.__name__)}}}}
    answers: dict[int | str, dict[str, Any]] = {status: copy.deepcopy(ref) for status in statuses}
    for status, description in (described or {}).items():
        answers[status] = {"description": description, **copy.deepcopy(ref)}
    return answers


def struct_request(struct: type[msgspec.Struct], *, required: bool = True) -> dict[str, Any]:
    """A route's `openapi_extra` for a body of this Struct type (decoded by server.bodies)."""
    ref = _REF.format(name=struct.__name__)
    content = {"application/json": {"schema": {"$ref": ref}}}
    return {"requestBody": {"required": required, "content": content}}


def install_openapi(
    app: FastAPI, *, structs: tuple[type[msgspec.Struct], ...], paths: Callable[[], dict[str, Any]]
) -> None:
    """FastAPI's document with the Structs' schemas and `paths()` added (once, on first request)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        _, components = msgspec.json.schema_components(structs, ref_template=_REF)
        schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
        for struct in structs:
            components[struct.__name__].update(getattr(struct, "json_schema_extra", {}))
        for name, schema in components.items():
            schemas.setdefault(name, _with_stated(schema))  # FastAPI's own (e.g. the Kind enum) stays
        for path, operations in paths().items():
            document["paths"].setdefault(path, {}).update(operations)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _with_stated(schema: Any) -> Any:
    """`schema` with each field's stated rules (under STATED) written over the decoder's own bounds."""
    if isinstance(schema, list):
        return [_with_stated(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    rules = schema.get(STATED, {})
    return {**{k: _with_stated(v) for k, v in schema.items() if k != STATED}, **rules}
