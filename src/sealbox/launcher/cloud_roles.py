"""Short-lived AWS credentials minted on the session side from an `aws-role` secret (STS AssumeRole).

An aws-role secret arrives like any other, opened here from the server's and the keeper's halves. Its key
pair (the one allowed to assume the role) is used for one STS call and dropped: what the session receives is
an `aws` credential with a session token, so every `--as aws | aws-process` form and every `NAME.FIELD`
works with it. Before the call the server records the role and the session (services/session_roles.py) and
names the STS session after the person and the session. Nothing here writes, prints or logs a key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from sealbox.domain.cloud_kinds import duration_seconds
from sealbox.domain.kinds import Kind, decode_fields
from sealbox.errors import BadRequest, ClientError, Unavailable
from sealbox.protocol.sessions import RoleAnswer, RoleReport

if TYPE_CHECKING:
    from sealbox.launcher.redeem import Delivered

# STS's global endpoint answers for us-east-1; a secret's region picks its regional endpoint.
DEFAULT_REGION = "us-east-1"

Report = Callable[[RoleReport], RoleAnswer]


class Minted(msgspec.Struct, frozen=True, kw_only=True):
    """One role's credentials as STS gave them; `fields` are an aws secret's. Never printed."""

    fields: dict[str, str]
    expires_at: float  # seconds since the epoch
    renew_at: float  # half-way through its life: `--refresh` mints anew from here on

    def __repr__(self) -> str:
        return f"Minted(expires_at={self.expires_at})"


def mint_roles(items: tuple[Delivered, ...], *, credential: str, report: Report) -> tuple[Delivered, ...]:
    """The delivered items with each aws-role replaced by an aws credential minted for this session.

    Raises BadRequest (no key pair, or botocore missing), ClientError (STS refused: its error code only),
    Unavailable (STS cannot be reached). A role that two items bring in is assumed once."""
    minted: dict[tuple[str, str, int], Minted] = {}
    out = []
    for item in items:
        if item.kind != Kind.AWS_ROLE.value:
            out.append(item)
            continue
        key = (item.owner, item.name, item.version)
        if key not in minted:
            minted[key] = _assume(item, credential=credential, report=report)
        done = minted[key]
        out.append(
            msgspec.structs.replace(
                item,
                kind=Kind.AWS.value,
                value=json.dumps(done.fields, sort_keys=True, separators=(",", ":")).encode(),
                renew_at=done.renew_at,
            )
        )
    return tuple(out)


def renewal_due(items: tuple[Delivered, ...], now: float) -> bool:
    """Whether a minted credential is past half its life (`--refresh` then redeems and mints anew)."""
    return any(i.renew_at is not None and now >= i.renew_at for i in items)


def _assume(item: Delivered, *, credential: str, report: Report) -> Minted:
    ref = f"{item.owner}/{item.name}"
    fields = decode_fields(item.value)
    if not fields.get("access_key_id") or not fields.get("secret_access_key"):
        raise BadRequest(
            f'secret "{ref}" names a role but no key pair allowed to assume it; this server does not'
            " assume roles with its own identity (see docs/cloud-credentials.md)",
            code="role_without_keys",
        )
    duration = duration_seconds(fields.get("duration"))
    names = report(
        RoleReport(credential=credential, secret=ref, role_arn=fields["role_arn"], duration_seconds=duration)
    )
    region = fields.get("region")
    started = time.time()
    answer = _call_sts(
        ref,
        fields,
        region=region,
        RoleArn=fields["role_arn"],
        RoleSessionName=names.role_session_name,
        SourceIdentity=names.source_identity,
        DurationSeconds=duration,
    )
    given = answer["Credentials"]
    expiration: datetime = given["Expiration"]
    expires_at = expiration.timestamp()
    out = {
        "access_key_id": str(given["AccessKeyId"]),
        "secret_access_key": str(given["SecretAccessKey"]),
        "session_token": str(given["SessionToken"]),
        "expiration": expiration.isoformat(),
    }
    if region:
        out["region"] = region
    return Minted(fields=out, expires_at=expires_at, renew_at=started + max(0.0, expires_at - started) / 2)


def _call_sts(ref: str, fields: dict[str, str], *, region: str | None, **call: Any) -> dict[str, Any]:
    """One AssumeRole with the stored key pair; the client and its keys go out of scope on return."""
    try:
        import botocore.session
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ParamValidationError
        from botocore.exceptions import ClientError as AWSClientError
    except ImportError:
        raise BadRequest(
            f'secret "{ref}" is an aws-role: assuming it needs botocore (pip install "sealbox[aws]")',
            code="botocore_missing",
        ) from None
    client = botocore.session.Session().create_client(
        "sts",
        region_name=region or DEFAULT_REGION,
        endpoint_url=fields.get("sts_endpoint"),
        aws_access_key_id=fields["access_key_id"],
        aws_secret_access_key=fields["secret_access_key"],
        config=Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}),
    )
    try:
        answer: dict[str, Any] = client.assume_role(**call)
    except AWSClientError as refused:
        # Only STS's error code: its message may quote the request.
        code = str(refused.response.get("Error", {}).get("Code", "unknown"))[:64]
        raise ClientError(403, "role_refused", f'STS refused to assume the role of "{ref}": {code}') from None
    except ParamValidationError:
        raise BadRequest(f'STS would refuse the request for "{ref}"', code="role_refused") from None
    except BotoCoreError:
        raise Unavailable(f'STS could not be reached for "{ref}"', code="sts_unavailable") from None
    finally:
        client.close()
    return answer
