"""The user's choice of secrets for a JupyterHub spawn: the form, the query link, `user_options`, and checks.

`user_options` hold names only, never a value:
`{"sealbox": {"secrets": ["db", {"name": "alice/aws", "file": "aws", "env": "AWS_SECRET_ACCESS_KEY",
"field": "secret_access_key"}, {"name": "gh", "as": "git"}], "mount_path": "/secrets"}}`. A choice's
file holds the whole secret (a typed one, aws or database, is a folder with a file per field, which
`get_secret(name, field=...)` reads); a variable holds one value, so for a typed secret it holds the
field that `field` names. `as` writes the secret in the form its client reads (`sealbox run --as`).
Everything here is pure: no jupyterhub import, no network.
"""

from __future__ import annotations

import html
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sealbox.domain.formats import FORMATS, formats_for_kind
from sealbox.domain.kinds import SPECS, Kind
from sealbox.domain.sessions import DEFAULT_MOUNT_PATH, MAX_SECRETS_PER_SESSION, Mapping, check_mappings
from sealbox.domain.sessions import check_mount_path as check_session_mount_path
from sealbox.errors import BadRequest, OptionsError

KEY = "sealbox"
FORM_SECRET = "sealbox_secret"  # noqa: S105 -- a form field's name, not a credential  # nosec B105
FORM_REF = "sealbox_ref_"
FORM_FILE = "sealbox_file_"
FORM_ENV = "sealbox_env_"
FORM_FIELD = "sealbox_field_"
FORM_FORMAT = "sealbox_as_"
FORM_MOUNT = "sealbox_mount_path"


@dataclass(frozen=True, kw_only=True, slots=True)
class Choice:
    secret: str  # "name" (the user's own) or "owner/name" (shared with the user)
    file: str | None = None
    env: str | None = None
    field: str | None = None  # the field of a typed secret the variable holds
    fmt: str | None = None  # the client format its file is written in (`as`)

    def mappings(self) -> list[Mapping]:
        """As session mappings: always a file with the whole secret (named like the secret unless named
        otherwise), and the variable if one is named (with `field`, that field alone)."""
        file = Mapping(secret=self.secret, file=self.file or self.secret.rpartition("/")[2])
        if self.env is None:
            return [file]
        if self.field is None:
            return [Mapping(secret=self.secret, file=file.file, env=self.env)]
        return [file, Mapping(secret=self.secret, field=self.field, env=self.env)]


