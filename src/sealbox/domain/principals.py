"""Users and their personal access tokens."""

from __future__ import annotations

import json
from datetime import datetime
from typing import NewType

import msgspec

from sealbox.domain.kinds import Kind
from sealbox.domain.sessions import Mapping
from sealbox.errors import BadRequest

UserID = NewType("UserID", str)
TokenID = NewType("TokenID", str)

MAX_TOKEN_NAME = 128  # characters of a token's name, once blank around it is dropped


class Purposes(msgspec.Struct, frozen=True, kw_only=True):
    """What a service account may fetch on a user's behalf: secrets of these kinds, or with these names."""

    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def checked(self) -> Purposes:
        """Refuse a purpose that names no possible secret: an unknown kind, or a name that is not NAME or
        OWNER/NAME (the messages are fixed, never what was given)."""
        if not set(self.kinds) <= {k.value for k in Kind}:
            kinds = ", ".join(k.value for k in Kind)
            raise BadRequest(
                f"a service account's kinds are among: {kinds}", code="invalid_kind", field="kinds"
            )
        for ref in self.names:
            try:
                Mapping(secret=ref, file="f").validated()
            except BadRequest:
                raise BadRequest(
                    "each name is NAME or OWNER/NAME", code="invalid_name", field="names"
                ) from None
        return self

    def allow(self, *, kind: str, name: str, ref: str) -> bool:
        return kind in self.kinds or name in self.names or ref in self.names

    def to_json(self) -> str:
        return json.dumps({"kinds": list(self.kinds), "names": list(self.names)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Purposes | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(kinds=tuple(data.get("kinds", ())), names=tuple(data.get("names", ())))


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: UserID
    name: str
    is_admin: bool
    created_at: datetime
    kind: str = "person"  # person, or service (a platform service acting for users)
    purposes: Purposes | None = None
    external_id: str | None = None  # set for users an identity provider or proxy created
    disabled_at: datetime | None = None  # set: no token, web session or sign-in of theirs works
    removed_at: datetime | None = None  # set: removed for good (disabled too; the name is not reused)

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None


class AccessToken(msgspec.Struct, frozen=True, kw_only=True):
    """A token's metadata; its secret part exists only once, in the answer that issues it."""

    id: TokenID
    user_id: UserID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is making a request: the user and the token they used."""

    user: User
    token_id: TokenID | None
    client_addr: str | None
