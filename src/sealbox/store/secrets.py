"""Secrets and their encrypted versions."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from sealbox.crypto.wrapping import StoredVersion
from sealbox.domain.secrets import Secret, SecretVersion
from sealbox.store.inserts import insert_into
from sealbox.store.outer_layers import OuterLayers
from sealbox.store.raw import RawReader, Statement, utc_required
from sealbox.store.secret_queries import (
    BY_ID,
    BY_OWNER_ID,
    BY_OWNER_NAME,
    COLUMNS,
    VERSIONS,
    binary,
    joined,
    metadata_query,
    own_page,
    prefix_range,
    secret_from_row,
)
from sealbox.store.tables import grants, secret_versions, secrets, users

# The write path's statements, written once (store/inserts.py): one create runs _EXISTS, _INSERT_SECRET
# and _INSERT_VERSION; one replace _BUMP, _INSERT_VERSION and _PRUNE.
_INSERT_SECRET = insert_into(
    secrets,
    (
        "id",
        "owner_id",
        "name",
        "kind",
        "description",
        "field_names",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "expires_at",
        "current_version",
        "project_id",
        "scopes",
    ),
)
_INSERT_VERSION = insert_into(
    secret_versions,
    (
        "secret_id",
        "version",
        "created_at",
        "created_by",
        "size",
        "wrapped_dek",
        "user_key_id",
        "outer",
        "keeper_key_id",
    ),
)
_EXISTS = Statement.of("SELECT id FROM secrets WHERE owner_id = ? AND name = ?")
_BUMP = Statement.of(
    "UPDATE secrets SET current_version = ?, updated_at = ?, updated_by = ?"
    " WHERE id = ? AND current_version = ? AND deleted_at IS NULL"
)
_PRUNE = Statement.of("DELETE FROM secret_versions WHERE secret_id = ? AND version <= ?")


class SecretRepository(OuterLayers):
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self, secret: Secret, stored: StoredVersion, *, size: int, user_key_id: str, keeper_key_id: str
    ) -> None:
        raw = RawReader(self.conn)
        raw.execute(
            _INSERT_SECRET,
            (
                secret.id,
                secret.owner_id,
                secret.name,
                secret.kind.value,
                secret.description,
                ",".join(secret.field_names),
                raw.time_param(secret.created_at),
                secret.created_by,
                raw.time_param(secret.updated_at),
                secret.updated_by,
                None if secret.expires_at is None else raw.time_param(secret.expires_at),
                1,
                secret.project_id,
                json.dumps(list(secret.scopes)) if secret.scopes else None,
            ),
        )
        self._add_version(
            raw,
            secret.id,
            1,
            stored,
            at=secret.created_at,
            by=secret.created_by,
            size=size,
            user_key_id=user_key_id,
            keeper_key_id=keeper_key_id,
        )

    @staticmethod
    def _add_version(
        raw: RawReader,
        secret_id: str,
        version: int,
        stored: StoredVersion,
        *,
        at: datetime,
        by: str,
        size: int,
        user_key_id: str,
        keeper_key_id: str,
    ) -> None:
        raw.execute(
            _INSERT_VERSION,
            (
                secret_id,
                version,
                raw.time_param(at),
                by,
                size,
                stored.wrapped_dek,
                user_key_id,
                stored.outer,
                keeper_key_id,
            ),
        )

    def exists(self, *, owner_id: str, name: str) -> bool:
        return RawReader(self.conn).one(_EXISTS, (owner_id, name)) is not None

    def get(
        self, *, owner_id: str, name: str, with_versions: bool = True, deleted: bool = False
    ) -> Secret | None:
        return self._one(BY_OWNER_ID[deleted], {"owner_id": owner_id, "name": name}, with_versions)

    def get_by_owner_name(
        self, *, owner_name: str, name: str, with_versions: bool = True, deleted: bool = False
    ) -> Secret | None:
        return self._one(BY_OWNER_NAME[deleted], {"owner_name": owner_name, "name": name}, with_versions)

    def get_by_id(self, secret_id: str) -> Secret | None:
        return self._one(BY_ID, {"secret_id": secret_id}, False)

    def _one(self, stmt: Statement, params: dict[str, str], with_versions: bool) -> Secret | None:
        raw = RawReader(self.conn)
        row = raw.one(stmt, params)
        if row is None:
            return None
        versions: tuple[SecretVersion, ...] = ()
        if with_versions:
            versions = tuple(
                SecretVersion(
                    version=version, created_at=utc_required(created_at), created_by=created_by, size=size
                )
                for version, created_at, created_by, size in raw.all(VERSIONS, {"secret_id": row[0]})
            )
        return secret_from_row(row, versions)

    def get_many(self, *, owner_id: str, names: list[str]) -> dict[str, Secret]:
        """Several of one owner's secrets by name, in one query (no versions)."""
        rows = self.conn.execute(
            joined(select(*COLUMNS)).where(
                secrets.c.owner_id == owner_id,
                secrets.c.name.in_(sorted(set(names))),
                secrets.c.deleted_at.is_(None),
            )
        )
        return {r[2]: secret_from_row(r) for r in rows}

    def page(
        self,
        *,
        owner_id: str,
        owner_name: str,
        after: tuple[str, str] | None,
        limit: int,
        prefix: str | None = None,
        shared_ids: Any = None,
    ) -> list[Secret]:
        """One page of what a user can see (own, plus `shared_ids`), ordered by (owner, name).

        Keyset pagination without OFFSET: own secrets come from the (owner, name) index with a LIMIT,
        shared ones from their own LIMITed query, and at most 2 x limit rows are merged here.
        """
        rows: list[Secret] = []
        dialect = self.conn.dialect.name
        name_col = binary(secrets.c.name, dialect)
        owner_col = binary(users.c.name, dialect)
        # Own secrets (most of a page): hand-written SQL, see `own_page`.
        if after is None or after[0] <= owner_name:
            name_after = after[1] if after is not None and after[0] == owner_name else None
            stmt, params = own_page(owner_id, name_after, prefix, limit)
            sql = stmt.sqlite if dialect == "sqlite" else stmt.postgresql
            rows += [
                secret_from_row(r)
                for r in self.conn.exec_driver_sql(sql, stmt.positional(dialect == "sqlite", params))
            ]
        if shared_ids is not None:
            shared = joined(select(*COLUMNS)).where(
                secrets.c.id.in_(shared_ids), secrets.c.owner_id != owner_id, secrets.c.deleted_at.is_(None)
            )
            if after is not None:
                shared = shared.where(
                    tuple_(owner_col, name_col) > tuple_(literal(after[0]), literal(after[1]))
                )
            rows += [
                secret_from_row(r)
                for r in self.conn.execute(
                    (shared.where(*prefix_range(prefix)) if prefix else shared)
                    .order_by(owner_col, name_col)
                    .limit(limit)
                )
            ]
        rows.sort(key=lambda s: (s.owner_name, s.name))
        return rows[:limit]

    def set_scopes(self, secret_id: str, scopes: tuple[str, ...]) -> None:
        self.conn.execute(
            update(secrets)
            .where(secrets.c.id == secret_id)
            .values(scopes=json.dumps(list(scopes)) if scopes else None)
        )

    def add_version(
        self,
        secret: Secret,
        stored: StoredVersion,
        *,
        expected_version: int,
        at: datetime,
        by: str,
        size: int,
        user_key_id: str,
        keeper_key_id: str,
        keep: int,
    ) -> int | None:
        """Append a version if the current one is still `expected_version`; None when it moved on."""
        new_version = expected_version + 1
        raw = RawReader(self.conn)
        # A delete that committed meanwhile (deleted_at set) gets no version either.
        bumped = raw.execute(_BUMP, (new_version, raw.time_param(at), by, secret.id, expected_version))
        if bumped != 1:
            return None
        self._add_version(
            raw,
            secret.id,
            new_version,
            stored,
            at=at,
            by=by,
            size=size,
            user_key_id=user_key_id,
            keeper_key_id=keeper_key_id,
        )
        raw.execute(_PRUNE, (secret.id, new_version - keep))
        return new_version

    def update_metadata(
        self,
        secret_id: str,
        *,
        description: str | None,
        expires_at: datetime | None,
        set_expiry: bool,
        at: datetime,
        by: str,
    ) -> None:
        values: dict[str, object] = {"updated_at": at, "updated_by": by}
        if description is not None:
            values["description"] = description
        if set_expiry:
            values["expires_at"] = expires_at
            values["expiry_announced_days"] = None  # a new expiry gets its own notices
        self.conn.execute(update(secrets).where(secrets.c.id == secret_id).values(**values))

    def set_field_names(self, secret_id: str, names: tuple[str, ...]) -> None:
        self.conn.execute(
            update(secrets).where(secrets.c.id == secret_id).values(field_names=",".join(names))
        )

    def mark_deleted(self, secret_id: str, *, at: datetime, by: str, purge_at: datetime) -> bool:
        """Into the recovery window, if it is not there already."""
        result = self.conn.execute(
            update(secrets)
            .where(secrets.c.id == secret_id, secrets.c.deleted_at.is_(None))
            .values(deleted_at=at, deleted_by=by, purge_at=purge_at)
        )
        return result.rowcount == 1

    def restore(self, secret_id: str, *, now: datetime) -> bool:
        """Out of the recovery window, if it is still in it (not purged, window not over)."""
        result = self.conn.execute(
            update(secrets)
            .where(secrets.c.id == secret_id, secrets.c.deleted_at.is_not(None), secrets.c.purge_at > now)
            .values(deleted_at=None, deleted_by=None, purge_at=None)
        )
        return result.rowcount == 1

    def deleted(self, *, owner_id: str, managed_ids: Any, now: datetime, limit: int) -> list[Secret]:
        """The secrets in their recovery window that the owner has or manages (`managed_ids`), by
        owner then name."""
        owner_col = binary(users.c.name, self.conn.dialect.name)
        name_col = binary(secrets.c.name, self.conn.dialect.name)
        query = metadata_query(
            (secrets.c.owner_id == owner_id) | secrets.c.id.in_(managed_ids),
            secrets.c.purge_at > now,
            deleted=True,
        )
        return [
            secret_from_row(r) for r in self.conn.execute(query.order_by(owner_col, name_col).limit(limit))
        ]

    def due_for_purge(self, *, now: datetime, limit: int) -> list[Secret]:
        """Deleted secrets whose recovery window is over."""
        query = metadata_query(secrets.c.purge_at <= now, deleted=True).order_by(secrets.c.purge_at)
        return [secret_from_row(r) for r in self.conn.execute(query.limit(limit))]

    def expiring_unannounced(self, *, before: datetime, days: int, limit: int) -> list[Secret]:
        """Live secrets expiring by `before` whose notice of `days` (or a closer one) is not written."""
        announced = secrets.c.expiry_announced_days
        query = metadata_query(
            secrets.c.expires_at <= before, or_(announced.is_(None), announced > days)
        ).order_by(secrets.c.expires_at)
        return [secret_from_row(r) for r in self.conn.execute(query.limit(limit))]

    def mark_expiry_announced(self, secret_id: str, *, days: int, expires_at: datetime) -> bool:
        """Note the notice of `days` as written, unless another sweep did or the expiry moved meanwhile."""
        announced = secrets.c.expiry_announced_days
        result = self.conn.execute(
            update(secrets)
            .where(
                secrets.c.id == secret_id,
                secrets.c.expires_at == expires_at,
                or_(announced.is_(None), announced > days),
            )
            .values(expiry_announced_days=days)
        )
        return result.rowcount == 1

    def purge(self, secret_id: str, *, due_by: datetime | None = None) -> bool:
        """Remove a secret for good with its versions and grants; with `due_by`, only one deleted whose
        window ended by then (two sweeps racing: one of them removes it, the other finds nothing)."""
        condition = [secrets.c.id == secret_id]
        if due_by is not None:
            condition += [secrets.c.deleted_at.is_not(None), secrets.c.purge_at <= due_by]
        found = self.conn.execute(select(secrets.c.id).where(*condition).with_for_update()).first()
        if found is None:
            return False
        self.conn.execute(delete(grants).where(grants.c.secret_id == secret_id))
        self.conn.execute(delete(secret_versions).where(secret_versions.c.secret_id == secret_id))
        return self.conn.execute(delete(secrets).where(*condition)).rowcount == 1

    def material(self, secret_id: str, version: int) -> tuple[bytes, bytes] | None:
        """The wrapped data key and the outer ciphertext of one version."""
        row = self.conn.execute(
            select(secret_versions.c.wrapped_dek, secret_versions.c.outer).where(
                secret_versions.c.secret_id == secret_id, secret_versions.c.version == version
            )
        ).first()
        return (bytes(row[0]), bytes(row[1])) if row else None

    def count_for(self, owner_id: str) -> int:
        return int(
            self.conn.execute(
                select(func.count()).select_from(secrets).where(secrets.c.owner_id == owner_id)
            ).scalar_one()
        )
