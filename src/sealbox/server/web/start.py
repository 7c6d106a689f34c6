"""/web/start: "Start with secrets" (RenkuLab's "start with options"): pick secrets, get a command or a link.

The person ticks secrets they may use (their own and those shared with them), optionally a file name, an
environment variable and the form a client reads (`--as FORMAT`, for the kinds that have one) for each, and
a mount path; the page answers with a ready `sealbox run` command
(each argument quoted for a POSIX shell) and, when `SEALBOX_JUPYTERHUB_URL` is set, a JupyterHub spawn
link carrying the secrets' names and the mount path (`sealbox_secret`, `sealbox_mount_path`, then any
file name or variable as `sealbox_file_<i>`/`sealbox_env_<i>`), which the hub's sealbox module reads.
Nothing starts here and no value is ever on the page: the session begins when the command runs (or the
hub spawns), and then shows on /web/sessions.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from sealbox.domain.formats import formats_for_kind
from sealbox.domain.kinds import SPECS, Kind
from sealbox.domain.principals import Principal
from sealbox.domain.sessions import Mapping, check_mappings, check_mount_path
from sealbox.errors import BadRequest
from sealbox.server.context import AppContext
from sealbox.server.web.pages import Ctx, Signed, form_fields, render

router = APIRouter(prefix="/web", include_in_schema=False)

DEFAULT_MOUNT_PATH = "/secrets"
DEFAULT_COMMAND = "jupyter lab"
MAX_LISTED = 500
MAX_COMMAND = 2000
# `sealbox run --secret a.password` means the field `password` of `a`: a name ending so cannot be named.
_FIELDS = frozenset(f for spec in SPECS.values() for f in spec.all_fields)


@dataclass
class Choice:
    """One row of the form: a secret the person may use, and what they chose for it."""

    ref: str  # NAME for one's own, OWNER/NAME for a shared one: what `sealbox run --secret` takes
    name: str
    owner: str
    kind: str
    description: str
    project: str | None
    multi_field: bool
    chosen: bool = False
    file: str = ""
    env: str = ""
    fmt: str = ""  # `--as FORMAT`: the form a client reads (empty: the plain file)
    errors: list[str] = field(default_factory=list)

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats a secret of this kind may be written in."""
        try:
            return formats_for_kind(Kind(self.kind))
        except ValueError:
            return ()


def usable_secrets(ctx: AppContext, principal: Principal) -> list[Choice]:
    """My secrets and those shared with me (every listed one is at least `use`), in (owner, name) order."""
    rows: list[Choice] = []
    cursor: str | None = None
    me = principal.user.name
    while len(rows) < MAX_LISTED:
        page = ctx.secrets.page(principal, cursor=cursor, limit=100, prefix=None)
        for s in page.items:
            rows.append(
                Choice(
                    ref=s.name if s.owner_name == me else s.ref,
                    name=s.name,
                    owner=s.owner_name,
                    kind=s.kind.value,
                    description=s.description,
                    project=s.project,
                    multi_field=SPECS[s.kind].multi_field,
                )
            )
        cursor = page.next_cursor
        if cursor is None:
            break
    return rows[:MAX_LISTED]


@dataclass(frozen=True, kw_only=True, slots=True)
class Started:
    command: str
    hub_link: str | None


