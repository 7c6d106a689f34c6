"""The typed calls beneath the SDK's `Client`: one request encoded as its sealbox.protocol Struct, one answer
decoded as its Struct, and the errors of `sealbox.transport` (none keeps a response body)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from sealbox.errors import ClientError
from sealbox.transport import READ_TIMEOUT_S, HTTPClient, error_from_response

if TYPE_CHECKING:
    from sealbox.protocol.base import Message

T = TypeVar("T")


def split_ref(ref: str) -> tuple[str, dict[str, str]]:
    """`alice/db` -> ('db', {'owner': 'alice'}); a bare name is the caller's own."""
    owner, slash, name = ref.partition("/")
    return (name, {"owner": owner}) if slash else (ref, {})


class Calls:
    """A `Client`'s connection and its two ways of calling: `_send` (a typed answer) and `_send_empty`."""

    def __init__(self, url: str, token: str, *, timeout: float = READ_TIMEOUT_S) -> None:
        self.http = HTTPClient(url, token=token, timeout=timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.http.url!r}, token=[secure])"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One call of the API as this client's user: decoded JSON, None for an empty answer (untyped: the
        other methods of `Client` are typed)."""
        return self.http.call(method, path, json_body=json, params=params)

    def _send(
        self,
        method: str,
        path: str,
        answer: type[T],
        *,
        body: Message | Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """`body` encoded as its Struct (or as plain JSON data), the answer decoded as `answer`; its errors as
        `HTTPClient.call`'s."""
        from sealbox.protocol.base import ProtocolError, decode_answer, encode

        content = None if body is None else encode(body)
        response = self.http.request(method, path, content=content, params=params, headers=headers)
        if response.status >= 400:
            raise error_from_response(response.status, response.content, response.headers)
        try:
            return decode_answer(response.content, answer)
        except ProtocolError as bad:
            where = f" (at {bad.where})" if bad.where else ""
            raise ClientError(
                502,
                "invalid_response",
                f"the server's answer does not have the shape this client reads{where}: "
                "is the server another version of sealbox?",
            ) from None

    def _send_empty(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> None:
        self.http.call(method, path, params=params)
