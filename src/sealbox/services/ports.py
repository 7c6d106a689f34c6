"""What services need from the outside, as Protocols: the keeper (`KeeperPort`), and the database as
units of work (`Store`, `UnitOfWork`) with the repositories in them. Only create_app wires in the
concrete ones (store.database.Database, store.unit_of_work.UnitOfWork, the keeper client)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from sealbox.domain.grants import Level
from sealbox.domain.keeper import OuterLayer
from sealbox.domain.principals import AccessToken, User
from sealbox.domain.secrets import Secret
from sealbox.domain.sessions import LiveSession


class KeeperPort(Protocol):
    def health(self) -> dict[str, str]:
        """The keeper's status and current key ids; raises Unavailable when it cannot be reached."""
        ...

    def convert(self, items: list[OuterLayer]) -> list[tuple[bytes, str] | None]:
        """For each item, the keeper-wrapped outer layer and its key id (None where the keeper refused it).

        Raises Unavailable when the keeper cannot be reached.
        """
        ...


class SecretReads(Protocol):
    def get(self, *, owner_id: str, name: str, with_versions: bool = True) -> Secret | None:
        """One of an owner's secrets by name (with its versions unless told otherwise), or None."""
        ...

    def get_by_owner_name(self, *, owner_name: str, name: str, with_versions: bool = True) -> Secret | None:
        """As `get`, the owner given by user name."""
        ...

    def get_many(self, *, owner_id: str, names: list[str]) -> dict[str, Secret]:
        """Several of one owner's secrets by name (no versions)."""
        ...

    def page(
        self,
        *,
        owner_id: str,
        owner_name: str,
        after: tuple[str, str] | None,
        limit: int,
        prefix: str | None = None,
        shared_ids: Any = None,
    ) -> list[Secret]:
        """Up to `limit` secrets the owner has or is granted (`shared_ids`), by (owner, name), after
        `after`."""
        ...


class GrantReads(Protocol):
    def level_of(self, secret_id: str, user_id: str) -> Level | None:
        """The best level any grant gives the user on the secret (directly or through a group), or None."""
        ...

    def granted_secret_ids(self, user_id: str) -> Any:
        """The ids of the secrets shared with the user, as a subquery for `SecretReads.page`."""
        ...

    def levels_for(self, user_id: str, secret_ids: Sequence[str]) -> dict[str, Level]:
        """The user's best level on each of these secrets that is shared with them."""
        ...


class LiveSessionReads(Protocol):
    def live_for_secret(self, secret_id: str, now: datetime) -> list[LiveSession]:
        """The live sessions that mount the secret."""
        ...


class TokenReads(Protocol):
    def lookup(self, token_id: str) -> tuple[AccessToken, bytes, User] | None:
        """The token, its stored hash and its user, or None."""
        ...


class FailureCounts(Protocol):
    def counts(self, buckets: Sequence[str], window: int) -> int:
        """The highest failure count among the buckets in this window."""
        ...


class UnitOfWork(Protocol):
    """One transaction and the repositories in it."""

    @property
    def conn(self) -> Connection:
        """The transaction's connection, for what is not behind a repository yet (the audit record)."""
        ...

    @property
    def secrets(self) -> SecretReads: ...

    @property
    def sharing(self) -> GrantReads: ...

    @property
    def sessions(self) -> LiveSessionReads: ...

    @property
    def tokens(self) -> TokenReads: ...

    @property
    def failures(self) -> FailureCounts: ...


class Store(Protocol):
    """Units of work: services open one and pass it on."""

    def reading(self) -> AbstractContextManager[UnitOfWork]:
        """A read transaction; raises Unavailable (database_unavailable) when the database fails."""
        ...

    def writing(self) -> AbstractContextManager[UnitOfWork]:
        """A write transaction; raises Unavailable (database_unavailable, storage_full, audit_unavailable)."""
        ...