def build(
    choices: list[Choice], *, mount_path: str, command: str, hub_url: str | None
) -> tuple[Started | None, dict[str, str]]:
    """The `sealbox run` command and the hub link for the chosen rows, or the errors to show."""
    errors: dict[str, str] = {}
    chosen = [c for c in choices if c.chosen]
    if not chosen:
        errors["secrets"] = "choose at least one secret"
    try:
        mount = check_mount_path(mount_path)
    except BadRequest as exc:
        errors["mount_path"] = exc.message
        mount = mount_path
    try:
        argv = shlex.split(command) if len(command) <= MAX_COMMAND else []
    except ValueError:
        argv = []
    if not argv:
        errors["command"] = "give the command to run (quotes balanced)"
    projects = {c.project for c in chosen}
    if len(projects) > 1:
        errors["secrets"] = "these secrets belong to different projects; a session has at most one"
    mappings: list[Mapping] = []
    for c in chosen:
        if c.name.rpartition(".")[2] in _FIELDS and "." in c.name:
            c.errors.append("`sealbox run` would read the end of this name as a field; rename the secret")
            continue
        if c.fmt and c.fmt not in c.formats:
            c.errors.append(
                f"choose one of the formats a {c.kind} secret has: {', '.join(c.formats) or 'none'}"
            )
            continue
        file = c.file or c.ref.rpartition("/")[2]
        rows = [Mapping(secret=c.ref, field=None, file=file)]
        if c.env:
            if c.multi_field:
                c.errors.append(f"a variable takes one field of a {c.kind} secret; use the file")
                continue
            rows.append(Mapping(secret=c.ref, field=None, env=c.env))
        for m in rows:
            try:
                m.validated()
            except BadRequest as exc:
                c.errors.append(exc.message)
        mappings.extend(rows)
    if any(c.errors for c in chosen):
        errors["secrets"] = "correct the marked secrets"
    elif mappings:
        try:
            check_mappings(mappings)
        except BadRequest as exc:
            errors["secrets"] = exc.message
    if errors:
        return None, errors
    args = ["sealbox", "run"]
    for c in chosen:
        args += ["--secret", f"{c.ref}:{c.file}" if c.file else c.ref]
        if c.fmt:
            args += ["--as", c.fmt]
        if c.env:
            args += ["--env", f"{c.env}={c.ref}"]
    args += ["--mount-path", mount]
    project = projects.pop()
    if project is not None:
        args += ["--project", project]
    link = None
    if hub_url:
        query = [("sealbox_secret", c.ref) for c in chosen] + [("sealbox_mount_path", mount)]
        # The hub's module reads the i-th secret's file name, variable and format as sealbox_file_<i>,
        # sealbox_env_<i> and sealbox_as_<i>.
        for i, c in enumerate(chosen):
            query += [(f"sealbox_file_{i}", c.file)] if c.file else []
            query += [(f"sealbox_env_{i}", c.env)] if c.env else []
            query += [(f"sealbox_as_{i}", c.fmt)] if c.fmt else []
        link = f"{hub_url.rstrip('/')}/hub/spawn?{urlencode(query, quote_via=quote, safe='/')}"
    return Started(command=shlex.join([*args, "--", *argv]), hub_link=link), {}


def _page(
    request: Request,
    principal: Principal,
    csrf: str,
    choices: list[Choice],
    *,
    mount_path: str,
    command: str,
    started: Started | None = None,
    errors: dict[str, str] | None = None,
    hub: bool,
) -> HTMLResponse:

    context: dict[str, Any] = {
        "user": principal.user,
        "csrf": csrf,
        "choices": choices,
        "mount_path": mount_path,
        "command": command,
        "started": started,
        "errors": errors or {},
        "hub": hub,
    }
    return render(request, "start.html", 400 if errors else 200, **context)


@router.get("/start", response_class=HTMLResponse)
def start_page(request: Request, ctx: Ctx, signed: Signed) -> HTMLResponse:
    principal, csrf = signed
    return _page(
        request,
        principal,
        csrf,
        usable_secrets(ctx, principal),
        mount_path=DEFAULT_MOUNT_PATH,
        command=DEFAULT_COMMAND,
        hub=bool(ctx.settings.jupyterhub_url),
    )


@router.post("/start", response_class=HTMLResponse)
async def start(request: Request, ctx: Ctx, signed: Signed) -> HTMLResponse:
    principal, csrf = signed
    form = await form_fields(request, csrf)
    choices = usable_secrets(ctx, principal)
    # Rows are keyed by the secret's ref, looked up in our own list of what this person may use: a ref the
    # form made up matches no row, and a secret shared since the page was loaded shifts nothing.
    for c in choices:
        c.chosen = form.get(f"use:{c.ref}") == "on"
        c.file = form.get(f"file:{c.ref}", "").strip()[:256]
        c.env = form.get(f"env:{c.ref}", "").strip()[:256]
        c.fmt = form.get(f"as:{c.ref}", "").strip()[:32]
    mount_path = form.get("mount_path", "").strip()[:1024] or DEFAULT_MOUNT_PATH
    command = form.get("command", "").strip()[:MAX_COMMAND]
    started, errors = build(
        choices, mount_path=mount_path, command=command, hub_url=ctx.settings.jupyterhub_url
    )
    return _page(
        request,
        principal,
        csrf,
        choices,
        mount_path=mount_path,
        command=command,
        started=started,
        errors=errors,
        hub=bool(ctx.settings.jupyterhub_url),
    )
