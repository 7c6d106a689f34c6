"""The checks a launch makes on each secret it brings in, with errors that name the secret.

A launch names its secrets as `name` or `owner/name`; the errors repeat that reference as the caller
wrote it (it has passed the name rules by then: letters, digits, '.', '_', '-', one '/'), never a value.
`field` stays the position (`secrets[1]`) for programs.
"""

from __future__ import annotations

from datetime import datetime

from sealbox.domain.grants import Level, split_ref
from sealbox.domain.kinds import SPECS, Kind
from sealbox.domain.principals import Principal, Purposes
from sealbox.domain.sessions import Mapping, SessionSecret
from sealbox.errors import BadRequest, Conflict, Forbidden, NotFound
from sealbox.services.access import resolve
from sealbox.services.ports import UnitOfWork


def _where(index: int) -> str:
    return f"secrets[{index}]"


def no_such_secret(ref: str, index: int) -> NotFound:
    """The one answer for a secret that does not exist and one the caller may not use."""
    return NotFound(f'no such secret "{ref}", or not one you may use', field=_where(index))


def check_project_scope(
    ref: str, index: int, *, project_id: str | None, project_name: str | None, session_project: str | None
) -> None:
    """A project-scoped secret goes only into sessions launched for that project (by its members)."""
    if project_id is not None and project_name != session_project:
        raise Forbidden(
            f'secret "{ref}" can only be used in sessions of its project (--project {project_name})',
            code="project_scope",
            field=_where(index),
        )


def purpose_not_allowed(ref: str, index: int) -> Forbidden:
    return Forbidden(
        f'secret "{ref}" is not among this service\'s allowed purposes',
        code="purpose_not_allowed",
        field=_where(index),
    )


def check_field(kind: Kind, m: Mapping, index: int, *, stored_fields: tuple[str, ...]) -> None:
    """The field a mapping selects exists for the kind and in this secret's value (`stored_fields`)."""
    spec = SPECS[kind]
    where = _where(index)
    if m.field is not None:
        if not spec.multi_field:
            raise BadRequest(
                f'secret "{m.secret}" is of kind {kind.value}, which has no fields',
                code="invalid_field",
                field=where,
            )
        if m.field not in spec.all_fields:
            raise BadRequest(
                f'secret "{m.secret}" is of kind {kind.value}, whose fields are {", ".join(spec.all_fields)}',
                code="invalid_field",
                field=where,
            )
        if m.field not in stored_fields:
            # An optional field this secret's value does not have (an aws secret without a region):
            # refused here, so that no launch starts that would write an empty file or variable.
            stored = ", ".join(stored_fields) or "none"
            raise BadRequest(
                f'secret "{m.secret}" has no field {m.field} (its fields: {stored})',
                code="missing_field",
                field=where,
            )
    elif spec.multi_field and m.env is not None:
        raise BadRequest(
            f'secret "{m.secret}" is of kind {kind.value}: a variable takes one of its fields'
            f" ({', '.join(spec.all_fields)}), as NAME.FIELD",
            code="invalid_field",
            field=where,
        )


def check_not_expired(
    ref: str, expires_at: datetime | None, now: datetime, *, field: str | None = None
) -> None:
    """A secret past its `expires_at` is delivered nowhere (launch, redemption, refresh, service fetch):
    its owner, or a `manage` grantee, sets a new expiry or removes it, and it works again."""
    if expires_at is not None and expires_at <= now:
        raise Conflict(
            f'secret "{ref}" expired at {expires_at:%Y-%m-%d %H:%M} UTC: its owner can set a new expiry'
            " (`sealbox secret update NAME --expires 30d`) or remove it (`--no-expiry`)",
            code="secret_expired",
            field=field,
        )


def session_secrets(
    uow: UnitOfWork,
    subject: Principal,
    mappings: list[Mapping],
    *,
    project: str | None,
    purposes: Purposes | None,
    now: datetime,
    expired: list[str] | None = None,
) -> list[SessionSecret]:
    """Each mapping's secret as the session will hold it, at its current version, after every check:
    it exists and `subject` may use it, its project scope, the service's purposes, its field, its expiry.
    With `expired` (a launch with --allow-expired), an expired secret is let through and its reference
    appended there, for the audit record."""
    user = subject.user
    refs = [split_ref(m.secret) for m in mappings]
    own = [name for owner, name in refs if owner is None or owner == user.name]
    by_name = uow.secrets.get_many(owner_id=user.id, names=own)
    items: list[SessionSecret] = []
    for index, (m, (owner, name)) in enumerate(zip(mappings, refs, strict=True)):
        try:
            found = (
                by_name.get(name)
                if owner is None or owner == user.name
                else resolve(uow, subject, name, owner, Level.USE)
            )
        except (NotFound, Forbidden, BadRequest):
            found = None
        if found is None:
            raise no_such_secret(m.secret, index)
        check_project_scope(
            m.secret, index, project_id=found.project_id, project_name=found.project, session_project=project
        )
        if purposes is not None and not purposes.allow(kind=found.kind.value, name=found.name, ref=found.ref):
            raise purpose_not_allowed(m.secret, index)
        check_field(found.kind, m, index, stored_fields=found.field_names)
        if expired is not None and found.expires_at is not None and found.expires_at <= now:
            expired.append(m.secret)
        else:
            check_not_expired(m.secret, found.expires_at, now, field=f"secrets[{index}]")
        items.append(
            SessionSecret(
                secret_id=found.id,
                secret_name=found.name,
                owner_id=found.owner_id,
                owner_name=found.owner_name,
                kind=found.kind.value,
                field=m.field,
                file=m.file,
                env=m.env,
                version=found.current_version,
            )
        )
    return items
