"""A secret's usage: which sessions received which version and when, who used it through which share,
and the rule for a stale secret. Read from the audit log's redemptions and the sessions' items."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import msgspec

from sealbox.errors import BadRequest

# The audit records that count as a use: a session's side received the secret (a redemption).
USE_ACTION = "session.redeem"
MAX_STALE_DAYS = 36500
_DAYS = re.compile(r"([0-9]{1,5})d?")


class SessionUse(msgspec.Struct, frozen=True, kw_only=True):
    """One session's deliveries of one version of a secret."""

    session_id: str
    user: str  # the session's owner, whom it was delivered for
    launched_by: str | None  # who started the session, when not its owner (a service account)
    project: str | None
    version: int
    first_used_at: datetime
    last_used_at: datetime
    deliveries: int
    state: str  # pending, active, ended or expired (domain.sessions.Session.state); "gone": no record
    holds_version: int | None = None  # the version the session holds now (None: no longer mounted)


class UserUse(msgspec.Struct, frozen=True, kw_only=True):
    """One person's uses of a secret (through all their sessions)."""

    user: str
    last_used_at: datetime
    deliveries: int


class ShareUse(msgspec.Struct, frozen=True, kw_only=True):
    """A grant and who used the secret through it (the grantee, or the group's members)."""

    grantee_type: str
    grantee: str
    level: str
    created_at: datetime
    used_by: tuple[UserUse, ...] = ()

    @property
    def last_used_at(self) -> datetime | None:
        return max((u.last_used_at for u in self.used_by), default=None)


class SecretUsage(msgspec.Struct, frozen=True, kw_only=True):
    secret_id: str
    ref: str
    access: str
    current_version: int
    created_at: datetime
    last_used_at: datetime | None
    deliveries: int  # in all, of what the caller may see
    sessions: tuple[SessionUse, ...]  # newest use first, at most a page
    users: tuple[UserUse, ...]
    shares: tuple[ShareUse, ...]
    live_sessions: tuple[str, ...]  # ids of the live sessions that hold it (that the caller may see)
    complete: bool  # False: the caller sees only their own uses (a `use` or `write` grantee)


class StaleSecret(msgspec.Struct, frozen=True, kw_only=True):
    secret_id: str
    ref: str
    name: str
    owner: str
    access: str
    kind: str
    created_at: datetime
    last_used_at: datetime | None


class UnusedShare(msgspec.Struct, frozen=True, kw_only=True):
    ref: str
    grantee_type: str
    grantee: str
    level: str
    created_at: datetime


class StaleReport(msgspec.Struct, frozen=True, kw_only=True):
    days: int
    since: datetime
    secrets: tuple[StaleSecret, ...]
    unused_shares: tuple[UnusedShare, ...]


def parse_days(raw: str | int) -> int:
    """`90d`, `90` or 90 -> 90; 1 to MAX_STALE_DAYS days."""
    match = _DAYS.fullmatch(str(raw).strip())
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_STALE_DAYS:
        raise BadRequest(
            f"days is a number of days, 1-{MAX_STALE_DAYS} (such as 90 or 90d)",
            code="invalid_days",
            field="days",
        )
    return days


def is_stale(*, created_at: datetime, last_used_at: datetime | None, since: datetime) -> bool:
    """Not used since `since`, and older than that (a secret made yesterday is not stale yet)."""
    return created_at <= since and (last_used_at is None or last_used_at < since)


def stale_since(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
