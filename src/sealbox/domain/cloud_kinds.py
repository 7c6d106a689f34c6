"""The kind `aws-role`: a role that sealbox assumes at launch (STS AssumeRole), and its rules.

The stored value names the role and, optionally, the long-lived key pair allowed to assume it. What a
session receives is never this value: the session side mints short-lived credentials from it and delivers
those as an `aws` credential (launcher/cloud_roles.py). Kept apart from kinds.py, in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sealbox.errors import BadRequest

ROLE_FIELDS_REQUIRED = ("role_arn",)
ROLE_FIELDS_OPTIONAL = ("access_key_id", "secret_access_key", "duration", "region", "sts_endpoint")
# STS AssumeRole's bounds (a role's own MaxSessionDuration may be lower: STS then refuses, with its reason).
MIN_DURATION_S = 900
MAX_DURATION_S = 43200
DEFAULT_DURATION_S = 3600

ROLE_ARN = re.compile(r"arn:aws[a-z-]{0,20}:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
AWS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
PRINTABLE_NO_SPACE = re.compile(r"[\x21-\x7e]+")
DURATION = re.compile(r"([0-9]{1,5})([smh]?)")
# An https endpoint (another partition, a private endpoint), or plain http on the loopback only (a local STS).
STS_ENDPOINT = re.compile(
    r"https://[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]{0,200})?"
    r"|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]{0,200})?"
)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}


def duration_seconds(text: str | None) -> int:
    """The duration a role's credentials live: `3600`, `3600s`, `90m` or `12h`; 1 h when not given."""
    if text is None:
        return DEFAULT_DURATION_S
    match = DURATION.fullmatch(text)
    seconds = int(match.group(1)) * _UNIT[match.group(2)] if match else 0
    if not MIN_DURATION_S <= seconds <= MAX_DURATION_S:
        raise BadRequest(
            "duration must be 15 min to 12 h (900-43200 seconds, or like 90m or 12h)",
            code="invalid_field",
            field="duration",
        )
    return seconds


def check_aws_role(fields: Mapping[str, str]) -> None:
    """The rules of an `aws-role` value; messages name the field, never its value."""
    if not ROLE_ARN.fullmatch(fields["role_arn"]):
        raise BadRequest(
            "role_arn must look like arn:aws:iam::123456789012:role/NAME",
            code="invalid_field",
            field="role_arn",
        )
    has_id, has_secret = "access_key_id" in fields, "secret_access_key" in fields
    if has_id != has_secret:
        missing = "secret_access_key" if has_id else "access_key_id"
        raise BadRequest(
            "give both access_key_id and secret_access_key, or neither", code="missing_field", field=missing
        )
    if has_id and not AWS_KEY_ID.fullmatch(fields["access_key_id"]):
        raise BadRequest(
            "access_key_id must be 16-128 capital letters or digits",
            code="invalid_field",
            field="access_key_id",
        )
    if has_secret and not PRINTABLE_NO_SPACE.fullmatch(fields["secret_access_key"]):
        raise BadRequest(
            "secret_access_key must be printable text without spaces",
            code="invalid_field",
            field="secret_access_key",
        )
    duration_seconds(fields.get("duration"))
    region = fields.get("region")
    if region is not None and not AWS_REGION.fullmatch(region):
        raise BadRequest("region must look like eu-west-1", code="invalid_field", field="region")
    endpoint = fields.get("sts_endpoint")
    if endpoint is not None and not STS_ENDPOINT.fullmatch(endpoint):
        raise BadRequest(
            "sts_endpoint must be an https URL (plain http only on the loopback)",
            code="invalid_field",
            field="sts_endpoint",
        )


def role_session_name(person: str, session_id: str) -> str:
    """STS's RoleSessionName naming the person and the session (at most 64 of [A-Za-z0-9+=,.@_-])."""
    clean = re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", person)[:30]
    return f"sealbox.{clean}.{session_id[:24]}"[:64]


def source_identity(person: str) -> str:
    """STS's SourceIdentity: the person's name (2-64 characters; a one-letter name gets a `_`)."""
    return person if len(person) >= 2 else f"{person}_"
