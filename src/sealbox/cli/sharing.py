"""`sealbox secret share|unshare|grants`, `sealbox group ...`, `sealbox project ...`."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from sealbox.cli.output import fail, print_json, print_table, when
from sealbox.cli.secrets import client

UserOpt = Annotated[str | None, typer.Option("--user", help="a user name")]
RoleOpt = Annotated[str, typer.Option(help="member; or manager (of a group), owner (of a project)")]
GroupOpt = Annotated[str | None, typer.Option("--group", help="a group name")]
CollectionName = Annotated[str, typer.Argument(metavar="NAME", help="the group's or project's name")]
MemberArg = Annotated[str, typer.Argument(metavar="USER", help="a user name")]


def _one_grantee(user: str | None, group: str | None) -> None:
    if (user is None) == (group is None):
        fail("give exactly one of --user or --group")


def share(
    name: Annotated[str, typer.Argument(help="NAME, or OWNER/NAME for a secret you manage")],
    level: Annotated[str, typer.Option(help="use, write or manage")],
    user: UserOpt = None,
    group: GroupOpt = None,
) -> None:
    """Share a secret with a user or a group at a level (use: bring into sessions only; write; manage)."""
    _one_grantee(user, group)
    with client() as c:
        c.share(name, level=level, user=user, group=group)
    typer.echo(f"shared {name} with {'user ' + user if user else 'group ' + str(group)} at level {level}")


def unshare(name: str, user: UserOpt = None, group: GroupOpt = None) -> None:
    """Revoke a grant; lists live sessions that still hold the value (`sealbox session end` ends one)."""
    _one_grantee(user, group)
    with client() as c:
        result = c.unshare(name, user=user, group=group)
    typer.echo(f"revoked; later launches of {name} by them are refused")
    for s in result.live_sessions:
        typer.echo(f"  still live: session {s.id} of {s.owner} (until {when(s.expires_at, 'T')})")


def grants(name: str, as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Who a secret is shared with."""
    with client() as c:
        items = c.grants(name)
    if as_json:
        print_json(items)
        return
    print_table(
        ["TYPE", "WHO", "LEVEL", "BY", "SINCE"],
        [[g.grantee_type, g.grantee, g.level, g.created_by, when(g.created_at, "T")] for g in items],
    )


_ABOUT = {
    "group": "Groups: share a secret with a group (`sealbox secret share NAME --group G`) and every member "
    "gets it at that level. Its managers invite members (who join by accepting) and remove them.",
    "project": "Projects: a secret scoped to a project (`secret add --project P`) can be brought only into "
    "that project's sessions (`sealbox run --project P`). Its owner adds and removes members.",
}


def _collection_app(kind: Literal["group", "project"], manager_role: str) -> typer.Typer:
    app = typer.Typer(help=_ABOUT[kind], no_args_is_help=True)
    path: Literal["groups", "projects"] = "groups" if kind == "group" else "projects"

    @app.command("create", help=f"Create a {kind}; you become its {manager_role}.")
    def create(name: CollectionName) -> None:
        with client() as c:
            c.create_collection(path, name)
        typer.echo(f"created {kind} {name}; you are its {manager_role}")

    @app.command("ls", help=f"The {kind}s you belong to, and your role in each.")
    def list_(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
        with client() as c:
            items = c.memberships(path)
        if as_json:
            print_json(items)
        else:
            print_table(["NAME", "ROLE"], [[i.name, i.role] for i in items])

    @app.command("show", help=f"The members of a {kind} you belong to, and their roles.")
    def show(
        name: CollectionName, as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False
    ) -> None:
        with client() as c:
            data = c.get_collection(path, name)
        if as_json:
            print_json(data)
        else:
            print_table(["MEMBER", "ROLE"], [[m.user, m.role] for m in data.members])

    @app.command(
        "add",
        help=f"Add a user to a {kind}, or change their role (needs {manager_role}); "
        "to a group, a manager invites (they join by `sealbox group accept`).",
    )
    def add(name: CollectionName, user: MemberArg, role: RoleOpt = "member") -> None:
        invited = False
        with client() as c:
            if kind == "group":
                invited = c.set_group_member(name, user, role=role).status == "invited"
            else:
                c.set_project_member(name, user, role=role)
        if invited:
            typer.echo(f"invited {user} to group {name} as {role}; they join when they accept")
        else:
            typer.echo(f"{user} is now a {role} of {kind} {name}")

    @app.command("rm", help=f"Remove a user from a {kind} (needs {manager_role}).")
    def remove(name: CollectionName, user: MemberArg) -> None:
        with client() as c:
            c.remove_member(path, name, user)
        typer.echo(f"removed {user} from {kind} {name}")

    return app


group_app = _collection_app("group", "manager")
project_app = _collection_app("project", "owner")


@group_app.command("invitations")
def invitations(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The groups you are invited to (an invitation grants nothing until you accept it)."""
    with client() as c:
        items = c.invitations()
    if as_json:
        print_json(items)
        return
    print_table(
        ["GROUP", "ROLE", "INVITED BY", "SINCE"],
        [[i.group, i.role, i.invited_by, when(i.created_at)] for i in items],
    )


@group_app.command("accept")
def accept(name: CollectionName) -> None:
    """Accept an invitation: join the group (and so whatever is shared with it)."""
    with client() as c:
        joined = c.accept_invitation(name)
    typer.echo(f"you are now a {joined.role} of group {name}")


@group_app.command("decline")
def decline(name: CollectionName) -> None:
    """Decline an invitation."""
    with client() as c:
        c.decline_invitation(name)
    typer.echo(f"declined the invitation to group {name}")


@group_app.command("uninvite")
def uninvite(name: CollectionName, user: MemberArg) -> None:
    """Take back an invitation you made as a manager (whether or not it is still pending)."""
    with client() as c:
        c.withdraw_invitation(name, user)
    typer.echo(f"no invitation of {user} to group {name} is pending")
