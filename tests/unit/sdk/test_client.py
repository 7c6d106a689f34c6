"""The SDK's `Client` speaks sealbox.protocol: requests go out as the Structs the server decodes, answers come
back as the Structs the server encodes. An older client reads a newer server's answer (a field it does not
know is skipped); an answer of the wrong shape is one ClientError that quotes nothing of it.

A newer server cannot run here: the server in these tests is a small HTTP server on a real socket that
answers what a sealbox server would (the answer Structs, encoded by msgspec) with whatever a test adds.
The real server's answers are decoded in tests/integration (test_cli.py and the SDK's users).
"""

from __future__ import annotations

import http.server
import json
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from sealbox.domain.kinds import Kind
from sealbox.errors import ClientError, SealboxError
from sealbox.protocol.account_answers import TokenPublic, UserPublic
from sealbox.protocol.base import decode
from sealbox.protocol.secret_answers import KIND_NAMES, SecretPage, SecretPublic, SecretVersionPublic
from sealbox.protocol.secret_api import SecretCreate, SecretUpdate
from sealbox.protocol.session_answers import SessionCreated, SessionPublic, SessionSecretPublic
from sealbox.protocol.session_api import ServiceFetchIn
from sealbox.protocol.sharing_api import GrantIn
from sealbox.sdk.client import Client

CANARY = "canary-VALUE-3e1b0c77"
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SECRET = SecretPublic(
    id="s" * 32,
    name="db",
    owner="alice",
    ref="alice/db",
    access="owner",
    kind="generic",
    description="the database",
    fields=[],
    created_at=AT,
    created_by="alice",
    updated_at=AT,
    updated_by="alice",
    expires_at=None,
    current_version=3,
    versions=[SecretVersionPublic(version=3, created_at=AT, created_by="alice", size=12)],
)
SESSION = SessionPublic(
    id="0" * 32,
    owner="alice",
    project=None,
    mount_path="/secrets",
    status="pending",
    created_at=AT,
    expires_at=AT,
    ended_at=None,
    secrets=[
        SessionSecretPublic(
            name="db",
            owner="alice",
            kind="generic",
            field=None,
            file="db",
            env=None,
            version=1,
            current_version=1,
        )
    ],
)


@dataclass
class Stub:
    """What the server answers next (status, JSON data), and what it was sent."""

    status: int = 200
    answer: Any = None
    raw: bytes | None = None
    received: list[tuple[str, str, bytes]] = field(default_factory=list)


def _handler(stub: Stub) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def _any(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            stub.received.append((self.command, self.path, self.rfile.read(size)))
            payload = stub.raw if stub.raw is not None else json.dumps(stub.answer).encode()
            self.send_response(stub.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._any()

        def do_POST(self) -> None:
            self._any()

        def do_PUT(self) -> None:
            self._any()

        def do_PATCH(self) -> None:
            self._any()

        def do_DELETE(self) -> None:
            self._any()

    return Handler


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@pytest.fixture
def stub() -> Iterator[tuple[Stub, Client]]:
    state = Stub()
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with Client(f"http://127.0.0.1:{httpd.server_address[1]}", "sbp_token") as client:
        yield state, client
    httpd.shutdown()
    httpd.server_close()


def wire(answer: Any) -> Any:
    """An answer as the server writes it: the Struct encoded by msgspec."""
    return json.loads(msgspec.json.encode(answer))


def test_an_answer_decodes_into_the_struct_the_server_encodes(stub: tuple[Stub, Client]) -> None:
    server, client = stub
    server.answer = wire(SECRET)
    got = client.get_secret_metadata("alice/db")
    assert got == SECRET and isinstance(got, SecretPublic)
    assert got.versions is not None and got.versions[0].created_at == AT
    assert server.received[-1][:2] == ("GET", "/api/v1/secrets/db?owner=alice")


def test_fields_a_newer_server_adds_are_skipped_at_every_depth(stub: tuple[Stub, Client]) -> None:
    server, client = stub
    newer = wire(SECRET) | {"labels": {"team": "data"}, "rotation": None}
    newer["versions"][0]["checksum"] = "sha256:..."
    newer["kind"] = "gcp-service-account"  # a kind this client does not know yet
    server.answer = {"items": [newer], "next_cursor": None, "total": 1}
    [got] = client.list_secrets()
    assert got.kind == "gcp-service-account"
    assert msgspec.structs.replace(got, kind="generic") == SECRET
    server.answer = [wire(TokenPublic(id="t1", name="ci", created_at=AT, expires_at=None, revoked_at=None))]
    server.answer[0]["scopes"] = ["read"]
    assert [t.name for t in client.list_tokens()] == ["ci"]
    created = wire(
        SessionCreated(session=SESSION, session_credential="sbl_x", credential_expires_at=AT, keeper_url="u")
    )
    created["session"]["labels"] = {}
    created["session"]["secrets"][0]["rotated"] = False
    server.answer = created
    launch = client.start_service_session(on_behalf_of="alice", secrets=[{"name": "db", "file": "db"}])
    assert launch.session == SESSION and launch.session_credential == "sbl_x"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"current_version": "3"}, "$.current_version"),
        ({"created_at": CANARY}, "$.created_at"),
        (
            {
                "versions": [
                    {"version": 1, "created_at": "2026-01-01T00:00:00Z", "created_by": "a", "size": CANARY}
                ]
            },
            "$.versions[0].size",
        ),
        ({"name": None}, "$.name"),
    ],
)
def test_a_wrong_type_is_one_client_error_naming_the_place(
    stub: tuple[Stub, Client], change: dict[str, Any], where: str
) -> None:
    server, client = stub
    server.answer = wire(SECRET) | change
    with pytest.raises(ClientError) as caught:
        client.get_secret_metadata("db")
    error = caught.value
    assert isinstance(error, SealboxError)
    assert (error.status_code, error.code) == (502, "invalid_response")
    assert where in error.message and "another version of sealbox" in error.message
    assert CANARY not in str(error) and CANARY not in repr(error)


