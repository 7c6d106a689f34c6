"""A client of the keeper over its unix socket (`unix:///path`) or TCP address (`http://host:port`)."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from sealbox.domain.keeper import OuterLayer
from sealbox.errors import CiphertextIntegrityError, Unavailable

_TIMEOUT = httpx.Timeout(3.0)  # a keeper that does not answer in 3 s counts as down


class KeeperClient:
    def __init__(self, url: str) -> None:
        if url.startswith("unix://"):
            # No TLS on a unix socket: skip loading a CA bundle (tens of milliseconds per client).
            transport = httpx.HTTPTransport(uds=url.removeprefix("unix://"), verify=False)
            self._client = httpx.Client(transport=transport, base_url="http://keeper", timeout=_TIMEOUT)
        else:
            self._client = httpx.Client(base_url=url.replace("tcp://", "http://"), timeout=_TIMEOUT)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError:
            raise Unavailable("the keeper is unavailable", code="keeper_unavailable") from None
        if response.status_code >= 500:
            raise Unavailable("the keeper is unavailable", code="keeper_unavailable")
        return response

    def health(self) -> dict[str, str]:
        data = self._call("GET", "/healthz").json()
        return {str(k): str(v) for k, v in data.items()}

    def public_key_text(self) -> str:
        return self._call("GET", "/public-key").text

    def convert(self, items: list[OuterLayer]) -> list[tuple[bytes, str] | None]:
        payload = {
            "items": [
                {
                    "secret_id": i.secret_id,
                    "version": i.version,
                    "owner_id": i.owner_id,
                    "outer": base64.b64encode(i.outer).decode(),
                }
                for i in items
            ]
        }
        response = self._call("POST", "/v1/convert", json=payload)
        if response.status_code != 200:
            raise Unavailable("the keeper refused the request", code="keeper_unavailable")
        results: list[tuple[bytes, str] | None] = []
        for entry in response.json()["results"]:
            results.append(
                None if entry is None else (base64.b64decode(entry["outer"]), str(entry["key_id"]))
            )
        return results

    def launch(self, ticket: str, items: list[OuterLayer]) -> tuple[bytes, dict[tuple[str, int], bytes]]:
        """The keeper's half of a launch: its sealed launch key, and each inner layer wrapped under it.

        Raises Unavailable when the keeper is down and LaunchRefusedError when it refuses the ticket.
        """
        payload = {
            "ticket": ticket,
            "items": [
                {
                    "secret_id": i.secret_id,
                    "version": i.version,
                    "owner_id": i.owner_id,
                    "outer": base64.b64encode(i.outer).decode(),
                }
                for i in items
            ],
        }
        response = self._call("POST", "/v1/launch", json=payload)
        if response.status_code == 422:
            raise CiphertextIntegrityError()
        if response.status_code != 200:
            raise LaunchRefusedError()
        body = response.json()
        inner = {
            (str(i["secret_id"]), int(i["version"])): base64.b64decode(i["inner"]) for i in body["items"]
        }
        return base64.b64decode(body["sealed_key"]), inner


class LaunchRefusedError(Unavailable):
    status_code = 403
    code = "launch_refused"
    message = "the keeper refused this launch"
