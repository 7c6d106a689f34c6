"""Session side <-> server: the redemption of a one-time session credential, and the failure report.

Both sides decode and encode through these Structs (the server's routes in server/routes/sessions.py, the
session side in launcher/redeem.py), and the server's OpenAPI document is generated from them. The
server's half (`RedeemResponse`) is an `Answer`: a session side skips a field a newer server adds.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from sealbox.protocol.base import Answer, Message

# A session credential (`sbl_<id>_<secret>`) and an X25519 public key in base64 (32 bytes). The schema
# states them; the server checks them itself, with its own codes (invalid_public_key, a 401 for the
# credential).
CREDENTIAL_PATTERN = r"^sbl_[a-f0-9]{16}_[A-Za-z0-9_-]{43}$"
PUBLIC_KEY_RE = re.compile(r"[A-Za-z0-9+/]{43}=")
PUBLIC_KEY_PATTERN = f"^{PUBLIC_KEY_RE.pattern}$"
# What a session side may report; the server checks reports against this same list.
REPORTABLE_FAILURES = ("integrity_error", "keeper_unavailable", "launch_refused")

Credential = Annotated[str, msgspec.Meta(max_length=200, extra_json_schema={"pattern": CREDENTIAL_PATTERN})]


class RedeemRequest(Message, frozen=True):
    """POST /api/v1/sessions/{id}/redeem (no token: the credential is the authority, spent by this call)."""

    credential: Credential
    public_key: Annotated[
        str,
        msgspec.Meta(
            max_length=100,
            description="the session's ephemeral X25519 public key, base64",
            extra_json_schema={"pattern": PUBLIC_KEY_PATTERN},
        ),
    ]


class RedeemedItem(Answer, frozen=True, kw_only=True):
    name: str
    owner: str
    secret_id: str
    owner_id: str
    kind: str
    field: str | None
    file: str | None
    env: str | None
    version: int
    outer: Annotated[bytes, msgspec.Meta(description="the stored outer layer (only the keeper can open it)")]
    wrapped_dek: Annotated[bytes, msgspec.Meta(description="the data key wrapped for this session")]
    scopes: list[str] = msgspec.field(default_factory=list)


class RedeemResponse(Answer, frozen=True, kw_only=True):
    """The server's half: the ticket for the keeper, the data keys sealed to the session."""

    session_id: str
    mount_path: str
    sealed_key: bytes
    ticket: str
    keeper_url: str
    items: list[RedeemedItem]


class FailureReport(Message, frozen=True):
    """POST /api/v1/sessions/{id}/failures: how a redeemed session really ended, for the audit trail."""

    credential: Credential
    code: Annotated[str, msgspec.Meta(max_length=32, extra_json_schema={"enum": list(REPORTABLE_FAILURES)})]


class RoleReport(Message, frozen=True):
    """POST /api/v1/sessions/{id}/roles: the session side is about to assume the role an `aws-role` secret of
    this session names. The server records it first (a role assumed off the record is refused) and answers
    with the names STS is given, so CloudTrail names the person and the session."""

    credential: Credential
    secret: Annotated[str, msgspec.Meta(max_length=200, description="OWNER/NAME of the aws-role secret")]
    role_arn: Annotated[
        str, msgspec.Meta(max_length=600, pattern=r"^arn:aws[a-z-]{0,20}:iam::[0-9]{12}:role/")
    ]
    duration_seconds: Annotated[int, msgspec.Meta(ge=900, le=43200)]


class RoleAnswer(Answer, frozen=True, kw_only=True):
    """What the session side passes to STS AssumeRole: RoleSessionName and SourceIdentity."""

    role_session_name: str
    source_identity: str
