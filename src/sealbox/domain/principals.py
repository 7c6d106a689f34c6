"""Users and their personal access tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NewType

UserID = NewType("UserID", str)
TokenID = NewType("TokenID", str)


@dataclass(frozen=True, kw_only=True, slots=True)
class User:
    id: UserID
    name: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessToken:
    """A token's metadata; its secret part exists only once, in the answer that issues it."""

    id: TokenID
    user_id: UserID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """Who is making a request: the user and the token they used."""

    user: User
    token_id: TokenID | None
    client_addr: str | None
