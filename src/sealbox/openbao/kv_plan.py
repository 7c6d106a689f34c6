"""What an import from OpenBao/Vault KV makes of each secret: a sealbox name, a kind, its versions.

A secret's fields choose its kind (`custom_metadata` `kind` overrides): `access_key_id` and
`secret_access_key` (with `session_token`, `region`) are an aws secret; a Google service-account key's
fields a gcp one; `token` with `host`/`username` a token; two or more of `url`, `host`, `port`, `user`,
`password`, `dbname` with a `password` or `url` a database; any other field alone a generic value. Other
field sets are skipped, and the plan says why. `custom_metadata` `description` and `expires_at` (also
`expiry`, `expires`: ISO 8601 or 30d/12h/2w) are carried. The name is the secret's path below the prefix,
each character a name cannot hold ('/' among them) made '_', as `sealbox secret import` maps .env keys.
Each value is checked by the domain's own rules before anything is written. Values stay in
`Payload` (never in a repr); the plan's notes name paths, fields and kinds only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec

from sealbox.domain.kinds import GCP_FIELDS, SPECS, Kind, check_single_value, encode_fields
from sealbox.domain.secrets import MAX_DESCRIPTION
from sealbox.domain.times import parse_typed
from sealbox.errors import BadRequest
from sealbox.openbao.kv import KVSecret, KVVersion
from sealbox.services.dotenv_import import secret_name_for

KIND_KEYS = ("kind", "sealbox_kind")
DESCRIPTION_KEYS = ("description",)
EXPIRY_KEYS = ("expires_at", "expiry", "expires")
_RELATIVE = re.compile(r"([0-9]{1,5})([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_DATABASE_FIELDS = frozenset(SPECS[Kind.DATABASE].all_fields)
_TOKEN_FIELDS = frozenset(SPECS[Kind.TOKEN].given_fields)


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    """One version's value as the API takes it: `value` for one-value kinds, `fields` for the others."""

    version: int
    value: str | None = None
    fields: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"Payload(version={self.version})"


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """What the import does with one secret: create (with its versions, oldest first) or skip (why)."""

    path: str
    name: str
    action: str  # create, skip
    kind: str = ""
    description: str = ""
    expires_at: str | None = None
    payloads: tuple[Payload, ...] = ()
    note: str = ""


