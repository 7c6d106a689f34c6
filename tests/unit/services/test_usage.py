"""The 409 that names the live sessions holding a secret: all of them when they fit in a message a
client keeps (sealbox.transport keeps up to 300 characters), else as many as fit and the count of the rest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sealbox.domain.kinds import Kind
from sealbox.domain.principals import UserID
from sealbox.domain.secrets import Secret, SecretID
from sealbox.domain.sessions import LiveSession, SessionID
from sealbox.errors import Conflict
from sealbox.services.usage import MAX_MESSAGE, check_not_held

NOW = datetime(2026, 12, 7, tzinfo=UTC)
SECRET = Secret(
    id=SecretID("s" * 32),
    owner_id=UserID("u" * 32),
    owner_name="alice",
    name="db",
    kind=Kind.GENERIC,
    description="",
    field_names=(),
    created_at=NOW,
    created_by="alice",
    updated_at=NOW,
    updated_by="alice",
    expires_at=None,
    current_version=1,
)


def _live(n: int, owner: str) -> list[LiveSession]:
    return [LiveSession(SessionID(f"{i:032x}"), owner, NOW, NOW) for i in range(n)]


def test_none_held_is_no_conflict() -> None:
    check_not_held(SECRET, [], what="delete it")


def test_a_few_are_all_named() -> None:
    with pytest.raises(Conflict) as held:
        check_not_held(SECRET, _live(2, "bob"), what="delete it")
    message = held.value.message
    assert (held.value.code, held.value.field) == ("secret_in_use", "force")
    assert f"{0:032x} (bob), {1:032x} (bob);" in message and "more" not in message
    assert "delete it with force" in message and len(message) <= MAX_MESSAGE


@pytest.mark.parametrize("owner", ["bob", "x" * 64])
def test_many_are_named_as_far_as_the_message_goes(owner: str) -> None:
    with pytest.raises(Conflict) as held:
        check_not_held(SECRET, _live(40, owner), what="delete it")
    message = held.value.message
    named = message.count(f"({owner})")
    assert 1 <= named < 40 and f" and {40 - named} more;" in message
    assert message.startswith("40 live session(s) hold it: ") and len(message) <= MAX_MESSAGE
