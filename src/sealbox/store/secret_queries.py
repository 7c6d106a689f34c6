"""The SELECTs of secret metadata, written once: the columns and joins that the repository's queries
use, and the same compiled once per dialect for the reads behind every metadata request (store/raw.py)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.sql import Select

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import UserID
from sealbox.domain.secrets import Secret, SecretID, SecretVersion
from sealbox.store.raw import Statement, utc, utc_required
from sealbox.store.tables import projects, secret_versions, secrets, users

# Every column but the expiry sweep's own bookkeeping (services/expiry.py), which no read needs.
SECRET_COLUMNS = tuple(c for c in secrets.c if c.name != "expiry_announced_days")
COLUMNS = (
    *SECRET_COLUMNS,
    users.c.name.label("owner_name"),
    projects.c.name.label("project_name"),
)


def binary(column: Any, dialect: str) -> Any:
    """Names compare byte-wise everywhere (PostgreSQL's default collation may ignore case or punctuation),
    so that pages are the same on both databases and a cursor means the same thing in SQL and Python."""
    return column.collate("C") if dialect == "postgresql" else column


def joined(query: Any) -> Any:
    return query.join(users, users.c.id == secrets.c.owner_id).outerjoin(
        projects, projects.c.id == secrets.c.project_id
    )


def secret_from_row(row: Any, versions: tuple[SecretVersion, ...] = ()) -> Secret:
    """A secret from a row of `COLUMNS` (as a query or as a compiled `Statement` gives it)."""
    (
        secret_id,
        owner_id,
        name,
        kind,
        description,
        field_names,
        created_at,
        created_by,
        updated_at,
        updated_by,
        expires_at,
        current_version,
        project_id,
        scopes,
        deleted_at,
        deleted_by,
        purge_at,
        owner_name,
        project_name,
    ) = row
    return Secret(
        id=SecretID(secret_id),
        owner_id=UserID(owner_id),
        owner_name=owner_name,
        name=name,
        kind=Kind(kind),
        description=description,
        field_names=tuple(f for f in field_names.split(",") if f),
        created_at=utc_required(created_at),
        created_by=created_by,
        updated_at=utc_required(updated_at),
        updated_by=updated_by,
        expires_at=utc(expires_at),
        current_version=current_version,
        versions=versions,
        project=project_name,
        project_id=project_id,
        scopes=tuple(json.loads(scopes)) if scopes else (),
        deleted_at=utc(deleted_at),
        deleted_by=deleted_by,
        purge_at=utc(purge_at),
    )


def metadata_query(*conditions: Any, deleted: bool = False) -> Select[Any]:
    """Secrets that are not deleted, or (`deleted`) only those in their recovery window."""
    state = secrets.c.deleted_at.is_not(None) if deleted else secrets.c.deleted_at.is_(None)
    query: Select[Any] = joined(select(*COLUMNS)).where(*conditions, state)
    return query


# The reads behind every metadata request, run as plain SQL (store/raw.py), compiled once per dialect
# from the same column list and joins as the queries below; [True]: the deleted ones, in their window.
BY_OWNER_ID = {
    deleted: Statement.compiled(
        metadata_query(
            secrets.c.owner_id == bindparam("owner_id"), secrets.c.name == bindparam("name"), deleted=deleted
        )
    )
    for deleted in (False, True)
}
BY_OWNER_NAME = {
    deleted: Statement.compiled(
        metadata_query(
            users.c.name == bindparam("owner_name"), secrets.c.name == bindparam("name"), deleted=deleted
        )
    )
    for deleted in (False, True)
}
BY_ID = Statement.compiled(metadata_query(secrets.c.id == bindparam("secret_id")))
VERSIONS = Statement.compiled(
    select(
        secret_versions.c.version,
        secret_versions.c.created_at,
        secret_versions.c.created_by,
        secret_versions.c.size,
    )
    .where(secret_versions.c.secret_id == bindparam("secret_id"))
    .order_by(secret_versions.c.version.desc())
)


def _own_page_query(dialect: str, *, after: bool, prefix: bool) -> Select[Any]:
    name = binary(secrets.c.name, dialect)
    query = metadata_query(secrets.c.owner_id == bindparam("owner_id"))
    if after:
        query = query.where(name > bindparam("name_after"))
    if prefix:
        query = query.where(*prefix_range())
    return query.order_by(name).limit(bindparam("limit"))


def prefix_range(prefix: str | None = None) -> tuple[Any, ...]:
    """Names that start with `prefix`: a range in the column's own collation (so the index serves it),
    made exact under any collation by `substr`. Without a prefix: bound parameters `prefix`,
    `prefix_end` and `prefix_length`, given when the compiled statement runs."""
    start: Any
    end: Any
    length: Any
    if prefix is None:
        start, end, length = bindparam("prefix"), bindparam("prefix_end"), bindparam("prefix_length")
    else:
        start, end, length = literal(prefix), literal(prefix + "\U0010ffff"), literal(len(prefix))
    return (secrets.c.name >= start, secrets.c.name < end, func.substr(secrets.c.name, 1, length) == start)


_OWN_PAGES: dict[tuple[bool, bool], Statement] = {}


def own_page(
    owner_id: str, name_after: str | None, prefix: str | None, limit: int
) -> tuple[Statement, dict[str, Any]]:
    """One owner's secrets by name from the (owner_id, name) index, after a name, with a prefix.

    Names order and compare byte-wise on both databases (as `binary`); the prefix range uses the
    column's own collation (so the index serves it) and `substr` makes it exact under any collation."""
    key = (name_after is not None, bool(prefix))
    stmt = _OWN_PAGES.get(key)
    if stmt is None:
        stmt = _OWN_PAGES[key] = Statement.compiled(
            _own_page_query("sqlite", after=key[0], prefix=key[1]),
            postgresql_query=_own_page_query("postgresql", after=key[0], prefix=key[1]),
        )
    params: dict[str, Any] = {"owner_id": owner_id, "limit": limit}
    if name_after is not None:
        params["name_after"] = name_after
    if prefix:
        params |= {"prefix": prefix, "prefix_end": prefix + "\U0010ffff", "prefix_length": len(prefix)}
    return stmt, params
