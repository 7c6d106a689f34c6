"""Server and session side <-> keeper: health, outer-layer conversion, and the keeper's half of a session.

Bytes travel as standard base64 strings (msgspec's encoding of `bytes`), as they always have.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from sealbox.protocol.base import Message

MAX_ITEMS = 1000  # per convert call and per session: the keeper refuses more


class KeeperHealth(Message, frozen=True):
    """GET /healthz."""

    status: str
    key_id: str
    wrap_key_id: str


class OuterLayerItem(Message, frozen=True):
    """One stored outer layer and the ids of its row (the keeper rebuilds the context from them)."""

    secret_id: str
    version: int
    owner_id: str
    outer: bytes


class ConvertRequest(Message, frozen=True):
    """POST /v1/convert: HPKE-sealed outer layers, to be re-wrapped under the keeper's own key."""

    items: Annotated[list[OuterLayerItem], msgspec.Meta(max_length=MAX_ITEMS)]


class Converted(Message, frozen=True):
    outer: bytes
    key_id: str


class ConvertResponse(Message, frozen=True):
    """One result per item, in order; None for an item that did not open."""

    results: list[Converted | None]


class SessionOpenRequest(Message, frozen=True):
    """POST /v1/sessions: the server's signed ticket and the outer layers it names."""

    ticket: str
    items: Annotated[list[OuterLayerItem], msgspec.Meta(max_length=MAX_ITEMS)]


class InnerItem(Message, frozen=True):
    secret_id: str
    version: int
    inner: bytes  # the inner layer, wrapped under the session's key


class SessionOpenResponse(Message, frozen=True):
    """The keeper's half: its session key sealed to the session's public key, and each inner layer."""

    sealed_key: bytes
    items: list[InnerItem]


# Keeper-key rotation (`sealbox admin rotate keeper-key`): each request carries a ticket signed with the
# server's signing key, whose claims name the step ("action"); the keeper serves no other.


class KeeperKeyRequest(Message, frozen=True):
    """POST /v1/keys/rotate and /v1/keys/retire: the signed ticket of the step."""

    ticket: str


class KeeperKeyState(Message, frozen=True):
    """The keeper's keys after the step: its public keys (keeper.pub text, current first) and current ids."""

    public_keys: str
    key_id: str
    wrap_key_id: str
    created: bool  # False: the keeper already held a newer key (an earlier answer was lost), or retired


class RewrapRequest(Message, frozen=True):
    """POST /v1/keys/rewrap: outer layers under any key the keeper holds, to wrap under its current one."""

    ticket: str
    items: Annotated[list[OuterLayerItem], msgspec.Meta(max_length=MAX_ITEMS)]
