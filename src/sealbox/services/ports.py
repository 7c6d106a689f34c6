"""What services need from the database, as Protocols: units of work (`Store`, `UnitOfWork`) with the
repositories in them (the keeper's is services.keeper_port). Only create_app wires in the concrete ones;
services import nothing from sealbox.store (an import-linter contract in pyproject.toml)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from sealbox.crypto.wrapping import StoredVersion
from sealbox.domain.audit import AuditEvent
from sealbox.domain.collections import Invitation, Member, Membership, StoredCollection
from sealbox.domain.grants import Grant, Level
from sealbox.domain.principals import AccessToken, TokenID, User
from sealbox.domain.secrets import OwnedVersion, Secret
from sealbox.domain.sessions import CurrentMaterial, LiveSession, Session, StoredCredential
from sealbox.services.usage_port import UsageReads


class SecretReads(Protocol):
    def get(
        self, *, owner_id: str, name: str, with_versions: bool = True, deleted: bool = False
    ) -> Secret | None:
        """One of an owner's secrets by name (with its versions unless told otherwise), or None; deleted
        ones (in their recovery window) only with `deleted`, and then only those."""
        ...

    def get_by_owner_name(
        self, *, owner_name: str, name: str, with_versions: bool = True, deleted: bool = False
    ) -> Secret | None:
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


class Secrets(SecretReads, Protocol):
    """Secrets, their versions and ciphertexts."""

    def add(
        self, secret: Secret, stored: StoredVersion, *, size: int, user_key_id: str, keeper_key_id: str
    ) -> None: ...

    def exists(self, *, owner_id: str, name: str) -> bool: ...

    def set_scopes(self, secret_id: str, scopes: tuple[str, ...]) -> None: ...

    def add_version(
        self,
        secret: Secret,
        stored: StoredVersion,
        *,
        expected_version: int,
        at: datetime,
        by: str,
        size: int,
        user_key_id: str,
        keeper_key_id: str,
        keep: int,
    ) -> int | None:
        """Append a version if the current one is still `expected_version`; None when it moved on."""
        ...

    def update_metadata(
        self,
        secret_id: str,
        *,
        description: str | None,
        expires_at: datetime | None,
        set_expiry: bool,
        at: datetime,
        by: str,
    ) -> None: ...

    def set_field_names(self, secret_id: str, names: tuple[str, ...]) -> None: ...

    def mark_deleted(self, secret_id: str, *, at: datetime, by: str, purge_at: datetime) -> bool: ...

    def restore(self, secret_id: str, *, now: datetime) -> bool: ...

    def deleted(self, *, owner_id: str, managed_ids: Any, now: datetime, limit: int) -> list[Secret]: ...

    def due_for_purge(self, *, now: datetime, limit: int) -> list[Secret]: ...

    def expiring_unannounced(self, *, before: datetime, days: int, limit: int) -> list[Secret]: ...

    def mark_expiry_announced(self, secret_id: str, *, days: int, expires_at: datetime) -> bool: ...

    def purge(self, secret_id: str, *, due_by: datetime | None = None) -> bool:
        """Remove a secret for good; with `due_by`, only a deleted one whose window ended by then."""
        ...

    def sealed_versions(self, *, limit: int) -> list[tuple[str, int, str, bytes]]:
        """Versions whose outer layer is still the HPKE seal: (secret id, version, owner id, outer); the
        owner id is the one the version's ciphertexts bind (not the owner's after a transfer)."""
        ...

    def set_outer(
        self, secret_id: str, version: int, *, expected: bytes, outer: bytes, keeper_key_id: str
    ) -> bool: ...


class Sharing(GrantReads, Protocol):
    """Groups, projects, their members and invitations, and grants."""

    def group_by_name(self, name: str) -> StoredCollection | None: ...

    def add_group(self, *, group_id: str, name: str, now: datetime, by: str) -> None: ...

    def group_role(self, group_id: str, user_id: str) -> str | None: ...

    def set_group_member(self, group_id: str, user_id: str, role: str) -> None: ...

    def remove_group_member(self, group_id: str, user_id: str) -> bool: ...

    def groups_of(self, user_id: str) -> list[Membership]: ...

    def group_members(self, group_id: str) -> tuple[Member, ...]: ...

    def invite(self, *, group_id: str, user_id: str, role: str, by: str, now: datetime) -> None:
        """Make or renew the invitation (a second one replaces the first, with its role)."""
        ...

    def invitation_role(self, group_id: str, user_id: str) -> str | None: ...

    def remove_invitation(self, group_id: str, user_id: str) -> bool: ...

    def invitations_of(self, user_id: str) -> list[Invitation]: ...

    def project_by_name(self, name: str) -> StoredCollection | None: ...

    def add_project(self, *, project_id: str, name: str, now: datetime, by: str) -> None: ...

    def project_role(self, project_id: str, user_id: str) -> str | None: ...

    def set_project_member(self, project_id: str, user_id: str, role: str) -> None: ...

    def remove_project_member(self, project_id: str, user_id: str) -> bool: ...

    def projects_of(self, user_id: str) -> list[Membership]: ...

    def project_members(self, project_id: str) -> tuple[Member, ...]: ...

    def set_grant(
        self, *, secret_id: str, grantee_type: str, grantee_id: str, level: Level, now: datetime, by: str
    ) -> None: ...

    def remove_grant(self, *, secret_id: str, grantee_type: str, grantee_id: str) -> bool: ...

    def grants_of(self, secret_id: str) -> list[Grant]: ...


class Sessions(LiveSessionReads, Protocol):
    """Sessions, the secrets they mount and their one-time session credentials."""

    def add(self, session: Session) -> None: ...

    def add_credential(
        self, *, credential_id: str, session_id: str, secret_hash: bytes, now: datetime, expires_at: datetime
    ) -> None: ...

    def credential(self, credential_id: str) -> StoredCredential | None: ...

    def mark_redeemed(self, credential_id: str, now: datetime) -> bool:
        """Exactly one caller wins: the update only matches a credential not yet redeemed."""
        ...

    def get(self, session_id: str, *, owner_id: str | None = None) -> Session | None: ...

    def list_for(self, owner_id: str, *, live_only: bool, now: datetime, limit: int) -> list[Session]: ...

    def touch(self, session_id: str, now: datetime) -> None:
        """The session side called in (heartbeat)."""
        ...

    def end(self, session_id: str, now: datetime) -> bool: ...

    def mark_delivered(self, session_id: str, versions: dict[int, int]) -> None: ...

    def current_material(self, secret_ids: list[str]) -> dict[str, CurrentMaterial]: ...


class Users(Protocol):
    """Users and their wrapped user keys."""

    def add(self, *, user: User, wrapped_user_key: bytes, master_key_id: str) -> None: ...

    def by_name(self, name: str) -> User | None:
        """None for a name no user can have: it never reaches the database (PostgreSQL refuses a NUL)."""
        ...

    def by_id(self, user_id: str) -> User | None: ...

    def wrapped_key(self, user_id: str) -> bytes: ...

    def previous_wrapped_key(self, user_id: str, key_id: str) -> bytes | None:
        """A user key the user had before `rotate user-keys` (wrapped), while it is kept; else None."""
        ...

    def list(self) -> list[User]: ...

    def set_disabled(self, user_id: str, at: datetime | None) -> bool:
        """Disable (`at`) or enable (None) a user; False when that changes nothing."""
        ...

    def is_disabled(self, user_id: str) -> bool:
        """True for a disabled user (and for one that no longer exists)."""
        ...


class Tokens(TokenReads, Protocol):
    """Access tokens."""

    def add(self, *, token: AccessToken, secret_hash: bytes) -> None: ...

    def list_for(self, user_id: str) -> list[AccessToken]: ...

    def revoke(self, *, user_id: str, token_id: str, now: datetime) -> bool: ...

    def get_for(self, *, user_id: str, token_id: str) -> AccessToken | None: ...


class WebSessions(Protocol):
    """Signed-in browser sessions, kept by the hash of their id."""

    def add(
        self,
        *,
        id_hash: bytes,
        user_id: str,
        token_id: str | None,
        csrf_token: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    def lookup(self, id_hash: bytes, now: datetime) -> tuple[User, str, TokenID | None] | None:
        """(user, CSRF token, the token it was signed in with) of a live web session, else None.

        Live means, checked here on every request: the web session has not expired, its user is not
        disabled, and the personal access token it was signed in with (if any: single sign-on has none)
        is neither revoked nor expired.
        """
        ...

    def remove(self, id_hash: bytes) -> None: ...

    def remove_for_token(self, token_id: str, now: datetime) -> int:
        """End every web session signed in with a token; returns how many were still live."""
        ...

    def remove_for_user(self, user_id: str, now: datetime) -> int:
        """End every web session of a user; returns how many were still live."""
        ...


class Failures(FailureCounts, Protocol):
    """Failed authentication attempts, counted per bucket and window."""

    def add(self, buckets: Sequence[str], window: int) -> None: ...


class Denials(Protocol):
    """Denied requests per key and minute, until they are summed up on the audit record."""

    def bump(self, key: str, window: int) -> int:
        """Count one denial; returns the count in this window so far (1: the first)."""
        ...

    def claim(self, *, before: int | None) -> list[tuple[str, int, int]]:
        """Take (key, window, count) of every window before `before` (None: all) out of the table.

        Deleting is claiming: of two replicas that claim at once, each row goes to exactly one.
        """
        ...


class AuditLog(Protocol):
    """The audit log (append-only, chained)."""

    def append_failing_closed(self, events: list[AuditEvent]) -> None:
        """Append the records, chained in order, in one statement. Raises Unavailable (the database's
        code, or audit_unavailable) on any failure, which fails the change they belong to."""
        ...

    def query(
        self,
        *,
        visible_to: str | None,
        visible_name: str | None,
        secret_id: str | None,
        session_id: str | None,
        since: datetime | None,
        after_id: int | None,
        limit: int,
    ) -> list[tuple[int, AuditEvent]]:
        """Records newest first; `visible_to` (a user id) limits them to that user's secrets and own acts."""
        ...


