"""Secret use cases: create, list, show, replace, update, delete; each change audited in its transaction."""

from __future__ import annotations

import secrets as random_ids
from dataclasses import dataclass, field
from datetime import datetime

from sealbox.crypto.wrapping import StoredVersion, encrypt_version, unwrap_user_key
from sealbox.domain.grants import Level
from sealbox.domain.kinds import Kind, check_single_value, check_text_kind, encode_fields
from sealbox.domain.names import check_secret_name, is_valid_secret_name, is_valid_user_name
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import (
    MAX_DESCRIPTION,
    MAX_SCOPE_LENGTH,
    MAX_SCOPES,
    Page,
    Secret,
    SecretID,
    SecretPatch,
)
from sealbox.domain.sessions import LiveSession
from sealbox.domain.times import check_representable
from sealbox.errors import BadRequest, Conflict, ConstraintViolation, NotFound
from sealbox.services.access import resolve, visible_sessions, with_access
from sealbox.services.audit import record
from sealbox.services.keys import ServerKeys
from sealbox.services.ports import Secrets, Store, UnitOfWork

MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class SecretValue:
    """A value as submitted: exactly one of text, raw bytes or fields. Never printed."""

    text: str | None = field(default=None, repr=False)
    raw: bytes | None = field(default=None, repr=False)
    fields: dict[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    max_value_bytes: int
    versions_kept: int


def _plaintext(kind: Kind, value: SecretValue, limits: Limits) -> tuple[bytes, tuple[str, ...]]:
    given = [v for v in (value.text, value.raw, value.fields) if v is not None]
    if len(given) != 1:
        raise BadRequest(
            "give exactly one of value, value_base64 or fields", code="invalid_value", field="value"
        )
    check_text_kind(kind, given_as_bytes=value.raw is not None)
    if value.fields is not None:
        plaintext = encode_fields(kind, value.fields)
        names = tuple(sorted(k for k, v in value.fields.items() if v != ""))
    else:
        try:
            raw = value.raw if value.raw is not None else (value.text or "").encode()
        except UnicodeEncodeError:  # a lone surrogate: not text any program could use
            raise BadRequest("the value is not valid text", code="invalid_value", field="value") from None
        plaintext = check_single_value(kind, raw)
        names = ()
    if len(plaintext) > limits.max_value_bytes:
        raise BadRequest(
            f"the value is larger than {limits.max_value_bytes} bytes", code="value_too_large", field="value"
        )
    return plaintext, names


def _check_description(description: str | None) -> None:
    if description is not None and (len(description) > MAX_DESCRIPTION or "\x00" in description):  # PG text
        raise BadRequest(
            f"a description is at most {MAX_DESCRIPTION} characters, without NUL",
            code="invalid_description",
            field="description",
        )


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise BadRequest("expires_at needs a time zone", code="invalid_expiry", field="expires_at")
        check_representable(expires_at)
        if expires_at <= now:
            raise BadRequest("expires_at must be in the future", code="invalid_expiry", field="expires_at")


def check_scopes(scopes: tuple[str, ...] | None) -> None:
    if scopes is None:
        return
    bad = any(not s or len(s) > MAX_SCOPE_LENGTH or any(ord(c) < 32 for c in s) for s in scopes)
    if len(scopes) > MAX_SCOPES or bad:
        raise BadRequest(
            f"scopes: at most {MAX_SCOPES} patterns of 1-{MAX_SCOPE_LENGTH} printable characters",
            code="invalid_scopes",
            field="scopes",
        )


class SecretService:
    def __init__(self, db: Store, keys: ServerKeys, limits: Limits) -> None:
        self.db = db
        self.keys = keys
        self.limits = limits

    def _seal(
        self, uow: UnitOfWork, plaintext: bytes, *, secret_id: str, version: int, owner_id: str
    ) -> tuple[StoredVersion, str, str]:
        """A version's ciphertexts under the owner's user key and the keeper's public key, and the ids
        of the user key and the keeper key used (the keeper's keys read once: a rotation may swap them)."""
        user_key = unwrap_user_key(self.keys.master, uow.users.wrapped_key(owner_id), user_id=owner_id)
        keeper_public = self.keys.keeper_public
        stored = encrypt_version(
            user_key,
            keeper_public,
            plaintext,
            secret_id=secret_id,
            version=version,
            owner_id=owner_id,
        )
        return stored, user_key.kid.hex(), "hpke:" + keeper_public.current_id.hex()

    def create(
        self,
        requested_by: Principal,
        *,
        name: str,
        kind: Kind,
        value: SecretValue,
        description: str,
        expires_at: datetime | None,
        now: datetime,
        project: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> Secret:
        check_secret_name(name)
        _check_description(description)
        _check_expiry(expires_at, now)
        check_scopes(scopes)
        plaintext, field_names = _plaintext(kind, value, self.limits)
        user = requested_by.user
        secret_id = SecretID(random_ids.token_hex(16))
        try:
            with self.db.writing() as uow:
                repo = uow.secrets
                project_id = _member_project_id(uow, requested_by, project)
                if repo.exists(owner_id=user.id, name=name):
                    _name_taken(repo, user.id, name)
                secret = Secret(
                    id=secret_id,
                    owner_id=user.id,
                    owner_name=user.name,
                    name=name,
                    kind=kind,
                    description=description,
                    field_names=field_names,
                    created_at=now,
                    created_by=user.name,
                    updated_at=now,
                    updated_by=user.name,
                    expires_at=expires_at,
                    current_version=1,
                    project_id=project_id,
                    scopes=scopes,
                )
                stored, user_key_id, keeper_key_id = self._seal(
                    uow, plaintext, secret_id=secret.id, version=1, owner_id=user.id
                )
                repo.add(
                    secret,
                    stored,
                    size=len(plaintext),
                    user_key_id=user_key_id,
                    keeper_key_id=keeper_key_id,
                )
                record(
                    uow,
                    requested_by,
                    "secret.create",
                    now=now,
                    secret_id=secret.id,
                    secret_name=secret.ref,
                    version=1,
                    detail=f"kind={kind.value}" + (f" project={project}" if project else ""),
                )
                created = repo.get(owner_id=user.id, name=name)
        except ConstraintViolation:
            # Two creates raced on PostgreSQL; the unique constraint decided.
            raise Conflict(
                "you already have a secret with that name", code="already_exists", field="name"
            ) from None
        if created is None:  # pragma: no cover -- written in the same transaction
            raise NotFound()
        return created

    def get(self, requested_by: Principal, name: str, *, owner: str | None = None) -> Secret:
        with self.db.reading() as uow:
            return resolve(uow, requested_by, name, owner, Level.USE, with_versions=True)

    def get_with_sessions(
        self, requested_by: Principal, name: str, *, owner: str | None, now: datetime
    ) -> tuple[Secret, list[LiveSession]]:
        """Metadata, versions and the live sessions that mount it, in one read transaction."""
        with self.db.reading() as uow:
            return secret_with_sessions(uow, requested_by, name, owner=owner, now=now)

    def page(self, requested_by: Principal, *, cursor: str | None, limit: int, prefix: str | None) -> Page:
        """My secrets and those shared with me, ordered by (owner, name)."""
        with self.db.reading() as uow:
            return secret_page(uow, requested_by, cursor=cursor, limit=limit, prefix=prefix)

    def replace(
        self,
        requested_by: Principal,
        name: str,
        *,
        value: SecretValue,
        if_match: int | None,
        now: datetime,
        owner: str | None = None,
    ) -> Secret:
        with self.db.writing() as uow:
            repo = uow.secrets
            current = resolve(uow, requested_by, name, owner, Level.WRITE)
            if if_match is not None and if_match != current.current_version:
                raise Conflict(
                    "the secret changed since that version", code="version_conflict", field="If-Match"
                )
            plaintext, field_names = _plaintext(current.kind, value, self.limits)
            version = current.current_version + 1
            # Values are always encrypted under the owner's user key, whoever replaces them.
            stored, user_key_id, keeper_key_id = self._seal(
                uow, plaintext, secret_id=current.id, version=version, owner_id=current.owner_id
            )
            written = repo.add_version(
                current,
                stored,
                expected_version=current.current_version,
                at=now,
                by=requested_by.user.name,
                size=len(plaintext),
                user_key_id=user_key_id,
                keeper_key_id=keeper_key_id,
                keep=self.limits.versions_kept,
            )
            if written is None:
                raise Conflict("the secret changed meanwhile; try again", code="version_conflict")
            if field_names != current.field_names:
                repo.set_field_names(current.id, field_names)
            record(
                uow,
                requested_by,
                "secret.replace",
                now=now,
                secret_id=current.id,
                secret_name=current.ref,
                version=version,
            )
            updated = repo.get(owner_id=current.owner_id, name=current.name)
        if updated is None:  # pragma: no cover
            raise NotFound()
        return with_access(updated, Level(current.access))

    def update(
        self,
        requested_by: Principal,
        name: str,
        patch: SecretPatch,
        *,
        now: datetime,
        owner: str | None = None,
    ) -> Secret:
        _check_description(patch.description)
        _check_expiry(patch.expires_at, now)
        check_scopes(patch.scopes)
        with self.db.writing() as uow:
            repo = uow.secrets
            current = resolve(uow, requested_by, name, owner, Level.MANAGE)
            repo.update_metadata(
                current.id,
                description=patch.description,
                expires_at=patch.expires_at,
                set_expiry=patch.clear_expiry or patch.expires_at is not None,
                at=now,
                by=requested_by.user.name,
            )
            if patch.scopes is not None:
                repo.set_scopes(current.id, patch.scopes)
            record(
                uow,
                requested_by,
                "secret.update",
                now=now,
                secret_id=current.id,
                secret_name=current.ref,
                version=current.current_version,
            )
            updated = repo.get(owner_id=current.owner_id, name=current.name, with_versions=True)
        if updated is None:  # pragma: no cover
            raise NotFound()
        return with_access(updated, Level(current.access))


def secret_with_sessions(
    uow: UnitOfWork, requested_by: Principal, name: str, *, owner: str | None, now: datetime
) -> tuple[Secret, list[LiveSession]]:
    """Metadata, versions and the live sessions that mount it, read in `uow` (the hot read
    authenticates in the same unit of work)."""
    secret = resolve(uow, requested_by, name, owner, Level.USE, with_versions=True)
    return secret, visible_sessions(secret, requested_by, uow.sessions.live_for_secret(secret.id, now))


def secret_page(
    uow: UnitOfWork, requested_by: Principal, *, cursor: str | None, limit: int, prefix: str | None
) -> Page:
    """My secrets and those shared with me, ordered by (owner, name), read in `uow`."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be 1-{MAX_PAGE}", code="invalid_limit", field="limit")
    after = _decode_cursor(cursor) if cursor is not None else None
    me = requested_by.user
    sharing = uow.sharing
    rows = uow.secrets.page(
        owner_id=me.id,
        owner_name=me.name,
        after=after,
        limit=limit + 1,
        prefix=prefix,
        shared_ids=sharing.granted_secret_ids(me.id),
    )
    levels = sharing.levels_for(me.id, [r.id for r in rows if r.owner_id != me.id])
    more = len(rows) > limit
    items = tuple(
        with_access(r, Level.OWNER if r.owner_id == me.id else levels.get(r.id, Level.USE))
        for r in rows[:limit]
    )
    return Page(
        items=items, next_cursor=_encode_cursor(items[-1].owner_name, items[-1].name) if more else None
    )


def _name_taken(repo: Secrets, owner_id: str, name: str) -> None:
    """The 409 for a name in use; a deleted secret keeps its name until restored or purged."""
    deleted = repo.get(owner_id=owner_id, name=name, with_versions=False, deleted=True)
    if deleted is not None and deleted.purge_at is not None:
        raise Conflict(
            f"a deleted secret of that name waits until {deleted.purge_at:%Y-%m-%d %H:%M} UTC to be removed"
            f" for good: restore it (`sealbox secret restore {name}`) or purge it now"
            f" (`sealbox secret rm {name} --purge`)",
            code="name_held_by_deleted_secret",
            field="name",
        )
    raise Conflict("you already have a secret with that name", code="already_exists", field="name")


def _member_project_id(uow: UnitOfWork, requested_by: Principal, project: str | None) -> str | None:
    if project is None:
        return None
    sharing = uow.sharing
    found = sharing.project_by_name(project) if is_valid_secret_name(project) else None
    if found is None or sharing.project_role(found.id, requested_by.user.id) is None:
        raise NotFound("no such project, or you are not a member", field="project")
    return str(found.id)


def _encode_cursor(owner: str, name: str) -> str:  # the next page starts after OWNER/NAME
    return f"{owner}/{name}"


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """Any OWNER/NAME that follows the name rules is a position, whether or not such a secret exists."""
    owner, slash, name = cursor.partition("/")
    if not slash or not is_valid_user_name(owner) or not is_valid_secret_name(name):
        raise BadRequest("the cursor is not valid", code="invalid_cursor", field="cursor")
    return owner, name
