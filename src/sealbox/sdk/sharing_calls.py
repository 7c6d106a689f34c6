"""The SDK `Client`'s calls about sharing: a secret's grants, groups and projects, invitations to groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from sealbox.sdk.calls import Calls, split_ref

if TYPE_CHECKING:
    from sealbox.protocol.secret_answers import UnshareOut
    from sealbox.protocol.sharing_answers import (
        CollectionPublic,
        GrantPublic,
        InvitationPublic,
        MemberChange,
        Membership,
    )

Collections = Literal["groups", "projects"]


class SharingCalls(Calls):
    # sharing
    def share(
        self, ref: str, *, level: str, user: str | None = None, group: str | None = None
    ) -> list[GrantPublic]:
        from sealbox.protocol.sharing_answers import GrantPublic
        from sealbox.protocol.sharing_api import GrantIn

        name, params = split_ref(ref)
        body = GrantIn(level=level, user=user, group=group)
        return self._send(
            "POST", f"/api/v1/secrets/{name}/grants", list[GrantPublic], body=body, params=params
        )

    def unshare(self, ref: str, *, user: str | None = None, group: str | None = None) -> UnshareOut:
        from sealbox.protocol.secret_answers import UnshareOut

        name, params = split_ref(ref)
        kind, who = ("user", user) if user else ("group", group)
        return self._send("DELETE", f"/api/v1/secrets/{name}/grants/{kind}/{who}", UnshareOut, params=params)

    def grants(self, ref: str) -> list[GrantPublic]:
        from sealbox.protocol.sharing_answers import GrantPublic

        name, params = split_ref(ref)
        return self._send("GET", f"/api/v1/secrets/{name}/grants", list[GrantPublic], params=params)

    # groups and projects ("groups" or "projects"), and invitations to groups
    def create_collection(self, kind: Collections, name: str) -> CollectionPublic:
        """A new group (you manage it) or project (you own it)."""
        from sealbox.protocol.sharing_answers import CollectionPublic
        from sealbox.protocol.sharing_api import CollectionIn

        return self._send("POST", f"/api/v1/{kind}", CollectionPublic, body=CollectionIn(name=name))

    def memberships(self, kind: Collections) -> list[Membership]:
        """The groups or projects I belong to, and my role in each."""
        from sealbox.protocol.sharing_answers import Membership

        return self._send("GET", f"/api/v1/{kind}", list[Membership])

    def get_collection(self, kind: Collections, name: str) -> CollectionPublic:
        from sealbox.protocol.sharing_answers import CollectionPublic

        return self._send("GET", f"/api/v1/{kind}/{name}", CollectionPublic)

    def set_group_member(self, group: str, user: str, *, role: str = "member") -> MemberChange:
        """A manager changes a member's role; anyone else is invited (`status` says which)."""
        from sealbox.protocol.sharing_answers import MemberChange
        from sealbox.protocol.sharing_api import GroupMemberIn

        body = GroupMemberIn(user=user, role=role)
        return self._send("PUT", f"/api/v1/groups/{group}/members", MemberChange, body=body)

    def set_project_member(self, project: str, user: str, *, role: str = "member") -> CollectionPublic:
        from sealbox.protocol.sharing_answers import CollectionPublic
        from sealbox.protocol.sharing_api import ProjectMemberIn

        body = ProjectMemberIn(user=user, role=role)
        return self._send("PUT", f"/api/v1/projects/{project}/members", CollectionPublic, body=body)

    def remove_member(self, kind: Collections, name: str, user: str) -> None:
        self._send_empty("DELETE", f"/api/v1/{kind}/{name}/members/{user}")

    def invitations(self) -> list[InvitationPublic]:
        """The groups I am invited to (an invitation grants nothing until accepted)."""
        from sealbox.protocol.sharing_answers import InvitationPublic

        return self._send("GET", "/api/v1/invitations", list[InvitationPublic])

    def accept_invitation(self, group: str) -> Membership:
        from sealbox.protocol.sharing_answers import Membership

        return self._send("POST", f"/api/v1/invitations/{group}/accept", Membership)

    def decline_invitation(self, group: str) -> None:
        self._send_empty("DELETE", f"/api/v1/invitations/{group}")

    def withdraw_invitation(self, group: str, user: str) -> None:
        """A manager takes an invitation back (whether or not one is pending)."""
        self._send_empty("DELETE", f"/api/v1/groups/{group}/invitations/{user}")
