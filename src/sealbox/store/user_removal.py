"""The writes of removing a user (`sealbox admin user remove`): their secrets moved or deleted, what
they could do revoked, and the account closed for good. One repository, so the removal is one unit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from sealbox.domain.secrets import OwnedVersion
from sealbox.store.tables import (
    grants,
    group_invitations,
    group_members,
    previous_user_keys,
    project_members,
    secret_versions,
    secrets,
    tokens,
    users,
)


class UserRemovalRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def owned_versions(self, owner_id: str) -> list[OwnedVersion]:
        """Every stored version of every secret the user owns, with the owner id its contexts bind."""
        rows = self.conn.execute(
            select(
                secrets.c.id,
                secrets.c.name,
                secret_versions.c.version,
                secret_versions.c.wrapped_dek,
                func.coalesce(secret_versions.c.context_owner_id, secrets.c.owner_id),
            )
            .join(secret_versions, secret_versions.c.secret_id == secrets.c.id)
            .where(secrets.c.owner_id == owner_id)
            .order_by(secrets.c.name, secret_versions.c.version)
        )
        return [
            OwnedVersion(
                secret_id=r[0], name=r[1], version=r[2], wrapped_dek=bytes(r[3]), context_owner_id=r[4]
            )
            for r in rows
        ]

    def names_taken(self, owner_id: str, names: list[str]) -> list[str]:
        """Which of these names the user already has a secret under."""
        if not names:
            return []
        rows = self.conn.execute(
            select(secrets.c.name).where(
                secrets.c.owner_id == owner_id, secrets.c.name.in_(sorted(set(names)))
            )
        )
        return sorted(r[0] for r in rows)

    def move_version(self, v: OwnedVersion, *, wrapped_dek: bytes, user_key_id: str) -> None:
        """Store a version's data key re-wrapped by the new owner's key; its contexts keep binding the
        owner id they were written under."""
        self.conn.execute(
            update(secret_versions)
            .where(secret_versions.c.secret_id == v.secret_id, secret_versions.c.version == v.version)
            .values(wrapped_dek=wrapped_dek, user_key_id=user_key_id, context_owner_id=v.context_owner_id)
        )

    def set_owner(self, secret_id: str, owner_id: str) -> None:
        self.conn.execute(update(secrets).where(secrets.c.id == secret_id).values(owner_id=owner_id))
        # The owner needs no grant on their own secret.
        self.conn.execute(
            delete(grants).where(
                grants.c.secret_id == secret_id,
                grants.c.grantee_type == "user",
                grants.c.grantee_id == owner_id,
            )
        )

    def revoke_tokens(self, user_id: str, now: datetime) -> int:
        result = self.conn.execute(
            update(tokens)
            .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)

    def remove_grants_to(self, user_id: str) -> int:
        result = self.conn.execute(
            delete(grants).where(grants.c.grantee_type == "user", grants.c.grantee_id == user_id)
        )
        return int(result.rowcount)

    def remove_memberships(self, user_id: str) -> int:
        """Group and project memberships and open group invitations; how many there were."""
        removed = 0
        for table in (group_members, group_invitations, project_members):
            removed += int(self.conn.execute(delete(table).where(table.c.user_id == user_id)).rowcount)
        return removed

    def mark_removed(self, user_id: str, now: datetime) -> None:
        """Disabled for good and the user key deleted (the row stays: the audit names it, and its name is
        not given to anybody else)."""
        self.conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(removed_at=now, disabled_at=func.coalesce(users.c.disabled_at, now), user_key=b"")
        )
        self.conn.execute(delete(previous_user_keys).where(previous_user_keys.c.user_id == user_id))
