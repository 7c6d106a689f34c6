"""Session side <-> server: the redemption of a one-time session credential, and the failure report.

The server still declares these bodies with pydantic (server/schemas/sessions.py: RedeemIn, RedeemOut,
FailureIn) until its routes decode through these Structs; tests/unit/protocol/test_sessions.py keeps the
two declarations field for field equal meanwhile.
"""

from __future__ import annotations

import msgspec

from sealbox.protocol.base import Message


class RedeemRequest(Message, frozen=True):
    """POST /api/v1/sessions/{id}/redeem (no token: the credential is the authority, spent by this call)."""

    credential: str
    public_key: str  # the session's ephemeral X25519 public key, base64


class RedeemedItem(Message, frozen=True):
    name: str
    owner: str
    secret_id: str
    owner_id: str
    kind: str
    field: str | None
    file: str | None
    env: str | None
    version: int
    outer: bytes  # the stored outer layer: only the keeper opens it
    wrapped_dek: bytes  # the data key, wrapped for this session
    scopes: list[str] = msgspec.field(default_factory=list)


class RedeemResponse(Message, frozen=True):
    """The server's half: the ticket for the keeper, the data keys sealed to the session."""

    session_id: str
    mount_path: str
    sealed_key: bytes
    ticket: str
    keeper_url: str
    items: list[RedeemedItem]


class FailureReport(Message, frozen=True):
    """POST /api/v1/sessions/{id}/failures: how a redeemed session really ended, for the audit trail."""

    credential: str
    code: str