@pytest.mark.parametrize(
    "raw",
    [b"", b"<html>ok</html>", b"[]", b'{"id": "s"}', f'{{"name": "{CANARY}"}}'.encode()],
)
def test_an_answer_that_is_not_the_struct_is_one_client_error(stub: tuple[Stub, Client], raw: bytes) -> None:
    server, client = stub
    server.raw = raw
    with pytest.raises(ClientError) as caught:
        client.me()
    assert (caught.value.status_code, caught.value.code) == (502, "invalid_response")
    assert CANARY not in str(caught.value)


def test_an_error_answer_is_still_the_error_tree(stub: tuple[Stub, Client]) -> None:
    server, client = stub
    server.status, server.answer = 404, {"code": "not_found", "message": "no such secret", "errors": []}
    with pytest.raises(ClientError) as caught:
        client.get_secret_metadata("db")
    assert (caught.value.status_code, caught.value.code) == (404, "not_found")


def test_requests_go_out_as_the_bodies_the_server_decodes(stub: tuple[Stub, Client]) -> None:
    server, client = stub
    server.answer = wire(SECRET)
    client.create_secret("db", kind="database", fields={"url": CANARY}, expires_at="2027-01-01T00:00:00Z")
    method, path, sent = server.received[-1]
    assert (method, path) == ("POST", "/api/v1/secrets")
    body = decode(sent, SecretCreate)  # the server's own decoder: unknown fields and wrong types refused
    assert (body.name, body.kind, body.fields, body.expires_at) == (
        "db",
        Kind.DATABASE,
        {"url": CANARY},
        "2027-01-01T00:00:00Z",
    )
    client.update_secret("bob/db", clear_expiry=True)
    method, path, sent = server.received[-1]
    assert (method, path) == ("PATCH", "/api/v1/secrets/db?owner=bob")
    assert decode(sent, SecretUpdate) == SecretUpdate(clear_expiry=True)
    server.answer = []
    client.share("db", level="use", group="data")
    assert decode(server.received[-1][2], GrantIn) == GrantIn(level="use", group="data")
    server.answer = wire(
        SessionCreated(session=SESSION, session_credential="c", credential_expires_at=AT, keeper_url="u")
    )
    client.start_service_session(
        on_behalf_of="alice", secrets=[{"name": "db", "file": "db"}], ttl_seconds=600
    )
    fetch = decode(server.received[-1][2], ServiceFetchIn)
    assert (fetch.mount_path, fetch.ttl_seconds, fetch.secrets[0].file) == ("/secrets", 600, "db")


def test_the_answers_kinds_are_the_domains() -> None:
    assert tuple(k.value for k in Kind) == KIND_NAMES


def test_me_and_pages_are_typed(stub: tuple[Stub, Client]) -> None:
    server, client = stub
    server.answer = wire(UserPublic(id="u1", name="alice", is_admin=False, created_at=AT))
    assert client.me().name == "alice"
    server.answer = wire(SecretPage(items=[], next_cursor=None))
    assert client.list_secrets(prefix="x") == []
    assert server.received[-1][1] == "/api/v1/secrets?limit=200&prefix=x"


def test_importing_the_client_loads_no_protocol_and_no_msgspec() -> None:
    """`import sealbox`, get_secret and `sealbox.Client` load neither the protocol nor msgspec, and `sealbox
    run` (whose launcher imports the client module) no part of the protocol; a method's first call does."""
    code = (
        "import json, sys, sealbox\n"
        "from sealbox import get_secret, Client\n"
        "import sealbox.sdk.client\n"
        "def loaded(*names): return sorted(m for m in sys.modules if m.startswith(names))\n"
        "sdk = loaded('msgspec', 'sealbox.protocol')\n"
        "import sealbox.launcher.run\n"
        "run = loaded('sealbox.protocol')\n"
        "c = Client('http://127.0.0.1:9', 't')\n"
        "try:\n    c.me()\nexcept sealbox.ClientError:\n    pass\n"
        "print(json.dumps([sdk, run, loaded('msgspec', 'sealbox.protocol')]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout
    sdk, run, called = json.loads(out)
    assert sdk == [] and run == []
    assert "sealbox.protocol.account_answers" in called and "msgspec" in called
    assert not {m for m in called if m.endswith("_api") and m != "sealbox.protocol.audit_api"}
