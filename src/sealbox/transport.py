"""The one HTTP client of sealbox's clients, and `error_from_response`: the one map from answer to error.

Every caller of sealbox's own API over HTTP goes through `HTTPClient`: the SDK's `Client`, the launcher's
calls and its redemption, the init container and its refresh sidecar, the CLI's health probe and the
keeper client. It speaks HTTP/1.1 with the standard library's `http.client` and not httpx: measured with
`python -X importtime` on this machine, `import httpx` costs about 87 ms (it pulls in `httpcore`, `h11`,
`idna`, `certifi`, and through its CLI extras click and rich), `import http.client` about 20 ms, and
`ssl` is only loaded for an `https://` address. A notebook's first `get_secret` and every `sealbox run`
pay that import, so the light path wins; what httpx gave sealbox's clients (one keep-alive connection,
timeouts, TLS checked against certifi's bundle or $SSL_CERT_FILE/$SSL_CERT_DIR, unix sockets for the
keeper) is a few lines here. The server's calls to an identity provider keep httpx (server/web/oidc.py).

Addresses: `https://host[:port]` (certificate and host name checked), `http://host[:port]` (no CA bundle
is loaded: loading one costs tens of milliseconds), `unix:///path/to.sock` (the keeper's socket), and
`tcp://host:port` as a synonym of `http://`.

An error answer becomes one exception of the tree in `sealbox.errors` (a `ClientError`, also an instance of
the server's class for that status: `NotFound`, `Unavailable`, ...), with the stable `code` and the
server's fixed `message`; the response body itself is never kept. No token appears in a message or repr.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from sealbox.errors import (
    BadRequestAnswer,
    CiphertextIntegrityErrorAnswer,
    ClientError,
    ConflictAnswer,
    ForbiddenAnswer,
    KeeperRefused,
    NotFoundAnswer,
    PayloadTooLargeAnswer,
    RateLimitedAnswer,
    UnauthenticatedAnswer,
    UnavailableAnswer,
)

if TYPE_CHECKING:
    import ssl

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
_MAX_MESSAGE = 300  # a server message longer than this is not one of sealbox's fixed messages
_USER_AGENT = "sealbox"
_MAX_IDLE = 8
_REPEATABLE = frozenset({"GET", "HEAD", "PUT", "DELETE"})

# Status -> class; a (status, code) pair listed in _BY_CODE wins over its status.
_BY_STATUS: dict[int, type[ClientError]] = {
    400: BadRequestAnswer,
    401: UnauthenticatedAnswer,
    403: ForbiddenAnswer,
    404: NotFoundAnswer,
    409: ConflictAnswer,
    413: PayloadTooLargeAnswer,
    422: CiphertextIntegrityErrorAnswer,
    429: RateLimitedAnswer,
    503: UnavailableAnswer,
}
_BY_CODE: dict[tuple[int, str], type[ClientError]] = {
    (403, KeeperRefused.code): KeeperRefused,
    (422, "invalid_request"): BadRequestAnswer,  # a body the API's validation refused, not a ciphertext
}
_REASONS = {
    400: "bad request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not found",
    409: "conflict",
    413: "payload too large",
    422: "unprocessable",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


def tls_verification(url: str) -> bool:
    """Verify certificates for https; for plain http skip loading a CA bundle (tens of ms per client)."""
    return not url.startswith("http://")


def _safe_text(value: object, fallback: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_MESSAGE:
        return fallback
    return value


def error_from_response(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> ClientError:
    """The exception for an error answer: its class from `status` and the stable `code`, its text from the
    server's fixed `message` (and the first field problem, when the API names one). Nothing else of `body`
    is kept, and a body that is not sealbox's error JSON gives the status's own name and the code
    `http_<status>`. A 429's `retry_after` comes from its Retry-After header."""
    reason = _REASONS.get(status, "error")
    code, message = f"http_{status}", reason
    retry_after = (headers or {}).get("retry-after", "")
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        code = _safe_text(data.get("code"), code)
        message = _safe_text(data.get("message"), message)
        problems = data.get("errors")
        if isinstance(problems, list) and problems and isinstance(problems[0], dict):
            where, problem = problems[0].get("field"), problems[0].get("problem")
            if isinstance(where, str) and isinstance(problem, str) and problem != message:
                message = _safe_text(f"{message} ({where}: {problem})", message)
    cls = _BY_CODE.get((status, code)) or _BY_STATUS.get(status) or ClientError
    error = cls(status, code, message)
    if isinstance(error, RateLimitedAnswer):
        error.retry_after = int(retry_after) if retry_after.isascii() and retry_after.isdigit() else 60
    return error


def unreachable(where: str) -> ClientError:
    """No answer at all (refused, reset, timed out): status 0, code `unreachable`."""
    return ClientError(0, "unreachable", f"cannot reach the sealbox server at {where}")


