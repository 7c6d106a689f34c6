"""A secret's usage (who received which version in which session, through which share, and when), the
stale secrets and the shares nobody used; the warning that names the live sessions holding a secret.

Usage follows the access rule (services/access.py): a secret the caller cannot see is a 404, as a
missing one; its owner and `manage` grantees see every use, and a `use` or `write` grantee only the
uses of their own sessions and the grants that reach them, as they see only their own live sessions.
"""

from __future__ import annotations

from datetime import datetime

from sealbox.domain.grants import Grant, Level
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import Secret
from sealbox.domain.sessions import LiveSession, session_is_live
from sealbox.domain.usage import (
    SecretUsage,
    SessionUse,
    ShareUse,
    StaleReport,
    StaleSecret,
    UnusedShare,
    UserUse,
    is_stale,
    stale_since,
)
from sealbox.errors import BadRequest, Conflict
from sealbox.services.access import resolve, visible_sessions
from sealbox.services.ports import Store, UnitOfWork

MAX_USES_LISTED = 500
MAX_MESSAGE = 300  # sealbox.transport keeps a server's message up to this long


class UsageService:
    def __init__(self, db: Store) -> None:
        self.db = db

    def usage(
        self, requested_by: Principal, name: str, *, owner: str | None, now: datetime, limit: int = 100
    ) -> SecretUsage:
        """The usage of `owner/name` the caller may see (needs `use`; NotFound without access)."""
        if not 1 <= limit <= MAX_USES_LISTED:
            raise BadRequest(f"limit must be 1-{MAX_USES_LISTED}", code="invalid_limit", field="limit")
        with self.db.reading() as uow:
            secret = resolve(uow, requested_by, name, owner, Level.USE)
            complete = secret.access in (Level.OWNER.value, Level.MANAGE.value)
            only = None if complete else requested_by.user.name
            reads = uow.usage
            users = tuple(
                UserUse(user=u, last_used_at=at, deliveries=n)
                for u, at, n in reads.user_uses(secret.id, user=only)
            )
            sessions = _session_uses(uow, secret.id, only, limit, now)
            shares = _share_uses(uow, secret, requested_by, users, complete)
            live = visible_sessions(secret, requested_by, uow.sessions.live_for_secret(secret.id, now))
        return SecretUsage(
            secret_id=secret.id,
            ref=secret.ref,
            access=secret.access,
            current_version=secret.current_version,
            created_at=secret.created_at,
            last_used_at=max((u.last_used_at for u in users), default=None),
            deliveries=sum(u.deliveries for u in users),
            sessions=sessions,
            users=users,
            shares=shares,
            live_sessions=tuple(s.id for s in live),
            complete=complete,
        )

    def stale(self, requested_by: Principal, *, days: int, now: datetime) -> StaleReport:
        """The secrets the caller owns or manages that nobody used in `days` days (and older than that),
        and their grants through which nobody ever received them."""
        since = stale_since(now, days)
        me = requested_by.user
        with self.db.reading() as uow:
            sharing = uow.sharing
            found = uow.usage.candidates(me.id, sharing.granted_secret_ids(me.id))
            levels = sharing.levels_for(me.id, [r[0] for r in found if r[2] != me.name])
            mine = [
                (r, Level.OWNER if r[2] == me.name else levels[r[0]])
                for r in found
                if r[2] == me.name or levels.get(r[0]) == Level.MANAGE
            ]
            ids = [r[0] for r, _ in mine]
            last = uow.usage.last_uses(ids)
            granted = uow.usage.grants_on(ids)
            members = uow.usage.member_names(sorted({g[2] for g in granted if g[1] == "group"}))
        by_secret: dict[str, datetime] = {}
        for (sid, _user), at in last.items():
            by_secret[sid] = max(at, by_secret.get(sid, at))
        refs = {r[0]: (r[1] if r[2] == me.name else f"{r[2]}/{r[1]}") for r, _ in mine}
        owners = {r[0]: r[2] for r, _ in mine}
        stale = tuple(
            StaleSecret(
                secret_id=r[0],
                ref=refs[r[0]],
                name=r[1],
                owner=r[2],
                access=level.value,
                kind=r[3],
                created_at=r[4],
                last_used_at=by_secret.get(r[0]),
            )
            for r, level in mine
            if is_stale(created_at=r[4], last_used_at=by_secret.get(r[0]), since=since)
        )
        unused = tuple(
            UnusedShare(ref=refs[sid], grantee_type=kind, grantee=grantee, level=level, created_at=at)
            for sid, kind, gid, grantee, level, at in granted
            if not any(
                (sid, u) in last
                for u in (members.get(gid, set()) if kind == "group" else {grantee}) - {owners[sid]}
            )
        )
        return StaleReport(days=days, since=since, secrets=stale, unused_shares=unused)


