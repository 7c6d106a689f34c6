"""/api/v1/groups and /api/v1/projects: who shares secrets, and where project-scoped secrets may go."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from sealbox.server.bodies import struct_body
from sealbox.server.deps import ContextDep, CurrentPrincipal, now
from sealbox.server.openapi import error_answers, struct_answer, struct_request, struct_response
from sealbox.server.schemas import CollectionIn, GroupMemberIn, ProjectMemberIn
from sealbox.server.schemas.params import CollectionNamePath, UserPath
from sealbox.server.schemas.sharing import (
    CollectionPublic,
    InvitationPublic,
    MemberChange,
    Membership,
    answer,
)

router = APIRouter(
    prefix="/api/v1",
    tags=["sharing"],
    responses=error_answers(400, 401, 403, 404, 409, 422),
)
# Bodies are sealbox.protocol Structs (server.bodies); each is declared after the route's authentication.
CollectionBody = Annotated[CollectionIn, Depends(struct_body(CollectionIn))]
GroupMemberBody = Annotated[GroupMemberIn, Depends(struct_body(GroupMemberIn))]
ProjectMemberBody = Annotated[ProjectMemberIn, Depends(struct_body(ProjectMemberIn))]


@router.post(
    "/groups",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: struct_answer(CollectionPublic)},
    openapi_extra=struct_request(CollectionIn),
)
def create_group(principal: CurrentPrincipal, ctx: ContextDep, body: CollectionBody) -> Response:
    """Any user may create a group; they become its manager."""
    group = ctx.sharing.create_group(principal, body.name, now=now())
    return struct_response(answer(CollectionPublic, group), status_code=status.HTTP_201_CREATED)


@router.get("/groups", response_class=Response, responses={200: struct_answer(Membership, many=True)})
def my_groups(principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    return struct_response([answer(Membership, g) for g in ctx.sharing.my_groups(principal)])


@router.get("/groups/{name}", response_class=Response, responses={200: struct_answer(CollectionPublic)})
def get_group(name: CollectionNamePath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    return struct_response(answer(CollectionPublic, ctx.sharing.group(principal, name[:128])))


@router.put(
    "/groups/{name}/members",
    response_class=Response,
    responses={
        200: struct_answer(MemberChange),
        202: struct_answer(MemberChange, "invited: the person joins by accepting"),
    },
    openapi_extra=struct_request(GroupMemberIn),
)
def set_group_member(
    name: CollectionNamePath,
    principal: CurrentPrincipal,
    ctx: ContextDep,
    body: GroupMemberBody,
) -> Response:
    """Managers: a member's role changes at once (200); anyone else is invited (202, the same answer
    whether or not the name belongs to anyone). An admin who manages the group adds directly (200)."""
    change = answer(
        MemberChange, ctx.sharing.set_group_member(principal, name[:128], body.user, body.role, now=now())
    )
    invited = change.status == "invited"
    return struct_response(change, status_code=status.HTTP_202_ACCEPTED if invited else status.HTTP_200_OK)


@router.delete("/groups/{name}/members/{user}", status_code=status.HTTP_204_NO_CONTENT)
def remove_group_member(
    name: CollectionNamePath, user: UserPath, principal: CurrentPrincipal, ctx: ContextDep
) -> Response:
    ctx.sharing.remove_group_member(principal, name[:128], user[:64], now=now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/groups/{name}/invitations/{user}", status_code=status.HTTP_204_NO_CONTENT)
def withdraw_invitation(
    name: CollectionNamePath, user: UserPath, principal: CurrentPrincipal, ctx: ContextDep
) -> Response:
    """Managers take an invitation back (204 whether or not there was one)."""
    ctx.sharing.withdraw_invitation(principal, name[:128], user[:64], now=now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/invitations", response_class=Response, responses={200: struct_answer(InvitationPublic, many=True)}
)
def my_invitations(principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    """The groups I am invited to; an invitation grants nothing until accepted."""
    return struct_response([answer(InvitationPublic, i) for i in ctx.sharing.my_invitations(principal)])


@router.post(
    "/invitations/{group}/accept", response_class=Response, responses={200: struct_answer(Membership)}
)
def accept_invitation(group: CollectionNamePath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    return struct_response(
        answer(Membership, ctx.sharing.accept_invitation(principal, group[:128], now=now()))
    )


@router.delete("/invitations/{group}", status_code=status.HTTP_204_NO_CONTENT)
def decline_invitation(group: CollectionNamePath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    ctx.sharing.decline_invitation(principal, group[:128], now=now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: struct_answer(CollectionPublic)},
    openapi_extra=struct_request(CollectionIn),
)
def create_project(principal: CurrentPrincipal, ctx: ContextDep, body: CollectionBody) -> Response:
    """Any user may create a project; they become its owner."""
    project = ctx.sharing.create_project(principal, body.name, now=now())
    return struct_response(answer(CollectionPublic, project), status_code=status.HTTP_201_CREATED)


@router.get("/projects", response_class=Response, responses={200: struct_answer(Membership, many=True)})
def my_projects(principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    return struct_response([answer(Membership, p) for p in ctx.sharing.my_projects(principal)])


@router.get("/projects/{name}", response_class=Response, responses={200: struct_answer(CollectionPublic)})
def get_project(name: CollectionNamePath, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    return struct_response(answer(CollectionPublic, ctx.sharing.project(principal, name[:128])))


@router.put(
    "/projects/{name}/members",
    response_class=Response,
    responses={200: struct_answer(CollectionPublic)},
    openapi_extra=struct_request(ProjectMemberIn),
)
def set_project_member(
    name: CollectionNamePath, principal: CurrentPrincipal, ctx: ContextDep, body: ProjectMemberBody
) -> Response:
    project = ctx.sharing.set_project_member(principal, name[:128], body.user, body.role, now=now())
    return struct_response(answer(CollectionPublic, project))


@router.delete("/projects/{name}/members/{user}", status_code=status.HTTP_204_NO_CONTENT)
def remove_project_member(
    name: CollectionNamePath, user: UserPath, principal: CurrentPrincipal, ctx: ContextDep
) -> Response:
    ctx.sharing.remove_project_member(principal, name[:128], user[:64], now=now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
