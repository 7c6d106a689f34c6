"""What fault tests write and read back: a ledger of acknowledged writes, and values through a launch."""

from __future__ import annotations

from dataclasses import dataclass, field

from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.processes import Stack


@dataclass
class Ledger:
    """Per secret name: the value the API last acknowledged, and the writes sent since that were never
    answered or answered 503 (the server or database failed under them). Such a write may or may not
    have committed: all or nothing, so the stored value must be the acknowledged one or one of those."""

    acked: dict[str, str] = field(default_factory=dict)
    unanswered: dict[str, set[str]] = field(default_factory=dict)

    def ack(self, name: str, value: str) -> None:
        self.acked[name] = value
        self.unanswered.pop(name, None)

    def maybe(self, name: str, value: str) -> None:
        self.unanswered.setdefault(name, set()).add(value)

    def allowed(self, name: str) -> set[str]:
        return {self.acked[name], *self.unanswered.get(name, ())}

    def lost(self, stored: dict[str, bytes]) -> list[str]:
        """The names whose stored value is none the ledger allows."""
        return [n for n in self.acked if stored.get(n, b"").decode() not in self.allowed(n)]


def values_through_launch(stack: Stack, names: list[str], *, token: str | None = None) -> dict[str, bytes]:
    """The stored values of `names` (the admin's, or the owner's of `token`), as a session receives them:
    launch and redeem."""
    with stack.client(token) as c:
        launch = c.post("/api/v1/sessions", json={"secrets": [{"name": n, "file": n} for n in names]})
        assert launch.status_code == 201, launch.text
        body = launch.json()
    with HTTPClient(stack.url) as anonymous:
        delivery = redeem(
            anonymous,
            session_id=body["session"]["id"],
            credential=body["session_credential"],
            keeper_url=stack.keeper.url,
        )
    return {item.name: item.value for item in delivery.items}