def _text_fields(data: Mapping[str, Any]) -> dict[str, str] | str:
    """The fields as text (numbers and booleans as JSON writes them), or why they cannot be."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, bool | int | float):
            out[key] = json.dumps(value)
        elif value is None:
            continue
        else:
            return f"field {key} holds a nested object or list"
    return out if out else "it has no fields"


def infer_kind(fields: Mapping[str, str]) -> Kind | None:
    """The kind a field set is, or None when it fits none."""
    keys = set(fields)
    aws = SPECS[Kind.AWS]
    if set(aws.required) <= keys <= set(aws.all_fields):
        return Kind.AWS
    if fields.get("type") == "service_account" and set(GCP_FIELDS) <= keys:
        return Kind.GCP
    if "token" in keys and keys <= _TOKEN_FIELDS:
        return Kind.TOKEN
    if len(keys) == 1:
        return Kind.GENERIC
    if keys <= _DATABASE_FIELDS and keys & {"password", "url"}:
        return Kind.DATABASE
    return None


def payload_for(kind: Kind, fields: Mapping[str, str], version: int) -> Payload | str:
    """The API's payload for `fields` as a `kind` secret, checked by the domain's rules; or why not."""
    spec = SPECS[kind]
    try:
        if spec.multi_field or (kind is Kind.TOKEN and len(fields) > 1):
            encode_fields(kind, fields)
            return Payload(version=version, fields=dict(fields))
        if kind is Kind.GCP and len(fields) > 1:
            value = json.dumps(dict(fields))
        elif len(fields) == 1:
            value = next(iter(fields.values()))
        else:
            return f"kind {kind.value} takes one value; it has fields {', '.join(sorted(fields))}"
        check_single_value(kind, value.encode())
        return Payload(version=version, value=value)
    except BadRequest as exc:
        return f"not a valid {kind.value} secret: {exc.message}"


def _hint(meta: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    return next((meta[k].strip() for k in keys if meta.get(k, "").strip()), None)


def expiry_from(text: str, *, now: datetime) -> datetime:
    """An expiry as custom_metadata gives it: ISO 8601 (UTC without an offset), or 30d, 12h, 2w."""
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return parse_typed(text.strip())


def _skip(secret: KVSecret, name: str, why: str) -> Item:
    return Item(path=secret.path, name=name, action="skip", note=why)


def plan_secret(secret: KVSecret, *, name: str, source: str, now: datetime) -> Item:
    """One secret's item: its kind from the current version (or the `kind` hint), each live version that
    has that kind's shape as a payload, oldest first."""
    live = [v for v in secret.versions if v.data is not None]
    current = next((v for v in secret.versions if v.number == secret.current), secret.versions[-1])
    if current.data is None:
        return _skip(secret, name, f"its current version ({current.number}) is {current.state}")
    meta = secret.custom_metadata
    fields = _text_fields(current.data)
    if isinstance(fields, str):
        return _skip(secret, name, fields)
    hint = _hint(meta, KIND_KEYS)
    if hint is not None:
        try:
            kind: Kind | None = Kind(hint)
        except ValueError:
            return _skip(secret, name, f"custom_metadata kind {hint!r} is no sealbox kind")
    else:
        kind = infer_kind(fields)
    if kind is None:
        listed = ", ".join(sorted(fields))
        return _skip(secret, name, f"fields {listed} fit no kind; set custom_metadata kind")
    payloads, notes = _payloads(live, kind, current)
    if isinstance(payloads, str):
        return _skip(secret, name, payloads)
    described = _hint(meta, DESCRIPTION_KEYS)
    description = (described or f"from {source}").replace("\x00", "")[:MAX_DESCRIPTION]
    expires_at = None
    expiry = _hint(meta, EXPIRY_KEYS)
    if expiry is not None:
        try:
            when = expiry_from(expiry, now=now)
        except ValueError:
            return _skip(secret, name, "custom_metadata expiry is neither ISO 8601 nor like 30d")
        if when <= now:
            return _skip(secret, name, f"it expired at {when.isoformat()} (custom_metadata)")
        expires_at = when.isoformat()
    if len(fields) == 1 and kind is not Kind.AWS and next(iter(fields)) not in {"value", "token"}:
        notes.insert(0, f"the value of field {next(iter(fields))}")
    dropped = [v for v in secret.versions if v.data is None]
    if dropped:
        notes.append("left out: " + ", ".join(f"version {v.number} ({v.state})" for v in dropped))
    return Item(
        path=secret.path,
        name=name,
        action="create",
        kind=kind.value,
        description=description,
        expires_at=expires_at,
        payloads=tuple(payloads),
        note="; ".join(notes),
    )


def _payloads(live: list[KVVersion], kind: Kind, current: KVVersion) -> tuple[list[Payload] | str, list[str]]:
    payloads: list[Payload] = []
    notes: list[str] = []
    for version in live:
        fields = _text_fields(version.data or {})
        made = payload_for(kind, fields, version.number) if isinstance(fields, dict) else fields
        if isinstance(made, Payload):
            payloads.append(made)
        elif version is current:
            return made, notes
        else:
            notes.append(f"left out: version {version.number} ({made})")
    return payloads, notes


def plan(
    secrets: list[KVSecret], *, mount: str, prefix: str, existing: set[str], now: datetime
) -> list[Item]:
    """Each secret's item, given the names the importer's secrets already take. Two paths that map to
    one name: the first (in path order) is imported, the other skipped; an existing name is skipped (the
    import creates, it never replaces)."""
    items: list[Item] = []
    taken: dict[str, str] = {}
    for secret in secrets:
        relative = secret.path[len(prefix) :] if secret.path.startswith(prefix) else secret.path
        name = secret_name_for(relative)
        if name is None:
            items.append(_skip(secret, "", f"{relative} cannot be made a secret name"))
            continue
        if name in taken:
            items.append(_skip(secret, name, f"{taken[name]} becomes {name} too, and is imported"))
            continue
        taken[name] = secret.path
        if name in existing:
            items.append(_skip(secret, name, f"you have a secret {name} already (an import never replaces)"))
            continue
        items.append(plan_secret(secret, name=name, source=f"OpenBao {mount}/{secret.path}", now=now))
    return items
