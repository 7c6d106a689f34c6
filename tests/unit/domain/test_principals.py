"""Users and access tokens: a token is active until it is revoked or expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sealbox.domain.principals import AccessToken, Principal, TokenID, User, UserID

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def _token(*, expires_at: datetime | None = None, revoked_at: datetime | None = None) -> AccessToken:
    return AccessToken(
        id=TokenID("t1"),
        user_id=UserID("u1"),
        name="laptop",
        created_at=NOW - timedelta(days=1),
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


@pytest.mark.parametrize(
    ("expires_at", "revoked_at", "active"),
    [
        (None, None, True),
        (NOW + timedelta(seconds=1), None, True),
        (NOW, None, False),  # expiry is exclusive: at the instant it expires, it is expired
        (NOW - timedelta(seconds=1), None, False),
        (None, NOW - timedelta(days=1), False),
        (NOW + timedelta(days=1), NOW - timedelta(seconds=1), False),
        (None, NOW + timedelta(days=1), False),  # any revocation stamp ends the token
    ],
)
def test_is_active(expires_at: datetime | None, revoked_at: datetime | None, active: bool) -> None:
    assert _token(expires_at=expires_at, revoked_at=revoked_at).is_active(NOW) is active


def test_principal_and_user_are_frozen() -> None:
    user = User(id=UserID("u1"), name="alice", is_admin=False, created_at=NOW)
    principal = Principal(user=user, token_id=TokenID("t1"), client_addr="127.0.0.1")
    assert principal.user.name == "alice"
    with pytest.raises(AttributeError):
        user.is_admin = True  # type: ignore[misc]


def test_a_token_record_has_no_secret_part() -> None:
    assert set(AccessToken.__struct_fields__) == {
        "id",
        "user_id",
        "name",
        "created_at",
        "expires_at",
        "revoked_at",
    }


def test_purposes_name_only_possible_secrets() -> None:
    """A service account's purposes: known kinds, and NAME or OWNER/NAME (API and admin CLI alike)."""
    from sealbox.domain.principals import Purposes
    from sealbox.errors import BadRequest

    ok = Purposes(kinds=("aws", "generic"), names=("db", "alice/db"))
    assert ok.checked() is ok
    for bad in (Purposes(kinds=("nosuch",)), Purposes(names=("a/b/c",)), Purposes(names=("..",))):
        with pytest.raises(BadRequest) as info:
            bad.checked()
        assert info.value.code in ("invalid_kind", "invalid_name")
        assert "nosuch" not in info.value.message and "a/b/c" not in info.value.message
