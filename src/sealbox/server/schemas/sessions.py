"""Bodies of /api/v1/sessions and /api/v1/service/sessions: the Structs of sealbox.protocol, built here.

The declarations are the protocol's (session_api: what a person or a service sends; session_answers:
the session the API shows; sessions: the redemption and the failure report the session side sends);
this module turns the services' results into them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealbox.protocol.session_answers import (
    ServiceUsableSecret,
    SessionCreated,
    SessionPublic,
    SessionSecretPublic,
)
from sealbox.protocol.session_api import (
    CredentialCreate,
    ServiceFetchIn,
    ServiceSecretIn,
    ServiceSessionSecretIn,
    SessionCreate,
    SessionSecretIn,
)
from sealbox.protocol.sessions import (
    FailureReport,
    RedeemedItem,
    RedeemRequest,
    RedeemResponse,
    RoleAnswer,
    RoleReport,
)

if TYPE_CHECKING:
    from datetime import datetime

    from sealbox.domain.secrets import Secret
    from sealbox.domain.sessions import Session
    from sealbox.services.session_credentials import IssuedCredential
    from sealbox.services.session_redemption import Redemption

# The Structs the OpenAPI document carries for these routes (those they name come along).
SESSION_STRUCTS = (
    SessionCreate,
    CredentialCreate,
    SessionCreated,
    SessionPublic,
    ServiceFetchIn,
    ServiceUsableSecret,
    RedeemRequest,
    RedeemResponse,
    FailureReport,
    RoleReport,
    RoleAnswer,
)

__all__ = [
    "SESSION_STRUCTS",
    "CredentialCreate",
    "FailureReport",
    "RedeemRequest",
    "RedeemResponse",
    "RedeemedItem",
    "RoleAnswer",
    "RoleReport",
    "ServiceFetchIn",
    "ServiceSecretIn",
    "ServiceSessionSecretIn",
    "ServiceUsableSecret",
    "SessionCreate",
    "SessionCreated",
    "SessionPublic",
    "SessionSecretIn",
    "SessionSecretPublic",
    "redeem_response",
    "service_usable_secret",
    "session_created",
    "session_public",
]


def session_public(s: Session, *, now: datetime) -> SessionPublic:
    """The session as the API shows it, in its state at `now`."""
    return SessionPublic(
        id=s.id,
        owner=s.owner_name,
        project=s.project,
        mount_path=s.mount_path,
        status=s.state(now),
        created_at=s.created_at,
        expires_at=s.expires_at,
        ended_at=s.ended_at,
        heartbeat_seconds=s.heartbeat_seconds,
        last_seen_at=s.last_seen_at,
        secrets=[
            SessionSecretPublic(
                name=i.secret_name,
                owner=i.owner_name,
                kind=i.kind,
                field=i.field,
                file=i.file,
                env=i.env,
                version=i.version,
                current_version=i.current_version,
            )
            for i in s.secrets
        ],
    )


def session_created(issued: IssuedCredential, *, now: datetime, keeper_url: str) -> SessionCreated:
    """A session and its fresh one-time credential."""
    return SessionCreated(
        session=session_public(issued.session, now=now),
        session_credential=issued.value,
        credential_expires_at=issued.expires_at,
        keeper_url=keeper_url,
    )


def redeem_response(result: Redemption, *, keeper_url: str) -> RedeemResponse:
    """The server's half of a redeemed session."""
    return RedeemResponse(
        session_id=result.session.id,
        mount_path=result.session.mount_path,
        sealed_key=result.sealed_key,
        ticket=result.ticket,
        keeper_url=keeper_url,
        items=[
            RedeemedItem(
                name=i.secret.secret_name,
                owner=i.secret.owner_name,
                secret_id=i.secret.secret_id,
                owner_id=i.secret.owner_id,
                kind=i.secret.kind,
                field=i.secret.field,
                file=i.secret.file,
                env=i.secret.env,
                version=i.secret.version,
                outer=i.outer,
                wrapped_dek=i.wrapped_dek,
                scopes=list(i.scopes),
            )
            for i in result.items
        ],
    )


def service_usable_secret(s: Secret, *, for_user: str) -> ServiceUsableSecret:
    """A secret `for_user` may bring into a session through a service, as that user refers to it."""
    return ServiceUsableSecret(
        ref=s.name if s.owner_name == for_user else s.ref,
        name=s.name,
        owner=s.owner_name,
        kind=s.kind.value,
        description=s.description,
        fields=list(s.field_names),
        project=s.project,
    )
