"""The one place errors become JSON: stable codes, fixed messages, never the submitted input."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sealbox.errors import ServiceError
from sealbox.server.methods import allowed_methods

log = logging.getLogger("sealbox.server")

_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def error_response(
    status: int,
    code: str,
    message: str,
    errors: list[dict[str, str | None]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "errors": errors or []}, status_code=status, headers=headers
    )


def _safe_loc(loc: tuple[int | str, ...], known: frozenset[str]) -> str | None:
    """A field path from schema names only; a key the client invented is never echoed."""
    parts = [
        str(p) if (isinstance(p, int) or p in known) else "…"
        for p in loc
        if p not in ("body", "query", "path", "header")
    ]
    return ".".join(parts) or None


_BOUNDS = {
    "less_than_equal": ("le", "at most {}"),
    "greater_than_equal": ("ge", "at least {}"),
    "less_than": ("lt", "less than {}"),
    "greater_than": ("gt", "more than {}"),
    "string_too_long": ("max_length", "at most {} characters"),
    "string_too_short": ("min_length", "at least {} characters"),
    "too_long": ("max_length", "at most {} items"),
    "too_short": ("min_length", "at least {} items"),
}


def schema_problem(err: Mapping[str, Any]) -> str:
    """One validation error as `kind: what the schema allows`. The words come from the schema (its
    choices, bounds) or from our own validators' fixed messages, never from the submitted input."""
    kind = str(err.get("type", "invalid"))
    ctx = err.get("ctx") or {}
    if kind in ("enum", "literal_error") and "expected" in ctx:
        return f"{kind}: one of {ctx['expected']}"
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, text = _BOUNDS[kind]
        return f"{kind}: {text.format(ctx[key])}"
    if kind == "missing":
        return "missing: required"
    if kind == "extra_forbidden":
        return "extra_forbidden: not a field of this request"
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return f"{kind}: {ctx['error']}"  # fixed messages (schemas/fields.py, bodies.body_time, domain.times)
    return kind


def error_parts(
    status: int, code: str, message: str, errors: list[dict[str, str | None]] | None = None
) -> tuple[int, bytes]:
    """Status and JSON body of an error answer, byte for byte as `error_response` renders it."""
    body = {"code": code, "message": message, "errors": errors or []}
    # As JSONResponse renders it.
    text = json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    return status, text.encode()


def service_error_parts(exc: ServiceError) -> tuple[int, bytes, dict[str, str]]:
    """Status, JSON body and headers of a ServiceError: the one rendering, for FastAPI and hot.py alike."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    errors: list[dict[str, str | None]] = [{"field": exc.field, "problem": exc.message}] if exc.field else []
    status, body = error_parts(exc.status_code, exc.code, exc.message, errors)
    return status, body, headers


def validation_error_parts(exc: RequestValidationError, known_fields: frozenset[str]) -> tuple[int, bytes]:
    """Status and JSON body of a request that does not match its schema: FastAPI's default body echoes
    `input` (the submitted value); this keeps only the place and the kind of problem, both from the
    schema. Body that is not JSON at all: 400 invalid_json."""
    errors: list[dict[str, str | None]] = []
    for err in exc.errors()[:20]:
        problem = schema_problem(err)
        errors.append({"field": _safe_loc(tuple(err.get("loc", ())), known_fields), "problem": problem})
    if any(e["problem"] == "json_invalid" for e in errors):
        return error_parts(400, "invalid_json", "the request body is not valid JSON")
    return error_parts(422, "invalid_request", "the request does not match the schema", errors)


def http_error_words(status: int) -> tuple[str, str]:
    """The code and message of an HTTP-level error (404, 405, 413, ...)."""
    code = _STATUS_CODES.get(status, "error")
    return code, {404: "not found", 405: "method not allowed"}.get(status, code.replace("_", " "))


def install_error_handlers(app: FastAPI, known_fields: frozenset[str]) -> None:
    async def service_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        status, body, headers = service_error_parts(exc)
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        status, body = validation_error_parts(exc, known_fields)
        return Response(body, status_code=status, media_type="application/json")

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code, message = http_error_words(exc.status_code)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # every method of the path, not only those of the first route on it
            headers = {"Allow": ", ".join(allowed_methods(request.app, request.scope))}
        return error_response(exc.status_code, code, message, headers=headers)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Last resort: log the exception type only (its text may hold request data).
        log.error("unhandled %s", type(exc).__name__)
        return error_response(500, "internal_error", "internal error")

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
