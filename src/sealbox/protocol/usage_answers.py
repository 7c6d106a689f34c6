"""Server -> a person: what /api/v1/secrets/{name}/usage and /api/v1/stale-secrets answer.

Who received which version of a secret in which session, and when; who used it through which share;
the secrets nobody used in a number of days and the shares nobody ever used. Never a value. Like every
answer module it imports only msgspec and the standard library.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from sealbox.protocol.base import Answer, Time


class SessionUsePublic(Answer, frozen=True, kw_only=True):
    session_id: str
    user: Annotated[str, msgspec.Meta(description="the session's owner, whom the secret was delivered for")]
    launched_by: Annotated[
        str | None, msgspec.Meta(description="who started the session for its owner (a service account)")
    ] = None
    project: str | None = None
    version: int
    first_used_at: Time
    last_used_at: Time
    deliveries: int
    state: Annotated[str, msgspec.Meta(description="pending, active, ended, expired, or gone (no record)")]
    holds_version: Annotated[
        int | None, msgspec.Meta(description="the version a live session holds now (None when over)")
    ] = None


class UserUsePublic(Answer, frozen=True, kw_only=True):
    user: str
    last_used_at: Time
    deliveries: int


class ShareUsePublic(Answer, frozen=True, kw_only=True):
    grantee_type: Annotated[str, msgspec.Meta(description="user or group")]
    grantee: str
    level: str
    created_at: Time
    last_used_at: Time | None = None
    used_by: Annotated[
        list[UserUsePublic], msgspec.Meta(description="who received it through this grant (not its owner)")
    ]


class SecretUsagePublic(Answer, frozen=True, kw_only=True):
    ref: str
    access: str
    current_version: int
    created_at: Time
    last_used_at: Annotated[Time | None, msgspec.Meta(description="the last delivery; None: never used")]
    deliveries: int
    sessions: Annotated[
        list[SessionUsePublic], msgspec.Meta(description="per session and version, newest use first")
    ]
    users: list[UserUsePublic]
    shares: list[ShareUsePublic]
    live_sessions: Annotated[list[str], msgspec.Meta(description="ids of the live sessions that hold it")]
    complete: Annotated[
        bool, msgspec.Meta(description="false: you see only your own sessions' uses (use or write level)")
    ]


class StaleSecretPublic(Answer, frozen=True, kw_only=True):
    ref: str
    name: str
    owner: str
    access: str
    kind: str
    created_at: Time
    last_used_at: Time | None = None


class UnusedSharePublic(Answer, frozen=True, kw_only=True):
    ref: str
    grantee_type: str
    grantee: str
    level: str
    created_at: Time


class StaleSecrets(Answer, frozen=True, kw_only=True):
    days: int
    since: Annotated[Time, msgspec.Meta(description="stale: not used since then, and created before")]
    secrets: list[StaleSecretPublic]
    unused_shares: Annotated[
        list[UnusedSharePublic], msgspec.Meta(description="grants through which nobody ever received it")
    ]
