"""sealbox.transport: one map from an error answer to the error tree, and a client that keeps no body."""

from __future__ import annotations

import datetime
import http.server
import json
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sealbox import errors
from sealbox.transport import HTTPClient, error_from_response, tls_verification

CANARY = "canary-VALUE-7f3a9c1d"

PAIRS: list[tuple[int, str, type[errors.ClientError], type[Exception]]] = [
    (400, "invalid_name", errors.BadRequestAnswer, errors.BadRequest),
    (400, "invalid_json", errors.BadRequestAnswer, errors.BadRequest),
    (401, "unauthenticated", errors.UnauthenticatedAnswer, errors.Unauthenticated),
    (403, "forbidden", errors.ForbiddenAnswer, errors.Forbidden),
    (403, "launch_refused", errors.KeeperRefused, errors.Unavailable),
    (404, "not_found", errors.NotFoundAnswer, errors.NotFound),
    (409, "already_exists", errors.ConflictAnswer, errors.Conflict),
    (409, "version_conflict", errors.ConflictAnswer, errors.Conflict),
    (413, "payload_too_large", errors.PayloadTooLargeAnswer, errors.PayloadTooLarge),
    (422, "integrity_error", errors.IntegrityErrorAnswer, errors.IntegrityError),
    (422, "invalid_request", errors.BadRequestAnswer, errors.BadRequest),
    (429, "rate_limited", errors.RateLimitedAnswer, errors.RateLimited),
    (503, "keeper_unavailable", errors.UnavailableAnswer, errors.Unavailable),
    (503, "database_unavailable", errors.UnavailableAnswer, errors.Unavailable),
    (503, "storage_full", errors.UnavailableAnswer, errors.Unavailable),
    (503, "audit_unavailable", errors.UnavailableAnswer, errors.Unavailable),
]


def body(code: str, message: str = "fixed message", **extra: object) -> bytes:
    return json.dumps({"code": code, "message": message, "errors": [], **extra}).encode()


@pytest.mark.parametrize(("status", "code", "cls", "service_cls"), PAIRS)
def test_every_status_and_code_maps_to_its_class(
    status: int, code: str, cls: type[errors.ClientError], service_cls: type[Exception]
) -> None:
    error = error_from_response(status, body(code))
    assert type(error) is cls
    assert isinstance(error, errors.ClientError) and isinstance(error, service_cls)
    assert isinstance(error, errors.SealboxError)
    assert (error.status_code, error.code, error.message) == (status, code, "fixed message")


def test_an_unknown_code_keeps_its_status_class_and_its_code() -> None:
    error = error_from_response(404, body("no_such_code_yet"))
    assert type(error) is errors.NotFoundAnswer and error.code == "no_such_code_yet"
    other = error_from_response(418, body("teapot"))
    assert type(other) is errors.ClientError and (other.status_code, other.code) == (418, "teapot")


@pytest.mark.parametrize("raw", [b"", b"<html>502 Bad Gateway</html>", b"[1, 2]", b'{"code": null}', b"\xff"])
def test_a_body_that_is_not_sealbox_json_gives_the_status_name(raw: bytes) -> None:
    error = error_from_response(502, raw)
    assert (error.status_code, error.code, error.message) == (502, "http_502", "bad gateway")
    assert "None" not in str(error) and error.code != "error"


def test_a_missing_code_is_never_the_string_none() -> None:
    error = error_from_response(503, b'{"message": "down"}')
    assert error.code == "http_503" and type(error) is errors.UnavailableAnswer


def test_the_first_field_problem_joins_the_message() -> None:
    raw = body("invalid_request", "the request does not match the schema")
    data = json.loads(raw)
    data["errors"] = [{"field": "secrets.0.name", "problem": "missing: required"}]
    error = error_from_response(422, json.dumps(data).encode())
    assert error.message == "the request does not match the schema (secrets.0.name: missing: required)"