class Response:
    """One answer: its status, its headers (names lower-cased) and its body.

    A plain slotted class rather than a dataclass: `sealbox run` loads this module first, and the
    dataclass machinery alone costs it about 2 ms (bench/startup.py)."""

    __slots__ = ("content", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status = status
        self.headers = headers
        self.content = content

    def __repr__(self) -> str:  # the body stays out of logs and tracebacks
        return f"Response(status={self.status})"

    def json(self) -> Any:
        return json.loads(self.content)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _create_connection(
    address: tuple[str, int], timeout: float | None, source_address: tuple[str, int] | None = None
) -> socket.socket:
    """`socket.create_connection`, with an ASCII host name passed as bytes: for a str, getaddrinfo loads the
    idna codec (unicodedata, stringprep: about 1 ms of every `sealbox run`); the address found is the same."""
    host, port = address
    name: Any = host.encode() if host.isascii() else host  # typeshed says str; getaddrinfo takes bytes too
    return socket.create_connection((name, port), timeout, source_address)


def _tls_context() -> ssl.SSLContext:
    """As httpx does: $SSL_CERT_FILE, else $SSL_CERT_DIR, else certifi's bundle, else the system's."""
    import ssl

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with the dependencies; the system's CAs otherwise
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class HTTPClient:
    """Keep-alive connections to one sealbox address; safe to share between threads (one connection each).

    `call()` returns the decoded JSON of a 2xx answer (None when empty) and raises `error_from_response()`'s
    error for any other, or `unreachable()` when no answer came. `token`, when given, goes into every
    request's Authorization header and nowhere else.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = READ_TIMEOUT_S,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        name: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.name = name or self.url  # how errors name this address
        parts = urlsplit(self.url.replace("tcp://", "http://", 1))
        if parts.scheme not in ("http", "https", "unix"):
            raise ValueError(f"unsupported address {self.url!r}: use https://, http:// or unix://")
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._prefix = "" if parts.scheme == "unix" else parts.path.rstrip("/")
        self._socket_path = parts.path if parts.scheme == "unix" else ""
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._idle: list[http.client.HTTPConnection] = []  # kept-alive connections, ready for a request
        self._lock = threading.Lock()  # guards _idle only: requests on different connections run at once

    def __repr__(self) -> str:
        return f"HTTPClient(url={self.url!r}, token=[secure])"

    def __enter__(self) -> HTTPClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._scheme == "unix":
            connection = _UnixConnection(self._socket_path, self._connect_timeout)
        elif self._scheme == "https":
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=_tls_context()
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        connection._create_connection = _create_connection  # type: ignore[attr-defined]
        connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(self._timeout)
        return connection

    def _kept(self) -> http.client.HTTPConnection | None:
        """An idle connection the server has not closed meanwhile (its socket would be readable), or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if connection.sock is not None and not select.select([connection.sock], [], [], 0)[0]:
                return connection
            connection.close()

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < _MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def _exchange(
        self, method: str, target: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, bytes]:
        kept = self._kept()
        if kept is not None:
            try:
                kept.request(method, target, body=payload, headers=headers)
                answer = kept.getresponse()
                return kept, answer, answer.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # Closed by the server between our check and the request. Send again on a new connection only
                # what may be repeated: a POST may have been acted on (a redemption spends its credential).
                kept.close()
                if method not in _REPEATABLE:
                    raise
        connection = self._connect()
        try:
            connection.request(method, target, body=payload, headers=headers)
            answer = connection.getresponse()
            return connection, answer, answer.read()
        except BaseException:
            connection.close()
            raise

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        anonymous: bool = False,
        content: bytes | None = None,
    ) -> Response:
        """One request; any status comes back as a Response. Raises `unreachable()` when no answer came.
        `anonymous` leaves out the token (a redemption carries its own one-time credential); `content` is a
        body already encoded as JSON (a sealbox.protocol message), `json_body` one to encode here."""
        target = self._prefix + quote(path, safe="/:@!$&'()*+,;=-._~")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            target += "?" + urlencode(query)
        sent = dict(self._headers)
        if anonymous:
            sent.pop("Authorization", None)
        payload = content
        if json_body is not None:
            payload = json.dumps(json_body, separators=(",", ":")).encode()
        if payload is not None:
            sent["Content-Type"] = "application/json"
        if headers:
            sent.update(headers)
        try:
            connection, answer, content = self._exchange(method, target, payload, sent)
        except (OSError, http.client.HTTPException):
            raise unreachable(self.name) from None
        if answer.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return Response(
            status=answer.status,
            headers={k.lower(): v for k, v in answer.getheaders()},
            content=content,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> Any:
        """The decoded JSON of a 2xx answer, None for an empty one; raises the error of any other."""
        response = self.request(
            method, path, json_body=json_body, params=params, headers=headers, anonymous=anonymous
        )
        if response.status >= 400:
            raise error_from_response(response.status, response.content, response.headers)
        if response.status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise error_from_response(502, b"") from None
