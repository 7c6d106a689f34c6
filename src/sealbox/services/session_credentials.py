"""Session credentials: the one-time `sbl_…` value a session side spends once to redeem its session.

Only a hash of the secret part is stored, bound to the credential's id. A lookup of an unknown id costs
the same comparison as a known one (against a dummy hash), so timing tells nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets as random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sealbox.domain.sessions import (
    CREDENTIAL_TTL_SECONDS,
    MAX_CREDENTIAL_TTL_SECONDS,
    Session,
    StoredCredential,
)
from sealbox.errors import BadRequest
from sealbox.services.ports import Sessions
from sealbox.services.tokens import constant_time_equal

CREDENTIAL_PREFIX = "sbl_"
CREDENTIAL_RE = re.compile(r"sbl_([a-f0-9]{16})_([A-Za-z0-9_-]{43})")
_DUMMY_HASH = hashlib.sha256(b"sealbox-launch-dummy").digest()


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    session: Session
    value: str = field(repr=False)
    expires_at: datetime


def _hash(credential_id: str, secret_part: str) -> bytes:
    return hashlib.sha256(
        b"sealbox-launch\x00" + credential_id.encode() + b"\x00" + secret_part.encode()
    ).digest()


def issue_credential(
    repo: Sessions, session_id: str, now: datetime, ttl: int = CREDENTIAL_TTL_SECONDS
) -> tuple[str, datetime]:
    """Store a new credential for the session; returns its value (shown once) and its expiry."""
    credential_id = random.token_hex(8)
    secret_part = random.token_urlsafe(32)
    expires_at = now + timedelta(seconds=ttl)
    repo.add_credential(
        credential_id=credential_id,
        session_id=session_id,
        secret_hash=_hash(credential_id, secret_part),
        now=now,
        expires_at=expires_at,
    )
    return f"{CREDENTIAL_PREFIX}{credential_id}_{secret_part}", expires_at


def stored_credential(repo: Sessions, credential: str) -> StoredCredential | None:
    """The stored credential `credential` is, or None (unknown, malformed or wrong: all alike)."""
    match = CREDENTIAL_RE.fullmatch(credential)
    credential_id, secret_part = (match.group(1), match.group(2)) if match else ("", "")
    stored = repo.credential(credential_id) if match else None
    ok = constant_time_equal(_hash(credential_id, secret_part), stored.secret_hash if stored else _DUMMY_HASH)
    return stored if ok else None


def checked_credential_ttl(requested: int | None, *, session_ttl: int | None) -> int:
    """The credential's lifetime: 60 s unless asked for, never above the bound; one asked for beyond
    the session's own lifetime ends with the session (a rule a schema can state as a range)."""
    ttl = CREDENTIAL_TTL_SECONDS if requested is None else requested
    if not CREDENTIAL_TTL_SECONDS <= ttl <= MAX_CREDENTIAL_TTL_SECONDS:
        raise BadRequest(
            f"credential_ttl_seconds must be {CREDENTIAL_TTL_SECONDS}-{MAX_CREDENTIAL_TTL_SECONDS}",
            code="invalid_credential_ttl",
            field="credential_ttl_seconds",
        )
    return ttl if session_ttl is None else min(ttl, session_ttl)


def credential_ttl_note(ttl: int) -> str:
    """What the audit record adds for a credential that lives longer than the default."""
    return "" if ttl == CREDENTIAL_TTL_SECONDS else f" credential_ttl={ttl}"
