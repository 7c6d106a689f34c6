"""Printing for the CLI: one clear line on error, tables and JSON on success."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from sealbox.errors import (
    ClientError,
    ConfigError,
    OptionsError,
    PodSpecError,
    SecretNotFound,
    ServiceError,
    TimeFormatError,
    WorkspaceError,
)

if TYPE_CHECKING:
    from datetime import datetime


def fail(message: str, code: int = 1) -> NoReturn:
    import typer  # here, not at the top: `sealbox run` (cli/entry.py) uses describe() without Typer

    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# The server answers every refused token alike (it is no oracle for which token ids exist); the CLI knows
# the token is the one `sealbox login` or `sealbox up` saved, and says what to do about it.
REFUSED_SAVED_LOGIN = (
    "the server refused the saved token (unauthenticated): it may have expired or been revoked, or its "
    "user disabled; run `sealbox login URL` with a new token (`sealbox token add` on a working login, or "
    "ask an admin)"
)
RATE_LIMITED = (
    "the server refused the saved token, and too many attempts with bad tokens came from this address "
    "or named this token in the last minute (rate_limited); run `sealbox login URL` with a valid token"
)


def describe(exc: Exception) -> str:
    """The one line an error is shown as (after `error: `): never a value or a token."""
    if isinstance(exc, ClientError):
        if exc.status_code == 0:
            return exc.message
        if exc.status_code == 401 and exc.code == "unauthenticated":
            return REFUSED_SAVED_LOGIN
        if exc.status_code == 429 and exc.code == "rate_limited":
            return RATE_LIMITED
        return f"{exc.message} ({exc.code})"
    if isinstance(exc, ServiceError):
        return f"{exc.message} ({exc.code})"
    # These messages are fixed strings written at the raise site (names and rules, never a value).
    if isinstance(
        exc, ConfigError | SecretNotFound | PodSpecError | WorkspaceError | OptionsError | TimeFormatError
    ):
        return str(exc)
    return type(exc).__name__


def fail_from(exc: Exception) -> NoReturn:
    fail(describe(exc))


def print_json(data: Any) -> None:
    """JSON data, or the API's answers (sealbox.protocol Structs) as the server wrote them."""
    import msgspec  # here: `sealbox run` imports this module and loads msgspec off its critical path

    json.dump(msgspec.to_builtins(data), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def when(at: datetime, sep: str = " ") -> str:
    """A time as the tables show it: `2026-01-02 03:04:05` (in its own offset, not shown)."""
    return at.strftime(f"%Y-%m-%d{sep}%H:%M:%S")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    import typer

    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
