"""Reading HTML forms into the same inputs the API takes; errors go back next to their fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sealbox.domain.kinds import SPECS, Kind, parse_kind
from sealbox.errors import BadRequest
from sealbox.services.secrets import SecretValue


def form_value(form: Mapping[str, str], kind: Kind) -> SecretValue:
    """A kind's fields (`field_<name>`), or the single `value`; empty fields are left out."""
    spec = SPECS[kind]
    if spec.multi_field:
        fields = {name: form.get(f"field_{name}", "") for name in spec.all_fields}
        return SecretValue(fields={k: v for k, v in fields.items() if v != ""})
    text = form.get("value", "")
    if kind is Kind.SSH_KEY:
        # A <textarea> posts its line breaks as CRLF (HTML form encoding); a key file needs LF to load.
        text = text.replace("\r\n", "\n")
    return SecretValue(text=text)


def form_kind(form: Mapping[str, str]) -> Kind:
    return parse_kind(form.get("kind", "generic") or "generic")


def form_expiry(text: str) -> datetime | None:
    """An `<input type=datetime-local>` value (taken as UTC) or nothing."""
    text = text.strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            "the expiry is not a date and time", code="invalid_expiry", field="expires_at"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def form_scopes(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())