def check_not_held(secret: Secret, live: list[LiveSession], *, what: str) -> None:
    """Conflict (409 secret_in_use) naming the live sessions that hold `secret`, when there are any: as
    many as a client shows of a message (MAX_MESSAGE), the count of the rest after them."""
    if not live:
        return
    advice = f"; end them (`sealbox session end ID`) or {what} with force (`--force`; the API: `force=true`)"
    named: list[str] = []
    for s in live:
        if len(_in_use([*named, f"{s.id} ({s.owner})"], len(live), advice)) > MAX_MESSAGE:
            break
        named.append(f"{s.id} ({s.owner})")
    raise Conflict(_in_use(named, len(live), advice), code="secret_in_use", field="force")


def _in_use(named: list[str], count: int, advice: str) -> str:
    more = f" and {count - len(named)} more" if count > len(named) else ""
    return f"{count} live session(s) hold it: {', '.join(named)}{more}{advice}"


def _session_uses(
    uow: UnitOfWork, secret_id: str, only: str | None, limit: int, now: datetime
) -> tuple[SessionUse, ...]:
    reads = uow.usage
    rows = reads.session_uses(secret_id, user=only, limit=limit)
    ids = sorted({r[0] for r in rows if r[0]})
    held = reads.sessions_of(secret_id, ids)
    launched = reads.launchers(secret_id, ids)
    out = []
    for sid, user, version, first, last, count in rows:
        state, project, holds = "gone", None, None
        if sid in held:
            status, expires, heartbeat, seen, project, holds = held[sid]
            live = session_is_live(
                status=status, expires_at=expires, heartbeat_seconds=heartbeat, last_seen_at=seen, now=now
            )
            state = status if status == "ended" or live else "expired"
        out.append(
            SessionUse(
                session_id=sid or "",
                user=user or "",
                launched_by=launched.get(sid or ""),
                project=project,
                version=version or 0,
                first_used_at=first,
                last_used_at=last,
                deliveries=count,
                state=state,
                holds_version=holds if state in ("pending", "active") else None,
            )
        )
    return tuple(out)


def _share_uses(
    uow: UnitOfWork, secret: Secret, requested_by: Principal, users: tuple[UserUse, ...], complete: bool
) -> tuple[ShareUse, ...]:
    sharing = uow.sharing
    every: list[Grant] = sharing.grants_of(secret.id)
    if not complete:  # as SharingService.grants: only the grants that reach the caller
        mine = {g.name for g in sharing.groups_of(requested_by.user.id)}
        every = [
            g
            for g in every
            if (g.grantee_type == "user" and g.grantee_id == requested_by.user.id)
            or (g.grantee_type == "group" and g.grantee_name in mine)
        ]
    members = uow.usage.member_names([g.grantee_id for g in every if g.grantee_type == "group"])
    out = []
    for g in every:
        covered = members.get(g.grantee_id, set()) if g.grantee_type == "group" else {g.grantee_name}
        out.append(
            ShareUse(
                grantee_type=g.grantee_type,
                grantee=g.grantee_name,
                level=g.level.value,
                created_at=g.created_at,
                used_by=tuple(u for u in users if u.user in covered and u.user != secret.owner_name),
            )
        )
    return tuple(out)
