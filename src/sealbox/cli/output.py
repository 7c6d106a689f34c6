"""Printing for the CLI: one clear line on error, tables and JSON on success."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from sealbox.errors import ClientError, ConfigError, SecretNotFound, ServiceError


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def fail_from(exc: Exception) -> NoReturn:
    if isinstance(exc, ClientError):
        if exc.status_code == 0:
            fail(exc.message)
        fail(f"{exc.message} ({exc.code})")
    if isinstance(exc, ServiceError):
        fail(f"{exc.message} ({exc.code})")
    if isinstance(exc, ConfigError | SecretNotFound):
        fail(str(exc))
    fail(type(exc).__name__)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
