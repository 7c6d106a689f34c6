"""The keeper's client, used by the server and by the session side: unix socket (`unix:///path`) or TCP
(`http://host:port`, `tcp://host:port`), over sealbox's one transport, in the messages of
sealbox.protocol.keeper."""

from __future__ import annotations

from sealbox.domain import request_ids
from sealbox.domain.keeper import OuterLayer
from sealbox.errors import CiphertextIntegrityError, ClientError, KeeperRefused, Unavailable
from sealbox.protocol.base import Message, ProtocolError, decode, encode
from sealbox.protocol.keeper import (
    ConvertRequest,
    ConvertResponse,
    KeeperHealth,
    KeeperKeyRequest,
    KeeperKeyState,
    OuterLayerItem,
    RewrapRequest,
    SessionOpenRequest,
    SessionOpenResponse,
)
from sealbox.transport import HTTPClient, Response

_TIMEOUT_S = 3.0  # a keeper that does not answer in 3 s counts as down


def _with_request_id() -> dict[str, str] | None:
    """The request id of the API request this call serves, so the keeper's log lines carry it too."""
    request_id = request_ids.current()
    return {request_ids.HEADER: request_id} if request_id else None


def _down(message: str = "the keeper is unavailable") -> Unavailable:
    return Unavailable(message, code="keeper_unavailable")


def _items(items: list[OuterLayer]) -> list[OuterLayerItem]:
    return [
        OuterLayerItem(secret_id=i.secret_id, version=i.version, owner_id=i.owner_id, outer=i.outer)
        for i in items
    ]


class KeeperClient:
    def __init__(self, url: str) -> None:
        self._http = HTTPClient(url, timeout=_TIMEOUT_S, connect_timeout=_TIMEOUT_S, name="the keeper")

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Message | None = None) -> Response:
        """The keeper's answer; Unavailable (keeper_unavailable) when there is none or it is a 5xx."""
        try:
            response = self._http.request(
                method,
                path,
                content=None if body is None else encode(body),
                headers=_with_request_id(),
            )
        except ClientError:
            raise _down() from None
        if response.status >= 500:
            raise _down()
        return response

    def health(self) -> dict[str, str]:
        try:
            health = decode(self._call("GET", "/healthz").content, KeeperHealth)
        except ProtocolError:
            raise _down() from None
        return {"status": health.status, "key_id": health.key_id, "wrap_key_id": health.wrap_key_id}

    def public_key_text(self) -> str:
        return self._call("GET", "/public-key").content.decode()

    def convert(self, items: list[OuterLayer]) -> list[tuple[bytes, str] | None]:
        response = self._call("POST", "/v1/convert", ConvertRequest(items=_items(items)))
        if response.status != 200:
            raise _down("the keeper refused the request")
        try:
            results = decode(response.content, ConvertResponse).results
        except ProtocolError:
            raise _down("the keeper refused the request") from None
        return [None if r is None else (r.outer, r.key_id) for r in results]

    def key_step(self, step: str, ticket: str) -> KeeperKeyState:
        """A signed keeper-key step ("rotate" or "retire"): the keeper's keys after it."""
        response = self._call("POST", f"/v1/keys/{step}", KeeperKeyRequest(ticket=ticket))
        _refused_unless_ok(response.status)
        try:
            return decode(response.content, KeeperKeyState)
        except ProtocolError:
            raise _down("the keeper sent an answer this version does not read") from None

    def rewrap(self, ticket: str, items: list[OuterLayer]) -> list[tuple[bytes, str] | None]:
        """Each outer layer wrapped under the keeper's current key (None where it holds no key for it)."""
        response = self._call("POST", "/v1/keys/rewrap", RewrapRequest(ticket=ticket, items=_items(items)))
        _refused_unless_ok(response.status)
        try:
            results = decode(response.content, ConvertResponse).results
        except ProtocolError:
            raise _down("the keeper sent an answer this version does not read") from None
        return [None if r is None else (r.outer, r.key_id) for r in results]

    def open_session(
        self, ticket: str, items: list[OuterLayer]
    ) -> tuple[bytes, dict[tuple[str, int], bytes]]:
        """The keeper's half of a session: its sealed session key, and each inner layer wrapped under it.

        Raises Unavailable when the keeper is down, CiphertextIntegrityError when an outer layer does not
        open, and KeeperRefused when it refuses the ticket (any other answer).
        """
        response = self._call("POST", "/v1/sessions", SessionOpenRequest(ticket=ticket, items=_items(items)))
        if response.status == 422:
            raise CiphertextIntegrityError()
        if response.status != 200:
            raise KeeperRefused()
        try:
            half = decode(response.content, SessionOpenResponse)
        except ProtocolError:
            raise KeeperRefused() from None
        return half.sealed_key, {(i.secret_id, i.version): i.inner for i in half.items}


def _refused_unless_ok(status: int) -> None:
    if status == 403:
        raise KeeperRefused(
            code="keeper_refused",
            message="the keeper refused the request: its server.pub must be this server's signing.pub",
        )
    if status != 200:
        raise _down("the keeper does not serve key rotation (an older keeper?)")
