"""Groups: who is in one, and how a person comes in (an invitation they accept); every step audited.

A group carries grants, so joining one is joining its access. Nobody is put into a group without a
step of their own: a manager's "add" is an invitation, which the person accepts or declines. The answer
to an invitation is the same whether or not the name belongs to anyone, so a manager cannot use it to
learn which user names exist. Admins, who may list users anyway, add directly, but only to groups they
manage; no admin adds anyone to a group they do not manage (ARCHITECTURE, Permissions: admins get no
secret through a group, neither by joining one nor by putting an account of theirs into one). Groups
made from an identity provider's claims have no managers: their members follow the claims.
"""

from __future__ import annotations

import secrets as random_ids
from datetime import datetime

from sealbox.domain.collections import (
    GROUP_ROLES,
    Collection,
    Invitation,
    MemberChange,
    Membership,
    StoredCollection,
)
from sealbox.domain.names import check_user_name, is_valid_secret_name
from sealbox.domain.principals import Principal, User
from sealbox.errors import BadRequest, Conflict, ConstraintViolation, Forbidden, NotFound
from sealbox.services.audit import record
from sealbox.services.ports import Store, UnitOfWork


def check_collection_name(name: str, what: str) -> str:
    if not is_valid_secret_name(name):
        raise BadRequest(
            f"a {what} name is 1-128 letters, digits, '.', '_' or '-'", code="invalid_name", field="name"
        )
    return name


def user_named(uow: UnitOfWork, name: str) -> User:
    check_user_name(name)
    user = uow.users.by_name(name)
    if user is None or user.is_removed:  # a removed user is granted nothing and joins nothing
        raise NotFound("no such user", field="user")
    return user


def _check_role(role: str) -> None:
    if role not in GROUP_ROLES:
        raise BadRequest("role must be member or manager", code="invalid_role", field="role")


