"""Reading a secret's value for the CLI: from a no-echo prompt, stdin, a file, or --field options."""

from __future__ import annotations

import base64
import getpass
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sealbox.cli.output import fail

_RELATIVE = re.compile(r"(\d{1,6})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class SecretValue:
    value: str | None = field(default=None, repr=False)
    value_base64: str | None = field(default=None, repr=False)
    fields: dict[str, str] | None = field(default=None, repr=False)


def _from_bytes(raw: bytes) -> SecretValue:
    try:
        return SecretValue(value=raw.decode("utf-8"))
    except UnicodeDecodeError:
        return SecretValue(value_base64=base64.b64encode(raw).decode())


def read_value(*, from_file: Path | None, field_args: list[str], prompt_name: str) -> SecretValue:
    """Exactly one source: --field options, --from-file, piped stdin, or a no-echo prompt."""
    if field_args and from_file:
        fail("give either --field or --from-file, not both")
    if field_args:
        fields: dict[str, str] = {}
        for arg in field_args:
            key, sep, value = arg.partition("=")
            key = key.strip()
            if not key:
                fail("--field takes KEY=VALUE, or KEY alone to be asked for the value")
            if key in fields:
                fail(f"field {key} given twice")
            if not sep:
                value = getpass.getpass(f"{key} (input hidden): ")
            fields[key] = value
        return SecretValue(fields=fields)
    if from_file is not None:
        try:
            return _from_bytes(from_file.read_bytes())
        except OSError as exc:
            fail(f"cannot read {from_file}: {exc.strerror}")
    if not sys.stdin.isatty():
        raw = sys.stdin.buffer.read()
        if raw.endswith(b"\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n"):
            raw = raw[:-1]  # `echo value | sealbox secret add` should not store the newline
        return _from_bytes(raw)
    first = getpass.getpass(f"value for {prompt_name} (input hidden): ")
    second = getpass.getpass("again: ")
    if first != second:
        fail("the two entries differ; nothing was stored")
    return SecretValue(value=first)


def parse_since(text: str | None, *, now: datetime | None = None) -> str | None:
    """`24h`, `7d` (that long ago) or an ISO 8601 time -> ISO 8601 with a zone."""
    if text is None:
        return None
    now = now or datetime.now(UTC)
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return (now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})).isoformat()
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        fail("--since takes a duration such as 24h or 7d, or an ISO 8601 time")
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def parse_expiry(text: str | None, *, now: datetime | None = None, what: str = "--expires") -> str | None:
    """`30d`, `12h`, `2w` or an ISO 8601 time (UTC if no zone) -> ISO 8601 with a zone."""
    if text is None:
        return None
    now = now or datetime.now(UTC)
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return (now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})).isoformat()
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{what} takes a duration such as 30d or 12h, or an ISO 8601 time")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat()
