"""Sessions and launches: which secrets a session gets, as which files and variables, and the rules."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NamedTuple, NewType

import msgspec

from sealbox.domain.env_names import check_env_name
from sealbox.domain.names import is_valid_secret_name
from sealbox.errors import BadRequest

SessionID = NewType("SessionID", str)

DEFAULT_TTL_SECONDS = 12 * 3600
MAX_TTL_SECONDS = 7 * 24 * 3600
CREDENTIAL_TTL_SECONDS = 60
# A pod's init container may start minutes after its session is created (scheduling, image pulls): a
# platform may ask for a longer-lived session credential, up to this bound. It is still spent by its
# first use.
MAX_CREDENTIAL_TTL_SECONDS = 900
MAX_SECRETS_PER_SESSION = 500
DEFAULT_MOUNT_PATH = "/secrets"
# A session side that calls in (`sealbox run`) asks for a heartbeat of this many seconds; a session not
# heard from for HEARTBEAT_MISSES intervals is over, like one past its lifetime.
MIN_HEARTBEAT_SECONDS = 10
MAX_HEARTBEAT_SECONDS = 3600
HEARTBEAT_MISSES = 3

_FIELD = re.compile(r"[a-z_]{1,32}")
_USER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_file_name(name: str) -> str:
    """A file name inside the mount folder: the secret-name rules, so no '/', no '..', no NUL."""
    if not is_valid_secret_name(name):
        raise BadRequest(
            "a file name is 1-128 letters, digits, '.', '_' or '-', and not '.' or '..'",
            code="invalid_file",
            field="file",
        )
    return name


def check_mount_path(path: str) -> str:
    if not path.startswith("/") or "\x00" in path or len(path) > 1024:
        raise BadRequest(
            "the mount path must be an absolute path", code="invalid_mount_path", field="mount_path"
        )
    parts = path.split("/")
    if any(p in {".", ".."} for p in parts):
        raise BadRequest(
            "the mount path must not contain '.' or '..'", code="invalid_mount_path", field="mount_path"
        )
    return path


class Mapping(msgspec.Struct, frozen=True, kw_only=True):
    """One secret (or one field of it) brought into a session: as a file, a variable, or both."""

    secret: str  # "name" (own) or "owner/name" (shared with me)
    field: str | None = None
    file: str | None = None
    env: str | None = None

    def validated(self) -> Mapping:
        owner, slash, name = self.secret.rpartition("/")
        if not is_valid_secret_name(name) or (slash and not _USER.fullmatch(owner)):
            raise BadRequest("unknown secret name", code="invalid_name", field="secret")
        if self.field is not None and not _FIELD.fullmatch(self.field):
            raise BadRequest("unknown field", code="invalid_field", field="field")
        if self.file is not None:
            check_file_name(self.file)
        if self.env is not None:
            check_env_name(self.env)
        return self


def check_mappings(mappings: list[Mapping]) -> list[Mapping]:
    """Refuse an empty list, too many, and two mappings onto the same file or variable."""
    if not mappings:
        raise BadRequest(
            "a session needs at least one secret (none is included by default)",
            code="no_secrets",
            field="secrets",
        )
    if len(mappings) > MAX_SECRETS_PER_SESSION:
        raise BadRequest(
            f"at most {MAX_SECRETS_PER_SESSION} secrets per session", code="too_many_secrets", field="secrets"
        )
    files: set[str] = set()
    envs: set[str] = set()
    for m in mappings:
        m.validated()
        if m.file is not None:
            if m.file in files:
                raise BadRequest("two secrets map to the same file", code="duplicate_file", field="file")
            files.add(m.file)
        if m.env is not None:
            if m.env in envs:
                raise BadRequest("two secrets map to the same variable", code="duplicate_env", field="env")
            envs.add(m.env)
        if m.file is None and m.env is None:
            raise BadRequest(
                "each secret needs a file or a variable", code="invalid_mapping", field="secrets"
            )
    return mappings


class SessionSecret(msgspec.Struct, frozen=True, kw_only=True):
    secret_id: str
    secret_name: str
    owner_id: str
    owner_name: str
    kind: str
    field: str | None
    file: str | None
    env: str | None
    version: int  # the version last delivered to the session
    current_version: int | None = None  # the secret's version now (None once deleted)


class LiveSession(NamedTuple):
    """A live session that mounts a secret, as its owner (and `manage` grantees) may see it. A named
    tuple, not a dataclass: the web templates unpack it (`for sid, who, created, expires in ...`)."""

    id: SessionID
    owner: str  # the session owner's user name
    created_at: datetime
    expires_at: datetime


class Session(msgspec.Struct, frozen=True, kw_only=True):
    id: SessionID
    owner_id: str
    owner_name: str
    project: str | None
    mount_path: str
    status: str  # pending (not yet redeemed), active, ended
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    secrets: tuple[SessionSecret, ...] = ()
    heartbeat_seconds: int | None = None  # None: the session side does not call in (hubs, pods)
    last_seen_at: datetime | None = None
    allow_expired: bool = False  # launched with --allow-expired: expired secrets are delivered (audited)

    def is_live(self, now: datetime) -> bool:
        return session_is_live(
            status=self.status,
            expires_at=self.expires_at,
            heartbeat_seconds=self.heartbeat_seconds,
            last_seen_at=self.last_seen_at,
            now=now,
        )

    def state(self, now: datetime) -> str:
        """pending, active, ended, or expired (over without being ended: past its lifetime, or its side
        stopped calling in)."""
        if self.status == "ended" or self.is_live(now):
            return self.status
        return "expired"


def session_is_live(
    *,
    status: str,
    expires_at: datetime,
    heartbeat_seconds: int | None,
    last_seen_at: datetime | None,
    now: datetime,
) -> bool:
    """The one rule for a live session (listing, redemption, new credentials, a secret's live sessions):
    not ended, not past its lifetime, and, when its side asked for a heartbeat, heard from within
    HEARTBEAT_MISSES intervals."""
    if status == "ended" or now >= expires_at:
        return False
    if heartbeat_seconds is not None and last_seen_at is not None:
        return now < last_seen_at + timedelta(seconds=HEARTBEAT_MISSES * heartbeat_seconds)
    return True


def check_heartbeat(seconds: int | None) -> int | None:
    if seconds is not None and not MIN_HEARTBEAT_SECONDS <= seconds <= MAX_HEARTBEAT_SECONDS:
        raise BadRequest(
            f"heartbeat_seconds must be {MIN_HEARTBEAT_SECONDS}-{MAX_HEARTBEAT_SECONDS}",
            code="invalid_heartbeat",
            field="heartbeat_seconds",
        )
    return seconds


class StoredCredential(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    session_id: str
    secret_hash: bytes
    expires_at: datetime
    redeemed_at: datetime | None


class CurrentMaterial(msgspec.Struct, frozen=True, kw_only=True):
    """What a redemption needs of one secret now: its current version's ciphertexts."""

    secret_id: str
    name: str
    kind: str
    owner_id: str
    version: int
    wrapped_dek: bytes
    outer: bytes
    project_id: str | None = None
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None
    # The owner id the version's ciphertexts bind as associated data: owner_id, unless the secret was
    # transferred from a removed user after the version was written.
    context_owner_id: str = ""