class GroupService:
    """The group use cases (SharingService adds grants and projects)."""

    def __init__(self, db: Store) -> None:
        self.db = db

    def create_group(self, requested_by: Principal, name: str, *, now: datetime) -> Collection:
        check_collection_name(name, "group")
        try:
            with self.db.writing() as uow:
                repo = uow.sharing
                if repo.group_by_name(name) is not None:
                    raise Conflict("a group with that name exists", code="already_exists", field="name")
                group_id = random_ids.token_hex(16)
                repo.add_group(group_id=group_id, name=name, now=now, by=requested_by.user.name)
                repo.set_group_member(group_id, requested_by.user.id, "manager")
                record(uow, requested_by, "group.create", now=now, detail=f"group={name}")
                return Collection(name=name, members=repo.group_members(group_id))
        except ConstraintViolation:
            raise Conflict("a group with that name exists", code="already_exists", field="name") from None

    def _managed_group(
        self, uow: UnitOfWork, requested_by: Principal, name: str, *, adding: bool
    ) -> StoredCollection:
        """The group, if the caller may change its members. Admins see every group and may remove
        members (that only lowers access), but only a group's managers invite, add or change roles."""
        repo = uow.sharing
        group = repo.group_by_name(check_collection_name(name, "group"))
        role = repo.group_role(group.id, requested_by.user.id) if group else None
        if group is None or (role is None and not requested_by.user.is_admin):
            raise NotFound("no such group")
        if role != "manager" and (adding or not requested_by.user.is_admin):
            raise Forbidden("only the group's managers change its members")
        return group

    def set_group_member(
        self, requested_by: Principal, group: str, user: str, role: str, *, now: datetime
    ) -> MemberChange:
        """A manager's "add": a member's role changes at once; anyone else is invited (admins add).

        Returns the change, its status "member" or "invited". For an invitation the answer
        and the audit record are the same whether or not `user` names anyone: an unknown name makes no
        row, and nobody can accept what was never stored.
        """
        _check_role(role)
        check_user_name(user)
        detail = f"group={group} user={user} role={role}"
        with self.db.writing() as uow:
            found = self._managed_group(uow, requested_by, group, adding=True)
            repo = uow.sharing
            if requested_by.user.is_admin:
                member = user_named(uow, user)  # admins may list users: no name is news to them
            else:
                found_user = uow.users.by_name(user)
                if found_user is None or repo.group_role(found.id, found_user.id) is None:
                    # Not in the group (or nobody): invited. The manager sees the members, so a change
                    # of role for one of them (below) tells nothing new either.
                    if found_user is not None:
                        repo.invite(
                            group_id=found.id,
                            user_id=found_user.id,
                            role=role,
                            by=requested_by.user.name,
                            now=now,
                        )
                    record(uow, requested_by, "group.invite", now=now, detail=detail)
                    return MemberChange(group=group, user=user, role=role, status="invited")
                member = found_user
            repo.set_group_member(found.id, member.id, role)
            repo.remove_invitation(found.id, member.id)
            record(uow, requested_by, "group.member.set", now=now, detail=detail)
            return MemberChange(group=group, user=user, role=role, status="member")

    def withdraw_invitation(self, requested_by: Principal, group: str, user: str, *, now: datetime) -> None:
        """A manager takes an invitation back; the same answer whether or not there was one."""
        check_user_name(user)
        with self.db.writing() as uow:
            found = self._managed_group(uow, requested_by, group, adding=True)
            invitee = uow.users.by_name(user)
            if invitee is not None:
                uow.sharing.remove_invitation(found.id, invitee.id)
            record(uow, requested_by, "group.invite.withdraw", now=now, detail=f"group={group} user={user}")

    def remove_group_member(self, requested_by: Principal, group: str, user: str, *, now: datetime) -> None:
        check_user_name(user)
        with self.db.writing() as uow:
            found = self._managed_group(uow, requested_by, group, adding=False)
            member = uow.users.by_name(user)
            # "not a member" also for a name nobody has: the answer tells nothing about who exists.
            if member is None or not uow.sharing.remove_group_member(found.id, member.id):
                raise NotFound("not a member", field="user")
            record(uow, requested_by, "group.member.remove", now=now, detail=f"group={group} user={user}")

    def my_groups(self, requested_by: Principal) -> list[Membership]:
        with self.db.reading() as uow:
            return uow.sharing.groups_of(requested_by.user.id)

    def group(self, requested_by: Principal, name: str) -> Collection:
        with self.db.reading() as uow:
            repo = uow.sharing
            found = repo.group_by_name(check_collection_name(name, "group"))
            if found is None or (
                repo.group_role(found.id, requested_by.user.id) is None and not requested_by.user.is_admin
            ):
                raise NotFound("no such group")
            return Collection(name=name, members=repo.group_members(found.id))

    # the invited person ---------------------------------------------------------------------------
    def my_invitations(self, requested_by: Principal) -> list[Invitation]:
        with self.db.reading() as uow:
            return uow.sharing.invitations_of(requested_by.user.id)

    def _my_invitation(self, uow: UnitOfWork, requested_by: Principal, group: str) -> tuple[str, str]:
        repo = uow.sharing
        found = repo.group_by_name(check_collection_name(group, "group"))
        role = repo.invitation_role(found.id, requested_by.user.id) if found else None
        if found is None or role is None:
            raise NotFound("no such invitation", field="group")
        return found.id, role

    def accept_invitation(self, requested_by: Principal, group: str, *, now: datetime) -> Membership:
        """Join the group with the role the invitation names; returns the membership."""
        with self.db.writing() as uow:
            group_id, role = self._my_invitation(uow, requested_by, group)
            repo = uow.sharing
            repo.remove_invitation(group_id, requested_by.user.id)
            if repo.group_role(group_id, requested_by.user.id) is None:
                repo.set_group_member(group_id, requested_by.user.id, role)
            record(uow, requested_by, "group.invite.accept", now=now, detail=f"group={group} role={role}")
            return Membership(name=group, role=repo.group_role(group_id, requested_by.user.id) or role)

    def decline_invitation(self, requested_by: Principal, group: str, *, now: datetime) -> None:
        with self.db.writing() as uow:
            group_id, _ = self._my_invitation(uow, requested_by, group)
            uow.sharing.remove_invitation(group_id, requested_by.user.id)
            record(uow, requested_by, "group.invite.decline", now=now, detail=f"group={group}")