def test_retry_after_comes_from_the_header() -> None:
    error = error_from_response(429, body("rate_limited"), {"retry-after": "17"})
    assert isinstance(error, errors.RateLimitedAnswer) and error.retry_after == 17
    assert isinstance(error_from_response(429, b""), errors.RateLimitedAnswer)


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 500, 503])
def test_no_value_shaped_text_of_a_body_reaches_str_or_repr(status: int) -> None:
    long_message = "x" * 400 + CANARY
    for raw in (
        json.dumps({"code": "x", "message": long_message, "value": CANARY}).encode(),
        json.dumps(
            {"code": "x", "message": "m", "errors": [{"field": "v", "problem": long_message}]}
        ).encode(),
        json.dumps({"code": "x" * 400 + CANARY, "message": "m"}).encode(),
        f"not json {CANARY}".encode(),
    ):
        error = error_from_response(status, raw)
        for text in (str(error), repr(error), error.message, error.code, repr(error.args)):
            assert CANARY not in text
        assert not any(CANARY in repr(v) for v in vars(error).values())


# --- the client against real sockets -------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()  # noqa: RUF012 - shared by the test server's handlers on purpose

    def log_message(self, *_: object) -> None:
        pass

    def _answer(self, status: int, payload: bytes) -> None:
        _Handler.connections.add(id(self.connection))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.startswith("/missing"):
            self._answer(404, body("not_found", f"nothing here {CANARY}" * 30))
            return
        auth = self.headers.get("Authorization", "")
        self._answer(200, json.dumps({"path": self.path, "auth": auth.startswith("Bearer ")}).encode())

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", "0"))
        received = json.loads(self.rfile.read(size))
        self._answer(200, json.dumps({"echo": received}).encode())

    def do_DELETE(self) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@pytest.fixture
def server() -> Iterator[str]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_calls_decode_json_and_keep_one_connection(server: str) -> None:
    _Handler.connections.clear()
    with HTTPClient(server, token=CANARY) as client:
        assert client.call("GET", "/api/v1/x", params={"owner": "alice", "skip": None}) == {
            "path": "/api/v1/x?owner=alice",
            "auth": True,
        }
        assert client.call("POST", "/api/v1/y", json_body={"a": [1]}) == {"echo": {"a": [1]}}
        assert client.call("DELETE", "/api/v1/z") is None
        assert CANARY not in repr(client)
    assert len(_Handler.connections) == 1


def test_an_error_answer_raises_its_class_without_the_body(server: str) -> None:
    with HTTPClient(server, token=CANARY) as client, pytest.raises(errors.NotFoundAnswer) as caught:
        client.call("GET", "/missing")
    assert caught.value.code == "not_found" and caught.value.message == "not found"
    assert CANARY not in str(caught.value) and CANARY not in repr(caught.value)


def test_no_answer_is_status_zero_unreachable() -> None:
    with (
        HTTPClient("http://127.0.0.1:9", connect_timeout=2) as client,
        pytest.raises(errors.ClientError) as caught,
    ):
        client.call("GET", "/healthz")
    assert (caught.value.status_code, caught.value.code) == (0, "unreachable")


def test_unix_socket_addresses(tmp_path: Path) -> None:
    class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    class Handler(_Handler):
        def address_string(self) -> str:
            return "unix"

    path = tmp_path / "s.sock"
    httpd = UnixServer(str(path), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with HTTPClient(f"unix://{path}") as client:
            assert client.call("GET", "/healthz")["path"] == "/healthz"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_certificates_are_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tls_verification("https://sealbox.example") and not tls_verification("http://127.0.0.1:8480")
    cert_path, key_path = _self_signed(tmp_path)
    httpd = _Server(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"https://localhost:{httpd.server_address[1]}"
    try:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with HTTPClient(url) as client, pytest.raises(errors.ClientError) as caught:
            client.call("GET", "/healthz")  # a certificate no trusted CA signed: no answer taken
        assert caught.value.code == "unreachable"
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))  # trusted now, as httpx honours it
        with HTTPClient(url) as client:
            assert client.call("GET", "/healthz")["path"] == "/healthz"
    finally:
        httpd.shutdown()
        httpd.server_close()
