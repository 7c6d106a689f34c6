"""What the usage service needs from the database (store/usage.py), as a Protocol."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol


class UsageReads(Protocol):
    def session_uses(self, secret_id: str, *, user: str | None, limit: int) -> list[tuple[Any, ...]]:
        """(session id, user, version, first use, last use, deliveries) per session and version, newest
        use first; only `user`'s sessions when given."""
        ...

    def user_uses(self, secret_id: str, *, user: str | None) -> list[tuple[str, datetime, int]]:
        """(user, last use, deliveries) per person whose sessions received the secret."""
        ...

    def sessions_of(self, secret_id: str, session_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """Per session: (status, expires, heartbeat seconds, last seen, project, version held or None)."""
        ...

    def launchers(self, secret_id: str, session_ids: Sequence[str]) -> dict[str, str]:
        """Who started each of these sessions for someone else (a service account)."""
        ...

    def member_names(self, group_ids: Sequence[str]) -> dict[str, set[str]]:
        """The user names of each group's members."""
        ...

    def candidates(self, owner_id: str, shared_ids: Any) -> list[tuple[Any, ...]]:
        """(id, name, owner name, kind, created) of the live secrets the user owns or is granted."""
        ...

    def last_uses(self, secret_ids: Sequence[str]) -> dict[tuple[str, str], datetime]:
        """{(secret id, user): last use}."""
        ...

    def grants_on(self, secret_ids: Sequence[str]) -> list[tuple[str, str, str, str, str, datetime]]:
        """(secret id, grantee type, grantee id, grantee name, level, granted at) of their grants."""
        ...
