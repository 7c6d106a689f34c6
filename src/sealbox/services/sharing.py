"""Sharing use cases: grants on secrets, groups and projects; every change audited."""

from __future__ import annotations

import secrets as random_ids
from dataclasses import dataclass
from datetime import datetime

from sealbox.domain.collections import PROJECT_ROLES, Collection, Membership, StoredCollection
from sealbox.domain.grants import Grant, Level, parse_level
from sealbox.domain.principals import Principal
from sealbox.domain.sessions import LiveSession
from sealbox.errors import BadRequest, Conflict, ConstraintViolation, Forbidden, NotFound
from sealbox.services.access import resolve
from sealbox.services.audit import record
from sealbox.services.groups import GroupService, check_collection_name, user_named
from sealbox.services.ports import UnitOfWork


@dataclass(frozen=True, kw_only=True, slots=True)
class Grantee:
    kind: str  # user or group
    name: str


def _grantee_id(uow: UnitOfWork, grantee: Grantee) -> str:
    if grantee.kind == "user":
        return user_named(uow, grantee.name).id
    if grantee.kind == "group":
        found = uow.sharing.group_by_name(check_collection_name(grantee.name, "group"))
        if found is None:
            raise NotFound("no such group", field="group")
        return found.id
    raise BadRequest("share with a user or a group", code="invalid_grantee", field="grantee")


class SharingService(GroupService):
    """Grants and projects; the group use cases come from GroupService (services/groups.py)."""

    # grants -----------------------------------------------------------------------------------
    def share(
        self,
        requested_by: Principal,
        name: str,
        *,
        owner: str | None,
        grantee: Grantee,
        level: str,
        now: datetime,
    ) -> list[Grant]:
        wanted = parse_level(level)
        with self.db.writing() as uow:
            secret = resolve(uow, requested_by, name, owner, Level.MANAGE)
            grantee_id = _grantee_id(uow, grantee)
            if grantee.kind == "user" and grantee_id == secret.owner_id:
                raise BadRequest("the owner already has every level", code="invalid_grantee", field="user")
            repo = uow.sharing
            repo.set_grant(
                secret_id=secret.id,
                grantee_type=grantee.kind,
                grantee_id=grantee_id,
                level=wanted,
                now=now,
                by=requested_by.user.name,
            )
            record(
                uow,
                requested_by,
                "secret.share",
                now=now,
                secret_id=secret.id,
                secret_name=secret.ref,
                version=secret.current_version,
                detail=f"{grantee.kind}={grantee.name} level={wanted.value}",
            )
            return repo.grants_of(secret.id)

    def unshare(
        self, requested_by: Principal, name: str, *, owner: str | None, grantee: Grantee, now: datetime
    ) -> list[LiveSession]:
        """Revoke a grant; returns the live sessions that still hold the value, for the owner to end."""
        with self.db.writing() as uow:
            secret = resolve(uow, requested_by, name, owner, Level.MANAGE)
            grantee_id = _grantee_id(uow, grantee)
            if not uow.sharing.remove_grant(
                secret_id=secret.id, grantee_type=grantee.kind, grantee_id=grantee_id
            ):
                raise NotFound("no such grant")
            record(
                uow,
                requested_by,
                "secret.unshare",
                now=now,
                secret_id=secret.id,
                secret_name=secret.ref,
                version=secret.current_version,
                detail=f"{grantee.kind}={grantee.name}",
            )
            live = uow.sessions.live_for_secret(secret.id, now)
            # Only the sessions of whom the grant named: the user, or the group's members.
            if grantee.kind == "user":
                revoked = {grantee.name}
            else:
                revoked = {m.user for m in uow.sharing.group_members(grantee_id)}
        return [s for s in live if s.owner in revoked and s.owner != secret.owner_name]

    def grants(self, requested_by: Principal, name: str, *, owner: str | None) -> list[Grant]:
        """All grants for the owner and `manage` grantees; for others, only the grants that reach them."""
        with self.db.reading() as uow:
            secret = resolve(uow, requested_by, name, owner, Level.USE)
            repo = uow.sharing
            every = repo.grants_of(secret.id)
            if secret.access in (Level.OWNER.value, Level.MANAGE.value):
                return every
            mine = {g.name for g in repo.groups_of(requested_by.user.id)}
            return [
                g
                for g in every
                if (g.grantee_type == "user" and g.grantee_id == requested_by.user.id)
                or (g.grantee_type == "group" and g.grantee_name in mine)
            ]

    # projects ---------------------------------------------------------------------------------
    def create_project(self, requested_by: Principal, name: str, *, now: datetime) -> Collection:
        check_collection_name(name, "project")
        try:
            with self.db.writing() as uow:
                repo = uow.sharing
                if repo.project_by_name(name) is not None:
                    raise Conflict("a project with that name exists", code="already_exists", field="name")
                project_id = random_ids.token_hex(16)
                repo.add_project(project_id=project_id, name=name, now=now, by=requested_by.user.name)
                repo.set_project_member(project_id, requested_by.user.id, "owner")
                record(uow, requested_by, "project.create", now=now, detail=f"project={name}")
                return Collection(name=name, members=repo.project_members(project_id))
        except ConstraintViolation:
            raise Conflict("a project with that name exists", code="already_exists", field="name") from None

    def _owned_project(self, uow: UnitOfWork, requested_by: Principal, name: str) -> StoredCollection:
        repo = uow.sharing
        project = repo.project_by_name(check_collection_name(name, "project"))
        role = repo.project_role(project.id, requested_by.user.id) if project else None
        if project is None or (role is None and not requested_by.user.is_admin):
            raise NotFound("no such project")
        if role != "owner" and not requested_by.user.is_admin:
            raise Forbidden("only the project's owners change its members")
        return project

    def set_project_member(
        self, requested_by: Principal, project: str, user: str, role: str, *, now: datetime
    ) -> Collection:
        if role not in PROJECT_ROLES:
            raise BadRequest("role must be member or owner", code="invalid_role", field="role")
        with self.db.writing() as uow:
            found = self._owned_project(uow, requested_by, project)
            member = user_named(uow, user)
            repo = uow.sharing
            repo.set_project_member(found.id, member.id, role)
            record(
                uow,
                requested_by,
                "project.member.set",
                now=now,
                detail=f"project={project} user={user} role={role}",
            )
            return Collection(name=project, members=repo.project_members(found.id))

    def remove_project_member(
        self, requested_by: Principal, project: str, user: str, *, now: datetime
    ) -> None:
        with self.db.writing() as uow:
            found = self._owned_project(uow, requested_by, project)
            member = user_named(uow, user)
            if not uow.sharing.remove_project_member(found.id, member.id):
                raise NotFound("not a member")
            record(
                uow, requested_by, "project.member.remove", now=now, detail=f"project={project} user={user}"
            )

    def my_projects(self, requested_by: Principal) -> list[Membership]:
        with self.db.reading() as uow:
            return uow.sharing.projects_of(requested_by.user.id)

    def project(self, requested_by: Principal, name: str) -> Collection:
        with self.db.reading() as uow:
            repo = uow.sharing
            found = repo.project_by_name(check_collection_name(name, "project"))
            if found is None or (
                repo.project_role(found.id, requested_by.user.id) is None and not requested_by.user.is_admin
            ):
                raise NotFound("no such project")
            return Collection(name=name, members=repo.project_members(found.id))
