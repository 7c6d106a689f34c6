"""The keeper's client, used by the server and by the session side: unix socket (`unix:///path`) or TCP
(`http://host:port`, `tcp://host:port`), over sealbox's one transport."""

from __future__ import annotations

import base64
from typing import Any

from sealbox.domain.keeper import OuterLayer
from sealbox.errors import ClientError, IntegrityError, KeeperRefused, Unavailable
from sealbox.transport import HTTPClient, Response

_TIMEOUT_S = 3.0  # a keeper that does not answer in 3 s counts as down


def _down(message: str = "the keeper is unavailable") -> Unavailable:
    return Unavailable(message, code="keeper_unavailable")


def _outer_layers(items: list[OuterLayer]) -> list[dict[str, Any]]:
    return [
        {
            "secret_id": i.secret_id,
            "version": i.version,
            "owner_id": i.owner_id,
            "outer": base64.b64encode(i.outer).decode(),
        }
        for i in items
    ]


class KeeperClient:
    def __init__(self, url: str) -> None:
        self._http = HTTPClient(url, timeout=_TIMEOUT_S, connect_timeout=_TIMEOUT_S, name="the keeper")

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Response:
        """The keeper's answer; Unavailable (keeper_unavailable) when there is none or it is a 5xx."""
        try:
            response = self._http.request(method, path, json_body=body)
        except ClientError:
            raise _down() from None
        if response.status >= 500:
            raise _down()
        return response

    def health(self) -> dict[str, str]:
        try:
            data = self._call("GET", "/healthz").json()
        except ValueError:
            raise _down() from None
        return {str(k): str(v) for k, v in data.items()}

    def public_key_text(self) -> str:
        return self._call("GET", "/public-key").content.decode()

    def convert(self, items: list[OuterLayer]) -> list[tuple[bytes, str] | None]:
        response = self._call("POST", "/v1/convert", {"items": _outer_layers(items)})
        if response.status != 200:
            raise _down("the keeper refused the request")
        results: list[tuple[bytes, str] | None] = []
        for entry in response.json()["results"]:
            results.append(
                None if entry is None else (base64.b64decode(entry["outer"]), str(entry["key_id"]))
            )
        return results

    def open_session(
        self, ticket: str, items: list[OuterLayer]
    ) -> tuple[bytes, dict[tuple[str, int], bytes]]:
        """The keeper's half of a session: its sealed session key, and each inner layer wrapped under it.

        Raises Unavailable when the keeper is down, IntegrityError when an outer layer does not open, and
        KeeperRefused when it refuses the ticket (any other answer).
        """
        response = self._call("POST", "/v1/sessions", {"ticket": ticket, "items": _outer_layers(items)})
        if response.status == 422:
            raise IntegrityError()
        if response.status != 200:
            raise KeeperRefused()
        body = response.json()
        inner = {
            (str(i["secret_id"]), int(i["version"])): base64.b64decode(i["inner"]) for i in body["items"]
        }
        return base64.b64decode(body["sealed_key"]), inner
