"""Secret use cases: create, list, show, replace, update, delete; each change audited in its transaction."""

from __future__ import annotations

import base64
import secrets as random_ids
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from sealbox.crypto.wrapping import encrypt_version, unwrap_user_key
from sealbox.domain.kinds import Kind, check_single_value, encode_fields
from sealbox.domain.names import check_secret_name
from sealbox.domain.principals import Principal
from sealbox.domain.secrets import Page, Secret, SecretID, SecretPatch
from sealbox.errors import BadRequest, Conflict, NotFound
from sealbox.services.audit import record
from sealbox.services.keys import ServerKeys
from sealbox.store.database import Database
from sealbox.store.secrets import SecretRepository
from sealbox.store.users import UserRepository

MAX_DESCRIPTION = 1024
MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class NewValue:
    """A value as submitted: exactly one of text, raw bytes or fields. Never printed."""

    text: str | None = field(default=None, repr=False)
    raw: bytes | None = field(default=None, repr=False)
    fields: dict[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    max_value_bytes: int
    versions_kept: int


def _plaintext(kind: Kind, value: NewValue, limits: Limits) -> tuple[bytes, tuple[str, ...]]:
    given = [v for v in (value.text, value.raw, value.fields) if v is not None]
    if len(given) != 1:
        raise BadRequest(
            "give exactly one of value, value_base64 or fields", code="invalid_value", field="value"
        )
    if value.fields is not None:
        plaintext = encode_fields(kind, value.fields)
        names = tuple(sorted(k for k, v in value.fields.items() if v != ""))
    else:
        raw = value.raw if value.raw is not None else (value.text or "").encode()
        plaintext = check_single_value(kind, raw)
        names = ()
    if len(plaintext) > limits.max_value_bytes:
        raise BadRequest(
            f"the value is larger than {limits.max_value_bytes} bytes", code="value_too_large", field="value"
        )
    return plaintext, names


def _check_description(description: str | None) -> None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise BadRequest(
            f"a description is at most {MAX_DESCRIPTION} characters",
            code="invalid_description",
            field="description",
        )


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise BadRequest("expires_at needs a time zone", code="invalid_expiry", field="expires_at")
        if expires_at <= now:
            raise BadRequest("expires_at must be in the future", code="invalid_expiry", field="expires_at")


class SecretService:
    def __init__(self, db: Database, keys: ServerKeys, limits: Limits) -> None:
        self.db = db
        self.keys = keys
        self.limits = limits

    def _keeper_kid(self) -> str:
        return "hpke:" + self.keys.keeper_public.current_id.hex()

    def create(
        self,
        requested_by: Principal,
        *,
        name: str,
        kind: Kind,
        value: NewValue,
        description: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> Secret:
        check_secret_name(name)
        _check_description(description)
        _check_expiry(expires_at, now)
        plaintext, field_names = _plaintext(kind, value, self.limits)
        user = requested_by.user
        secret = Secret(
            id=SecretID(random_ids.token_hex(16)),
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
        )
        try:
            with self.db.write() as conn:
                repo = SecretRepository(conn)
                if repo.exists(owner_id=user.id, name=name):
                    raise Conflict(
                        "you already have a secret with that name", code="already_exists", field="name"
                    )
                user_key = unwrap_user_key(
                    self.keys.master, UserRepository(conn).wrapped_key(user.id), user_id=user.id
                )
                stored = encrypt_version(
                    user_key,
                    self.keys.keeper_public,
                    plaintext,
                    secret_id=secret.id,
                    version=1,
                    owner_id=user.id,
                )
                repo.add(
                    secret,
                    stored,
                    size=len(plaintext),
                    user_key_id=user_key.kid.hex(),
                    keeper_key_id=self._keeper_kid(),
                )
                record(
                    conn,
                    requested_by,
                    "secret.create",
                    now=now,
                    secret_id=secret.id,
                    secret_name=name,
                    version=1,
                    detail=f"kind={kind.value}",
                )
                created = repo.get(owner_id=user.id, name=name)
        except SQLIntegrityError:
            # Two creates raced on PostgreSQL; the unique constraint decided.
            raise Conflict(
                "you already have a secret with that name", code="already_exists", field="name"
            ) from None
        if created is None:  # pragma: no cover -- written in the same transaction
            raise NotFound()
        return created

    def get(self, requested_by: Principal, name: str) -> Secret:
        check_secret_name(name)
        with self.db.read() as conn:
            found = SecretRepository(conn).get(owner_id=requested_by.user.id, name=name)
        if found is None:
            raise NotFound("no such secret")
        return found

    def page(self, requested_by: Principal, *, cursor: str | None, limit: int, prefix: str | None) -> Page:
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be 1-{MAX_PAGE}", code="invalid_limit", field="limit")
        after = _decode_cursor(cursor) if cursor else None
        with self.db.read() as conn:
            rows = SecretRepository(conn).page(
                owner_id=requested_by.user.id, after=after, limit=limit + 1, prefix=prefix
            )
        more = len(rows) > limit
        items = tuple(rows[:limit])
        return Page(items=items, next_cursor=_encode_cursor(items[-1].name) if more else None)

    def replace(
        self, requested_by: Principal, name: str, *, value: NewValue, if_match: int | None, now: datetime
    ) -> Secret:
        check_secret_name(name)
        user = requested_by.user
        with self.db.write() as conn:
            repo = SecretRepository(conn)
            current = repo.get(owner_id=user.id, name=name, with_versions=False)
            if current is None:
                raise NotFound("no such secret")
            if if_match is not None and if_match != current.current_version:
                raise Conflict(
                    "the secret changed since that version", code="version_conflict", field="If-Match"
                )
            plaintext, field_names = _plaintext(current.kind, value, self.limits)
            version = current.current_version + 1
            user_key = unwrap_user_key(
                self.keys.master, UserRepository(conn).wrapped_key(user.id), user_id=user.id
            )
            stored = encrypt_version(
                user_key,
                self.keys.keeper_public,
                plaintext,
                secret_id=current.id,
                version=version,
                owner_id=user.id,
            )
            written = repo.add_version(
                current,
                stored,
                expected_version=current.current_version,
                at=now,
                by=user.name,
                size=len(plaintext),
                user_key_id=user_key.kid.hex(),
                keeper_key_id=self._keeper_kid(),
                keep=self.limits.versions_kept,
            )
            if written is None:
                raise Conflict("the secret changed meanwhile; try again", code="version_conflict")
            if field_names != current.field_names:
                repo.set_field_names(current.id, field_names)
            record(
                conn,
                requested_by,
                "secret.replace",
                now=now,
                secret_id=current.id,
                secret_name=name,
                version=version,
            )
            updated = repo.get(owner_id=user.id, name=name)
        if updated is None:  # pragma: no cover
            raise NotFound()
        return updated

    def update(self, requested_by: Principal, name: str, patch: SecretPatch, *, now: datetime) -> Secret:
        check_secret_name(name)
        _check_description(patch.description)
        _check_expiry(patch.expires_at, now)
        user = requested_by.user
        with self.db.write() as conn:
            repo = SecretRepository(conn)
            current = repo.get(owner_id=user.id, name=name, with_versions=False)
            if current is None:
                raise NotFound("no such secret")
            repo.update_metadata(
                current.id,
                description=patch.description,
                expires_at=patch.expires_at,
                set_expiry=patch.clear_expiry or patch.expires_at is not None,
                at=now,
                by=user.name,
            )
            record(
                conn,
                requested_by,
                "secret.update",
                now=now,
                secret_id=current.id,
                secret_name=name,
                version=current.current_version,
            )
            updated = repo.get(owner_id=user.id, name=name)
        if updated is None:  # pragma: no cover
            raise NotFound()
        return updated

    def delete(self, requested_by: Principal, name: str, *, now: datetime) -> None:
        check_secret_name(name)
        with self.db.write() as conn:
            repo = SecretRepository(conn)
            current = repo.get(owner_id=requested_by.user.id, name=name, with_versions=False)
            if current is None:
                raise NotFound("no such secret")
            repo.delete(current.id)
            record(
                conn,
                requested_by,
                "secret.delete",
                now=now,
                secret_id=current.id,
                secret_name=name,
                version=current.current_version,
            )


def _encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        name = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the cursor is not valid", code="invalid_cursor", field="cursor") from None
    if len(name) > 128:
        raise BadRequest("the cursor is not valid", code="invalid_cursor", field="cursor")
    return name
