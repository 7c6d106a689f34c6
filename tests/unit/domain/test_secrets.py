"""Secret metadata records: frozen, keyword-only, and without any field that could hold a value."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec.structs
import pytest

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import UserID
from sealbox.domain.secrets import Page, Secret, SecretID, SecretPatch, SecretVersion

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _secret() -> Secret:
    return Secret(
        id=SecretID("s1"),
        owner_id=UserID("u1"),
        owner_name="alice",
        name="DB_PASSWORD",
        kind=Kind.DATABASE,
        description="prod",
        field_names=("host", "password"),
        created_at=NOW,
        created_by="alice",
        updated_at=NOW,
        updated_by="alice",
        expires_at=None,
        current_version=1,
    )


def test_secret_defaults_and_frozen() -> None:
    secret = _secret()
    assert secret.versions == ()
    with pytest.raises(AttributeError):
        secret.name = "other"  # type: ignore[misc]
    with_versions = msgspec.structs.replace(
        secret, versions=(SecretVersion(version=1, created_at=NOW, created_by="alice", size=12),)
    )
    assert with_versions.versions[0].size == 12


def test_no_record_has_a_value_field() -> None:
    for record in (Secret, SecretVersion, SecretPatch, Page):
        names = set(record.__struct_fields__)
        assert not names & {"value", "plaintext", "secret", "fields", "data", "ciphertext"}


def test_patch_defaults() -> None:
    patch = SecretPatch()
    assert (patch.description, patch.expires_at, patch.clear_expiry) == (None, None, False)


def test_page() -> None:
    page = Page(items=(_secret(),), next_cursor=None)
    assert page.items[0].name == "DB_PASSWORD"
