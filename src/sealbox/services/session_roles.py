"""A role assumed for a session (`aws-role`): on the record before the session side asks STS for it.

The server cannot read an aws-role's value (the split: only the session side opens it), so the session side
says which role it is about to assume; the server checks that the holder of this session's spent credential
asks, for a live session that brought in that aws-role secret, records the role and the session (a record
that cannot be written refuses it), and answers with the names STS is given: the session name and the
source identity, which name the person and the session in CloudTrail too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sealbox.domain.cloud_kinds import (
    MAX_DURATION_S,
    MIN_DURATION_S,
    ROLE_ARN,
    role_session_name,
    source_identity,
)
from sealbox.domain.kinds import Kind
from sealbox.errors import BadRequest, CredentialRefused, NotFound
from sealbox.services.audit import record
from sealbox.services.ports import Store
from sealbox.services.session_credentials import stored_credential


@dataclass(frozen=True, kw_only=True, slots=True)
class RoleNames:
    role_session_name: str
    source_identity: str


def record_role(
    db: Store,
    *,
    session_id: str,
    credential: str,
    secret: str,
    role_arn: str,
    duration_seconds: int,
    client_addr: str | None,
    now: datetime,
) -> RoleNames:
    """Record `session.assume-role` for `secret` (OWNER/NAME) of the session and return the STS names.

    Raises CredentialRefused (not this session's redeemed credential), NotFound (session over, or no such
    aws-role secret in it), BadRequest (a role ARN or a duration STS would refuse anyway)."""
    if not ROLE_ARN.fullmatch(role_arn):
        raise BadRequest("role_arn is not a role's ARN", code="invalid_field", field="role_arn")
    if not MIN_DURATION_S <= duration_seconds <= MAX_DURATION_S:
        raise BadRequest("duration_seconds must be 900-43200", code="invalid_field", field="duration_seconds")
    with db.writing() as uow:
        repo = uow.sessions
        stored = stored_credential(repo, credential)
        if stored is None or stored.session_id != session_id or stored.redeemed_at is None:
            raise CredentialRefused()
        session = repo.get(session_id)
        if session is None or not session.is_live(now):
            raise NotFound("no such live session")
        found = [
            s
            for s in session.secrets
            if f"{s.owner_name}/{s.secret_name}" == secret and s.kind == Kind.AWS_ROLE.value
        ]
        if not found:
            raise NotFound("this session has no such aws-role secret", field="secret")
        names = RoleNames(
            role_session_name=role_session_name(session.owner_name, session_id),
            source_identity=source_identity(session.owner_name),
        )
        record(
            uow,
            None,
            "session.assume-role",
            now=now,
            secret_id=found[0].secret_id,
            secret_name=found[0].secret_name,
            version=found[0].version,
            client_addr=client_addr,
            detail=(
                f"session={session_id} role={role_arn} duration={duration_seconds}"
                f" role_session_name={names.role_session_name} (reported by the session side)"
            ),
            on_behalf_of=session.owner_name,
            session_id=session_id,
        )
    return names