class UserRemoval(Protocol):
    """The writes of removing a user (the service checks everything before it writes)."""

    def owned_versions(self, owner_id: str) -> list[OwnedVersion]: ...
    def names_taken(self, owner_id: str, names: list[str]) -> list[str]: ...
    def move_version(self, v: OwnedVersion, *, wrapped_dek: bytes, user_key_id: str) -> None: ...
    def set_owner(self, secret_id: str, owner_id: str) -> None: ...
    def revoke_tokens(self, user_id: str, now: datetime) -> int: ...
    def remove_grants_to(self, user_id: str) -> int: ...
    def remove_memberships(self, user_id: str) -> int: ...
    def mark_removed(self, user_id: str, now: datetime) -> None: ...


class UnitOfWork(Protocol):
    """One transaction and the repositories in it: whatever is written through them commits together."""

    @property
    def secrets(self) -> Secrets: ...
    @property
    def sharing(self) -> Sharing: ...
    @property
    def sessions(self) -> Sessions: ...
    @property
    def users(self) -> Users: ...
    @property
    def tokens(self) -> Tokens: ...
    @property
    def web_sessions(self) -> WebSessions: ...
    @property
    def failures(self) -> Failures: ...
    @property
    def denials(self) -> Denials: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def removal(self) -> UserRemoval: ...
    @property
    def usage(self) -> UsageReads: ...


class Store(Protocol):
    """Units of work: services open one and pass it on."""

    def reading(self) -> AbstractContextManager[UnitOfWork]:
        """A read transaction; raises Unavailable (database_unavailable) when the database fails."""
        ...

    def writing(self) -> AbstractContextManager[UnitOfWork]:
        """A write transaction; raises Unavailable (database_unavailable, storage_full, audit_unavailable)."""
        ...
