"""Grants, groups and projects, and the one query that decides what a user may do with a secret."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, union_all, update
from sqlalchemy.engine import Connection

from sealbox.domain.collections import Invitation, Member, Membership, StoredCollection
from sealbox.domain.grants import Grant, Level, best
from sealbox.store.tables import (
    grants,
    group_invitations,
    group_members,
    groups,
    project_members,
    projects,
    users,
)


def _stored(row: Any) -> StoredCollection | None:
    if row is None:
        return None
    return StoredCollection(id=row[0], name=row[1], created_at=row[2], created_by=row[3])


class SharingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # groups -----------------------------------------------------------------------------------
    def group_ids_of(self, user_id: str) -> list[str]:
        return [
            r[0]
            for r in self.conn.execute(
                select(group_members.c.group_id).where(group_members.c.user_id == user_id)
            )
        ]

    def group_by_name(self, name: str) -> StoredCollection | None:
        row = self.conn.execute(
            select(groups.c.id, groups.c.name, groups.c.created_at, groups.c.created_by).where(
                groups.c.name == name
            )
        ).first()
        return _stored(row)

    def add_group(self, *, group_id: str, name: str, now: datetime, by: str) -> None:
        self.conn.execute(insert(groups).values(id=group_id, name=name, created_at=now, created_by=by))

    def group_role(self, group_id: str, user_id: str) -> str | None:
        return self.conn.execute(
            select(group_members.c.role).where(
                group_members.c.group_id == group_id, group_members.c.user_id == user_id
            )
        ).scalar()

    def set_group_member(self, group_id: str, user_id: str, role: str) -> None:
        self.conn.execute(
            delete(group_members).where(
                group_members.c.group_id == group_id, group_members.c.user_id == user_id
            )
        )
        self.conn.execute(insert(group_members).values(group_id=group_id, user_id=user_id, role=role))

    def remove_group_member(self, group_id: str, user_id: str) -> bool:
        return (
            self.conn.execute(
                delete(group_members).where(
                    group_members.c.group_id == group_id, group_members.c.user_id == user_id
                )
            ).rowcount
            == 1
        )

    def groups_of(self, user_id: str) -> list[Membership]:
        rows = self.conn.execute(
            select(groups.c.name, group_members.c.role)
            .join(group_members, group_members.c.group_id == groups.c.id)
            .where(group_members.c.user_id == user_id)
            .order_by(groups.c.name)
        )
        return [Membership(name=r[0], role=r[1]) for r in rows]

    def group_members(self, group_id: str) -> tuple[Member, ...]:
        rows = self.conn.execute(
            select(users.c.name, group_members.c.role)
            .join(users, users.c.id == group_members.c.user_id)
            .where(group_members.c.group_id == group_id)
            .order_by(users.c.name)
        )
        return tuple(Member(user=r[0], role=r[1]) for r in rows)

    # invitations: a manager invites, the person joins only by accepting ----------------------------
    def invite(self, *, group_id: str, user_id: str, role: str, by: str, now: datetime) -> None:
        """Make or renew the invitation (a second one replaces the first, with its role)."""
        self.remove_invitation(group_id, user_id)
        self.conn.execute(
            insert(group_invitations).values(
                group_id=group_id, user_id=user_id, role=role, invited_by=by, created_at=now
            )
        )

    def invitation_role(self, group_id: str, user_id: str) -> str | None:
        return self.conn.execute(
            select(group_invitations.c.role).where(
                group_invitations.c.group_id == group_id, group_invitations.c.user_id == user_id
            )
        ).scalar()

    def remove_invitation(self, group_id: str, user_id: str) -> bool:
        return (
            self.conn.execute(
                delete(group_invitations).where(
                    group_invitations.c.group_id == group_id, group_invitations.c.user_id == user_id
                )
            ).rowcount
            == 1
        )

    def invitations_of(self, user_id: str) -> list[Invitation]:
        rows = self.conn.execute(
            select(
                groups.c.name,
                group_invitations.c.role,
                group_invitations.c.invited_by,
                group_invitations.c.created_at,
            )
            .join(groups, groups.c.id == group_invitations.c.group_id)
            .where(group_invitations.c.user_id == user_id)
            .order_by(groups.c.name)
        )
        return [Invitation(group=r[0], role=r[1], invited_by=r[2], created_at=r[3]) for r in rows]

    # projects ---------------------------------------------------------------------------------
    def project_by_name(self, name: str) -> StoredCollection | None:
        row = self.conn.execute(
            select(projects.c.id, projects.c.name, projects.c.created_at, projects.c.created_by).where(
                projects.c.name == name
            )
        ).first()
        return _stored(row)

    def project_by_id(self, project_id: str) -> StoredCollection | None:
        row = self.conn.execute(
            select(projects.c.id, projects.c.name, projects.c.created_at, projects.c.created_by).where(
                projects.c.id == project_id
            )
        ).first()
        return _stored(row)

    def add_project(self, *, project_id: str, name: str, now: datetime, by: str) -> None:
        self.conn.execute(insert(projects).values(id=project_id, name=name, created_at=now, created_by=by))

    def project_role(self, project_id: str, user_id: str) -> str | None:
        return self.conn.execute(
            select(project_members.c.role).where(
                project_members.c.project_id == project_id, project_members.c.user_id == user_id
            )
        ).scalar()

    def set_project_member(self, project_id: str, user_id: str, role: str) -> None:
        self.conn.execute(
            delete(project_members).where(
                project_members.c.project_id == project_id, project_members.c.user_id == user_id
            )
        )
        self.conn.execute(insert(project_members).values(project_id=project_id, user_id=user_id, role=role))

    def remove_project_member(self, project_id: str, user_id: str) -> bool:
        return (
            self.conn.execute(
                delete(project_members).where(
                    project_members.c.project_id == project_id, project_members.c.user_id == user_id
                )
            ).rowcount
            == 1
        )

    def projects_of(self, user_id: str) -> list[Membership]:
        rows = self.conn.execute(
            select(projects.c.name, project_members.c.role)
            .join(project_members, project_members.c.project_id == projects.c.id)
            .where(project_members.c.user_id == user_id)
            .order_by(projects.c.name)
        )
        return [Membership(name=r[0], role=r[1]) for r in rows]

    def project_members(self, project_id: str) -> tuple[Member, ...]:
        rows = self.conn.execute(
            select(users.c.name, project_members.c.role)
            .join(users, users.c.id == project_members.c.user_id)
            .where(project_members.c.project_id == project_id)
            .order_by(users.c.name)
        )
        return tuple(Member(user=r[0], role=r[1]) for r in rows)

    # grants -----------------------------------------------------------------------------------
    def level_of(self, secret_id: str, user_id: str) -> Level | None:
        """The best level any grant gives `user_id` on a secret (directly or through a group)."""
        rows = self.conn.execute(
            select(grants.c.level).where(
                grants.c.secret_id == secret_id,
                or_(
                    (grants.c.grantee_type == "user") & (grants.c.grantee_id == user_id),
                    (grants.c.grantee_type == "group")
                    & grants.c.grantee_id.in_(
                        select(group_members.c.group_id).where(group_members.c.user_id == user_id)
                    ),
                ),
            )
        )
        return best([Level(r[0]) for r in rows])

    def granted_secret_ids(self, user_id: str) -> Any:
        """A subquery of the secret ids shared with `user_id` (for listing)."""
        direct = select(grants.c.secret_id).where(
            grants.c.grantee_type == "user", grants.c.grantee_id == user_id
        )
        via_group = select(grants.c.secret_id).where(
            grants.c.grantee_type == "group",
            grants.c.grantee_id.in_(
                select(group_members.c.group_id).where(group_members.c.user_id == user_id)
            ),
        )
        return union_all(direct, via_group)

    def levels_for(self, user_id: str, secret_ids: Sequence[str]) -> dict[str, Level]:
        if not secret_ids:
            return {}
        rows = self.conn.execute(
            select(grants.c.secret_id, grants.c.level).where(
                grants.c.secret_id.in_(secret_ids),
                or_(
                    (grants.c.grantee_type == "user") & (grants.c.grantee_id == user_id),
                    (grants.c.grantee_type == "group")
                    & grants.c.grantee_id.in_(
                        select(group_members.c.group_id).where(group_members.c.user_id == user_id)
                    ),
                ),
            )
        )
        found: dict[str, list[Level]] = {}
        for secret_id, level in rows:
            found.setdefault(secret_id, []).append(Level(level))
        return {k: v for k, v in ((k, best(v)) for k, v in found.items()) if v is not None}

    def set_grant(
        self, *, secret_id: str, grantee_type: str, grantee_id: str, level: Level, now: datetime, by: str
    ) -> None:
        changed = self.conn.execute(
            update(grants)
            .where(
                grants.c.secret_id == secret_id,
                grants.c.grantee_type == grantee_type,
                grants.c.grantee_id == grantee_id,
            )
            .values(level=level.value, created_at=now, created_by=by)
        ).rowcount
        if not changed:
            self.conn.execute(
                insert(grants).values(
                    secret_id=secret_id,
                    grantee_type=grantee_type,
                    grantee_id=grantee_id,
                    level=level.value,
                    created_at=now,
                    created_by=by,
                )
            )

    def remove_grant(self, *, secret_id: str, grantee_type: str, grantee_id: str) -> bool:
        return (
            self.conn.execute(
                delete(grants).where(
                    grants.c.secret_id == secret_id,
                    grants.c.grantee_type == grantee_type,
                    grants.c.grantee_id == grantee_id,
                )
            ).rowcount
            == 1
        )

    def grants_of(self, secret_id: str) -> list[Grant]:
        user_rows = select(grants, users.c.name.label("grantee_name")).join(
            users, (grants.c.grantee_type == "user") & (users.c.id == grants.c.grantee_id)
        )
        group_rows = select(grants, groups.c.name.label("grantee_name")).join(
            groups, (grants.c.grantee_type == "group") & (groups.c.id == grants.c.grantee_id)
        )
        out = []
        for query in (user_rows, group_rows):
            for r in self.conn.execute(query.where(grants.c.secret_id == secret_id)):
                m = r._mapping
                out.append(
                    Grant(
                        secret_id=m["secret_id"],
                        grantee_type=m["grantee_type"],
                        grantee_id=m["grantee_id"],
                        grantee_name=m["grantee_name"],
                        level=Level(m["level"]),
                        created_at=m["created_at"],
                        created_by=m["created_by"],
                    )
                )
        return sorted(out, key=lambda g: (g.grantee_type, g.grantee_name))