@dataclass(frozen=True, kw_only=True, slots=True)
class Selection:
    choices: tuple[Choice, ...]
    mount_path: str = DEFAULT_MOUNT_PATH

    def formats(self) -> dict[str, str]:
        """The secrets' files written in a client's format: file -> format."""
        return {c.mappings()[0].file or "": c.fmt for c in self.choices if c.fmt}

    def to_user_options(self) -> dict[str, Any]:
        return {
            KEY: {
                "secrets": [
                    {
                        "name": c.secret,
                        "file": c.file,
                        "env": c.env,
                        **({"field": c.field} if c.field else {}),
                        **({"as": c.fmt} if c.fmt else {}),
                    }
                    for c in self.choices
                ],
                "mount_path": self.mount_path,
            }
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class UsableSecret:
    """One row of the form: what the user may bring in (metadata from sealbox; never a value)."""

    ref: str
    kind: str
    description: str


def _text(value: object, what: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise OptionsError(f"{what} must be text of at most {limit} characters")
    return value.strip() or None


def parse(user_options: MappingABC[str, Any] | None) -> Selection | None:
    """The sealbox part of `user_options`, checked; None when no secret was chosen.

    Raises OptionsError for a malformed choice, a bad file or variable name, a duplicate, or a bad mount
    path. Whether the user may use each secret is for sealbox to say (at launch).
    """
    raw = (user_options or {}).get(KEY)
    if raw is None:
        return None
    if not isinstance(raw, MappingABC):
        raise OptionsError("user_options.sealbox must be an object")
    unknown = set(raw) - {"secrets", "mount_path"}
    if unknown:
        raise OptionsError("user_options.sealbox takes only 'secrets' and 'mount_path'")
    items = raw.get("secrets") or []
    if not isinstance(items, list):
        raise OptionsError("user_options.sealbox.secrets must be a list")
    if len(items) > MAX_SECRETS_PER_SESSION:
        raise OptionsError(f"at most {MAX_SECRETS_PER_SESSION} secrets")
    choices: list[Choice] = []
    for index, item in enumerate(items):
        where = f"secrets[{index}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, MappingABC) or set(item) - {"name", "file", "env", "field", "as"}:
            raise OptionsError(f"{where} must be a name or an object with name, file, env, field and as")
        name = _text(item.get("name"), f"{where}.name", 200)
        if name is None:
            raise OptionsError(f"{where} needs a name")
        choice = Choice(
            secret=name,
            file=_text(item.get("file"), f"{where}.file", 200),
            env=_text(item.get("env"), f"{where}.env", 200),
            field=_text(item.get("field"), f"{where}.field", 32),
            fmt=_text(item.get("as"), f"{where}.as", 32),
        )
        if choice.fmt is not None and choice.fmt not in FORMATS:
            raise OptionsError(f"{where}.as: unknown format; use one of: {', '.join(FORMATS)}")
        if choice.field is not None and choice.env is None:
            raise OptionsError(f"{where}.field names the field a variable holds: give env too")
        choices.append(choice)
    mount_path = _text(raw.get("mount_path"), "mount_path", 1024) or DEFAULT_MOUNT_PATH
    try:
        check_session_mount_path(mount_path)
        if mount_path.rstrip("/") in ("", "/"):
            raise BadRequest("the mount path must be below /")
        if choices:
            check_mappings([m for c in choices for m in c.mappings()])
    except BadRequest as bad:
        raise OptionsError(bad.message) from None
    if not choices:
        return None
    return Selection(choices=tuple(choices), mount_path=mount_path.rstrip("/"))


def _first(data: MappingABC[str, Sequence[str]], key: str) -> str | None:
    values = data.get(key) or []
    value = values[0] if values else None
    return value.strip() or None if isinstance(value, str) else None


def from_form(form: MappingABC[str, Sequence[str]]) -> dict[str, Any]:
    """JupyterHub form data (a dict of lists of strings) or query arguments -> `user_options`.

    The form sends `sealbox_secret` (the ticked refs) and per row `sealbox_ref_<i>`, `sealbox_file_<i>`,
    `sealbox_env_<i>`, `sealbox_as_<i>`; a link sends `sealbox_secret` several times, and
    `sealbox_file_<i>`/`sealbox_env_<i>`/`sealbox_as_<i>` for the i-th of them. Both may send
    `sealbox_mount_path`.
    """
    # JupyterHub's newer query style prefixes every option with "opt-"; take both.
    data = {k.removeprefix("opt-"): v for k, v in form.items()}
    ticked = [v.strip() for v in data.get(FORM_SECRET) or [] if isinstance(v, str) and v.strip()]
    rows = {
        value: key.removeprefix(FORM_REF)
        for key in data
        if key.startswith(FORM_REF) and (value := _first(data, key)) is not None
    }
    secrets = []
    for position, ref in enumerate(ticked):
        row = rows.get(ref, str(position))
        choice = {"name": ref, "file": _first(data, FORM_FILE + row), "env": _first(data, FORM_ENV + row)}
        field = _first(data, FORM_FIELD + row)
        if field is not None and choice["env"] is not None:  # the form always sends a typed row's field
            choice["field"] = field
        fmt = _first(data, FORM_FORMAT + row)
        if fmt is not None:
            choice["as"] = fmt
        secrets.append(choice)
    options: dict[str, Any] = {"secrets": secrets}
    mount = _first(data, FORM_MOUNT)
    if mount is not None:
        options["mount_path"] = mount
    return {KEY: options}


def render_form(
    usable: Sequence[UsableSecret],
    *,
    chosen: Selection | None = None,
    mount_path_note: str = "",
    allow_env: bool = True,
) -> str:
    """The HTML that JupyterHub puts inside its spawn form. Everything from sealbox or the user is escaped."""

    def esc(value: object) -> str:
        return html.escape(str(value), quote=True)

    picked = {c.secret: c for c in (chosen.choices if chosen else ())}
    rows = []
    for i, s in enumerate(usable):
        choice = picked.get(s.ref)
        checked = " checked" if choice else ""
        env_value = esc(choice.env or "") if choice else ""
        file_value = esc(choice.file or "") if choice else ""
        env_cell = (
            f'<td><input type="text" name="{FORM_ENV}{i}" id="{FORM_ENV}{i}" value="{env_value}"'
            f' placeholder="(none)" aria-label="variable for {esc(s.ref)}" maxlength="128">'
            f"{_field_select(s, i, choice.field if choice else None)}</td>"
            if allow_env
            else ""
        )
        rows.append(
            "<tr>"
            f'<td><input type="checkbox" name="{FORM_SECRET}" value="{esc(s.ref)}"'
            f' id="sealbox_pick_{i}"{checked}>'
            f'<input type="hidden" name="{FORM_REF}{i}" value="{esc(s.ref)}"></td>'
            f'<td><label for="sealbox_pick_{i}"><code>{esc(s.ref)}</code></label></td>'
            f"<td>{esc(s.kind)}</td><td>{esc(s.description)}</td>"
            f'<td><input type="text" name="{FORM_FILE}{i}" id="{FORM_FILE}{i}"'
            f' value="{file_value}" placeholder="{esc(s.ref.rpartition("/")[2])}"'
            f' aria-label="file name for {esc(s.ref)}" maxlength="128"></td>'
            f"{env_cell}{_format_cell(s, i, choice.fmt if choice else None)}"
            "</tr>"
        )
    mount = esc(chosen.mount_path if chosen else DEFAULT_MOUNT_PATH)
    env_head = "<th>environment variable</th>" if allow_env else ""
    table = (
        '<table class="table table-sm" id="sealbox-secrets">'
        "<thead><tr><th></th><th>secret</th><th>kind</th><th>description</th><th>file name</th>"
        f"{env_head}<th>written as</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>You have no secrets you may bring into a server here.</p>"
    )
    note = f'<p class="help-block">{esc(mount_path_note)}</p>' if mount_path_note else ""
    return (
        '<fieldset id="sealbox-options"><legend>Secrets (sealbox)</legend>'
        "<p>Tick the secrets this server should receive as files (and, if you name one, as an environment"
        " variable). Only their names are stored; the values go straight into the server.</p>"
        f"{table}"
        f'<label for="{FORM_MOUNT}">mount path</label> '
        f'<input type="text" name="{FORM_MOUNT}" id="{FORM_MOUNT}" value="{mount}" maxlength="1024">'
        f"{note}</fieldset>"
    )


def _field_select(s: UsableSecret, row: int, chosen: str | None) -> str:
    """For a typed secret (aws, database), which of its fields the variable holds: a variable holds one
    value, while the file holds them all."""
    try:
        fields = SPECS[Kind(s.kind)].all_fields
    except ValueError:
        return ""
    if not fields:
        return ""
    options = "".join(f'<option value="{f}"{" selected" if f == chosen else ""}>{f}</option>' for f in fields)
    label = html.escape(f"field of {s.ref} the variable holds", quote=True)
    return f' <select name="{FORM_FIELD}{row}" id="{FORM_FIELD}{row}" aria-label="{label}">{options}</select>'


def _format_cell(s: UsableSecret, row: int, chosen: str | None) -> str:
    """The client formats the secret's kind may be written in (`sealbox run --as`); none: as it is."""
    try:
        formats = formats_for_kind(Kind(s.kind))
    except ValueError:
        formats = ()
    if not formats:
        return "<td></td>"
    options = '<option value="">as it is</option>' + "".join(
        f'<option value="{f}"{" selected" if f == chosen else ""}>{f}</option>' for f in formats
    )
    label = html.escape(f"client format for {s.ref}", quote=True)
    name = f"{FORM_FORMAT}{row}"
    return f'<td><select name="{name}" id="{name}" aria-label="{label}">{options}</select></td>'
