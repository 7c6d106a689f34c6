"""Table definitions; alembic migrations under `migrations/` must match them (`alembic check`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite has none) and always hands back aware datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("user_key", LargeBinary, nullable=False),  # wrapped by the master key
    Column("master_key_id", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False, server_default="person"),  # person or service
    Column("purposes", Text, nullable=True),  # service accounts: JSON {"kinds": [...], "names": [...]}
    # Who vouches for this user when it was created by an identity provider or proxy ("oidc:<iss>|<sub>",
    # "proxy"); NULL for local users, whom no external identity can ever sign in as.
    Column("external_id", String(512), nullable=True),
    # Set by `sealbox admin user disable`: the user's tokens, web sessions and sessions stop working.
    Column("disabled_at", UTCDateTime, nullable=True),
    # Set by `sealbox admin user remove`: disabled for good, key deleted (user_key empty), name not reused.
    Column("removed_at", UTCDateTime, nullable=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("secret_hash", LargeBinary(32), nullable=False),  # SHA-256 of the token's secret part
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

secrets = Table(
    "secrets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("field_names", String(256), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("current_version", Integer, nullable=False),
    Column("project_id", String(32), nullable=True, index=True),  # set: only that project's sessions
    Column("scopes", Text, nullable=True),  # JSON list of resource patterns, e.g. ["s3://team-data/*"]
    # Deleted (`secret rm`): hidden everywhere, kept with versions and grants until `purge_at`, when the
    # sweep removes it for good; the name stays taken until then (restore or purge frees it).
    Column("deleted_at", UTCDateTime, nullable=True),
    Column("deleted_by", String(64), nullable=True),
    Column("purge_at", UTCDateTime, nullable=True),
    # The smallest of 30, 7 and 1 days whose `secret.expiring` audit record was written for this expiry
    # (NULL: none yet); a new expiry resets it, so each notice is written once per secret and expiry.
    Column("expiry_announced_days", Integer, nullable=True),
    UniqueConstraint("owner_id", "name", name="uq_secrets_owner_name"),
    Index("ix_secrets_purge_at", "purge_at"),  # the sweep finds the due ones without a scan
)

secret_versions = Table(
    "secret_versions",
    metadata,
    Column("secret_id", String(32), ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("wrapped_dek", LargeBinary, nullable=False),  # the data key, wrapped by the owner's user key
    Column("user_key_id", String(16), nullable=False),
    Column("outer", LargeBinary, nullable=False),  # the inner ciphertext under the keeper's outer layer
    Column("keeper_key_id", String(24), nullable=False),  # "hpke:<id>" sealed, "wrap:<id>" converted
    # The owner id this version's ciphertexts bind as associated data, when it is not the secret's owner
    # (a secret transferred from a removed user): NULL means the secret's owner_id.
    Column("context_owner_id", String(32), nullable=True),
    Index("ix_secret_versions_keeper_key_id", "keeper_key_id"),  # finds the still-sealed ones without a scan
    Index("ix_secret_versions_user_key_id", "user_key_id"),  # data keys under previous user keys (0015)
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor_id", String(32), nullable=True),
    Column("actor_name", String(64), nullable=True),
    Column("token_id", String(16), nullable=True),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("secret_id", String(32), nullable=True),
    Column("secret_name", String(200), nullable=True),  # owner/name
    Column("version", Integer, nullable=True),
    Column("client_addr", String(64), nullable=True),
    Column("detail", Text, nullable=True),
    Column("on_behalf_of", String(64), nullable=True),  # the user a service account acted for
    Column("session_id", String(32), nullable=True),
    Column("request_id", String(64), nullable=True),  # the API request that wrote it (since 0013)
    Column("prev_hash", String(64), nullable=True),  # the chain: hash of the record before this one
    Column("hash", String(64), nullable=True),
    # 1: plain SHA-256 (records written before 0007); 2: HMAC-SHA256 under the chain key `key_id`.
    Column("chain_version", Integer, nullable=True),
    Column("key_id", String(16), nullable=True),
    Index("ix_audit_events_secret_id", "secret_id"),
    Index("ix_audit_events_session_id", "session_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("project", String(128), nullable=True),
    Column("mount_path", String(1024), nullable=False),
    Column("status", String(16), nullable=False),  # pending, active, ended
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    # A session side that calls in (`sealbox run`) asks for a heartbeat: a session not seen for three
    # intervals is over, so one whose side died while the server was down does not stay live.
    Column("heartbeat_seconds", Integer, nullable=True),
    Column("last_seen_at", UTCDateTime, nullable=True),
    # Launched with --allow-expired: its redemptions deliver a secret past its expiry (audited).
    Column("allow_expired", Boolean, nullable=False, server_default=false()),
)

session_secrets = Table(
    "session_secrets",
    metadata,
    Column("session_id", String(32), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    # No foreign key to secrets: a session's record outlives a deleted secret.
    Column("secret_id", String(32), nullable=False, index=True),
    Column("secret_name", String(128), nullable=False),
    Column("owner_id", String(32), nullable=False),
    Column("field", String(32), nullable=True),
    Column("file", String(128), nullable=True),
    Column("env", String(128), nullable=True),
    Column("version", Integer, nullable=False),  # the version last delivered
)

session_credentials = Table(
    "session_credentials",
    metadata,
    Column("id", String(16), primary_key=True),
    Column(
        "session_id", String(32), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("redeemed_at", UTCDateTime, nullable=True),
)


groups = Table(
    "groups",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(32), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),  # member or manager
)

group_invitations = Table(
    "group_invitations",
    metadata,
    # A manager invites; the person joins only by accepting (or an admin adds them directly).
    Column("group_id", String(32), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),  # member or manager
    Column("invited_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),  # member or owner
)

grants = Table(
    "grants",
    metadata,
    Column("secret_id", String(32), ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True),
    Column("grantee_type", String(8), primary_key=True),  # user or group
    Column("grantee_id", String(32), primary_key=True),
    Column("level", String(8), nullable=False),  # use, write, manage
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Index("ix_grants_grantee", "grantee_type", "grantee_id"),
)

auth_failures = Table(
    "auth_failures",
    metadata,
    # One row per (bucket, minute): shared by every server replica on the same database.
    Column("bucket", String(128), primary_key=True),
    Column("window_start", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # The cookie holds a random id; only its SHA-256 is stored. Each web session has its own CSRF token.
    Column("id_hash", LargeBinary(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # The personal access token it was signed in with (NULL for single sign-on): revoking or expiring
    # the token ends the web session.
    Column("token_id", String(16), ForeignKey("tokens.id", ondelete="CASCADE"), nullable=True, index=True),
)

key_rotation_leases = Table(
    "key_rotation_leases",
    metadata,
    # One row per key level being re-wrapped ("master-key", "user-keys"): the runner holding an unexpired
    # lease is the only one moving rows, so two runners never re-wrap the same batch.
    Column("name", String(32), primary_key=True),
    Column("holder", String(128), nullable=False),  # "<host>:<pid>:<random>"
    Column("expires_at", UTCDateTime, nullable=False),
    # When the round began: a runner that takes over an expired lease resumes that round. The row
    # goes when the round ends. A row named "done:<kind>" is no lease: its expires_at is when the last
    # rotation of that kind completed (store/rotation_progress.py, for /metrics).
    Column("started_at", UTCDateTime, nullable=False),
)

previous_user_keys = Table(
    "previous_user_keys",
    metadata,
    # A user's keys before `sealbox admin rotate user-keys`, kept (wrapped by the master key, as
    # users.user_key) while data keys still use them; `--retire` removes those no version uses.
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", String(16), primary_key=True),
    Column("user_key", LargeBinary, nullable=False),
    Column("master_key_id", String(16), nullable=False),
    Column("replaced_at", UTCDateTime, nullable=False),
)
