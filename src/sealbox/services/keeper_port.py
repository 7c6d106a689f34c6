"""What services need from the keeper, as a Protocol; create_app wires in the keeper client."""

from __future__ import annotations

from typing import Protocol

from sealbox.domain.keeper import OuterLayer


class KeeperPort(Protocol):
    def health(self) -> dict[str, str]:
        """The keeper's status and current key ids; raises Unavailable when it cannot be reached."""
        ...

    def convert(self, items: list[OuterLayer]) -> list[tuple[bytes, str] | None]:
        """For each item, the keeper-wrapped outer layer and its key id (None where the keeper refused it).

        Raises Unavailable when the keeper cannot be reached.
        """
        ...
