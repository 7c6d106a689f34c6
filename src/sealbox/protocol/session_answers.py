"""Server -> a person or a service: the session as the API shows it, and a new session's credential.

What every /api/v1/sessions route, POST /api/v1/service/sessions and GET
/api/v1/service/users/{user}/secrets answer (built by server/schemas/sessions.py), decoded by the SDK's
`Client` and the CLI. Imports only msgspec and the standard library.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from sealbox.protocol.base import Answer


class SessionSecretPublic(Answer, frozen=True, kw_only=True):
    name: str
    owner: str
    kind: str
    field: str | None
    file: str | None
    env: str | None
    version: Annotated[int, msgspec.Meta(description="the version last delivered to the session")]
    current_version: Annotated[
        int | None, msgspec.Meta(description="the secret's version now; null once deleted")
    ]


class SessionPublic(Answer, frozen=True, kw_only=True):
    id: str
    owner: str
    project: str | None
    mount_path: str
    status: Annotated[
        str,
        msgspec.Meta(
            description="pending, active, ended, or expired (over without being ended: past expires_at, or "
            "not heard from for 3 heartbeat intervals)"
        ),
    ]
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    secrets: list[SessionSecretPublic]
    heartbeat_seconds: Annotated[
        int | None, msgspec.Meta(description="null: the session side does not call in")
    ] = None
    last_seen_at: Annotated[
        datetime | None, msgspec.Meta(description="when the session side last called in")
    ] = None


class SessionCreated(Answer, frozen=True, kw_only=True):
    """A new session, or a fresh credential for one: redeem the credential on the session side."""

    session: SessionPublic
    session_credential: Annotated[
        str, msgspec.Meta(description="one-time, expires within a minute; redeem it on the session side")
    ]
    credential_expires_at: datetime
    keeper_url: str


class ServiceUsableSecret(Answer, frozen=True, kw_only=True):
    """GET /api/v1/service/users/{user}/secrets: a secret the user may bring into a session through this
    service; metadata only."""

    ref: Annotated[
        str, msgspec.Meta(description="`name` for the user's own, `owner/name` for one shared with them")
    ]
    name: str
    owner: str
    kind: str
    description: str
    fields: list[str]
    project: str | None
