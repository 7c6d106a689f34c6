"""What the usage routes answer: the Structs of protocol.usage_answers, built from domain.usage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealbox.protocol.usage_answers import (
    SecretUsagePublic,
    SessionUsePublic,
    ShareUsePublic,
    StaleSecretPublic,
    StaleSecrets,
    UnusedSharePublic,
    UserUsePublic,
)

if TYPE_CHECKING:
    from sealbox.domain.usage import SecretUsage, StaleReport, UserUse

USAGE_STRUCTS = (SecretUsagePublic, StaleSecrets)


def _user(u: UserUse) -> UserUsePublic:
    return UserUsePublic(user=u.user, last_used_at=u.last_used_at, deliveries=u.deliveries)


def usage_public(u: SecretUsage) -> SecretUsagePublic:
    return SecretUsagePublic(
        ref=u.ref,
        access=u.access,
        current_version=u.current_version,
        created_at=u.created_at,
        last_used_at=u.last_used_at,
        deliveries=u.deliveries,
        sessions=[
            SessionUsePublic(
                session_id=s.session_id,
                user=s.user,
                launched_by=s.launched_by,
                project=s.project,
                version=s.version,
                first_used_at=s.first_used_at,
                last_used_at=s.last_used_at,
                deliveries=s.deliveries,
                state=s.state,
                holds_version=s.holds_version,
            )
            for s in u.sessions
        ],
        users=[_user(x) for x in u.users],
        shares=[
            ShareUsePublic(
                grantee_type=g.grantee_type,
                grantee=g.grantee,
                level=g.level,
                created_at=g.created_at,
                last_used_at=g.last_used_at,
                used_by=[_user(x) for x in g.used_by],
            )
            for g in u.shares
        ],
        live_sessions=list(u.live_sessions),
        complete=u.complete,
    )


def stale_public(r: StaleReport) -> StaleSecrets:
    return StaleSecrets(
        days=r.days,
        since=r.since,
        secrets=[
            StaleSecretPublic(
                ref=s.ref,
                name=s.name,
                owner=s.owner,
                access=s.access,
                kind=s.kind,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
            )
            for s in r.secrets
        ],
        unused_shares=[
            UnusedSharePublic(
                ref=g.ref,
                grantee_type=g.grantee_type,
                grantee=g.grantee,
                level=g.level,
                created_at=g.created_at,
            )
            for g in r.unused_shares
        ],
    )
