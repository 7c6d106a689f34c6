"""The usage rules: a number of days, and when a secret is stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sealbox.domain.usage import MAX_STALE_DAYS, ShareUse, UserUse, is_stale, parse_days, stale_since
from sealbox.errors import BadRequest

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "days"), [("90d", 90), ("90", 90), (7, 7), (" 1d ", 1), ("36500d", MAX_STALE_DAYS)]
)
def test_days(raw: str | int, days: int) -> None:
    assert parse_days(raw) == days


@pytest.mark.parametrize("raw", ["0d", "0", "", "d", "90h", "-1", "36501", "1e3", "\uff19\uff10d", "90dd"])
def test_not_days(raw: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_days(raw)
    assert refused.value.code == "invalid_days" and refused.value.field == "days"


def test_stale_means_unused_since_and_older_than_that() -> None:
    since = stale_since(NOW, 90)
    assert since == NOW - timedelta(days=90)
    old = since - timedelta(days=1)
    assert is_stale(created_at=old, last_used_at=None, since=since)
    assert is_stale(created_at=old, last_used_at=since - timedelta(seconds=1), since=since)
    assert not is_stale(created_at=old, last_used_at=since, since=since)  # used at the very start
    assert not is_stale(created_at=since + timedelta(days=1), last_used_at=None, since=since)  # too young


def test_a_share_was_last_used_when_its_last_user_was() -> None:
    share = ShareUse(grantee_type="group", grantee="team", level="use", created_at=NOW)
    assert share.last_used_at is None
    users = (
        UserUse(user="a", last_used_at=NOW, deliveries=1),
        UserUse(user="b", last_used_at=NOW - timedelta(1), deliveries=2),
    )
    assert (
        ShareUse(
            grantee_type="group", grantee="team", level="use", created_at=NOW, used_by=users
        ).last_used_at
        == NOW
    )
