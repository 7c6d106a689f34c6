"""The launch protocol end to end, over HTTP against real server and keeper processes (issue 4; T9, T21, T22).

A session is created with a bearer token; its one-time session credential is redeemed without one. The
session side gets the data keys (wrapped for this launch) from the server and the inner ciphertexts
from the keeper, and only there are values put back together. Every refusal (second use, expiry,
another session's credential, a tampered request to the keeper) is audited, and the server never
sees a value in any encoding.
"""

from __future__ import annotations

import base64
import gc
import json
import sqlite3
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sealbox.crypto.session_keys import SessionKeyPair, open_session_item, open_session_key
from sealbox.crypto.wrapping import open_inner
from sealbox.domain.kinds import decode_fields
from sealbox.errors import DecryptionError, Unavailable
from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient, Response
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack

API = "/api/v1"
Canary = Callable[[str], str]
AWS_KEY_ID = "AKIA" + "0123456789ABCDEF"

# Every value this module stores: the server's responses and its database must never hold one.
VALUES: list[str] = []


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class User:
    stack: Stack
    name: str
    token: str

    def api(self) -> httpx.Client:
        return self.stack.client(self.token)

    def add(self, name: str, **body: Any) -> dict[str, Any]:
        with self.api() as api:
            resp = api.post(f"{API}/secrets", json={"name": name, **body})
        assert resp.status_code == 201, resp.text
        result: dict[str, Any] = resp.json()
        return result

    def launch(self, secrets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        with self.api() as api:
            resp = api.post(f"{API}/sessions", json={"secrets": secrets, **extra})
        assert resp.status_code == 201, resp.text
        result: dict[str, Any] = resp.json()
        return result

    def sessions(self, *, all: bool = True) -> list[dict[str, Any]]:
        with self.api() as api:
            resp = api.get(f"{API}/sessions", params={"all": "true"} if all else {})
        assert resp.status_code == 200, resp.text
        result: list[dict[str, Any]] = resp.json()
        return result


def make_user(stack: Stack, prefix: str) -> User:
    name = unique(prefix).lower()
    return User(stack=stack, name=name, token=stack.add_user(name))


@pytest.fixture(scope="module")
def alice(stack: Stack) -> User:
    return make_user(stack, "alice")


@pytest.fixture(scope="module")
def bob(stack: Stack) -> User:
    return make_user(stack, "bob")


@pytest.fixture
def value(canary: Canary) -> Callable[[str], str]:
    def make(label: str) -> str:
        v = canary(label)
        VALUES.append(v)
        return v

    return make


def a_secret(user: User, value: Callable[[str], str], prefix: str = "s") -> str:
    name = unique(prefix)
    user.add(name, value=value(prefix))
    return name


# --- the database file, read beside the running server ----------------------------------------------------


def db_path(stack: Stack) -> Path:
    return stack.data_dir / "sealbox.db"


def query(stack: Stack, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db_path(stack)}?mode=ro", uri=True, timeout=10)) as conn:
        return list(conn.execute(sql, params))


def execute(stack: Stack, sql: str, *params: object) -> None:
    with closing(sqlite3.connect(db_path(stack), timeout=10)) as conn, conn:
        conn.execute(sql, params)


def redeem_audit(stack: Stack, session_id: str) -> list[tuple[str, str]]:
    rows = query(
        stack,
        "SELECT outcome, detail FROM audit_events"
        " WHERE action = 'session.redeem' AND detail LIKE ? ORDER BY id",
        f"session={session_id}%",
    )
    return [(str(r[0]), str(r[1])) for r in rows]


def count_sessions(stack: Stack) -> int:
    return int(query(stack, "SELECT count(*) FROM sessions")[0][0])


def count_credentials(stack: Stack) -> int:
    return int(query(stack, "SELECT count(*) FROM session_credentials")[0][0])


# --- the session side's steps, one by one, so that each can be tampered with --------------------------------


@dataclass
class ServerHalf:
    pair: SessionKeyPair
    session_id: str
    body: dict[str, Any]

    def keeper_items(self) -> list[dict[str, Any]]:
        unique_items = {(i["secret_id"], i["version"]): i for i in self.body["items"]}
        return [
            {
                "secret_id": i["secret_id"],
                "version": i["version"],
                "owner_id": i["owner_id"],
                "outer": i["outer"],
            }
            for i in unique_items.values()
        ]

    def request(self) -> dict[str, Any]:
        return {"ticket": self.body["ticket"], "items": self.keeper_items()}

    def combine(self, keeper_body: dict[str, Any], pair: SessionKeyPair | None = None) -> dict[str, bytes]:
        """What `redeem()` does with both halves: values by file or variable name."""
        pair = pair or self.pair
        sid = self.session_id
        dek_key = open_session_key(
            pair, base64.b64decode(self.body["sealed_key"]), session_id=sid, part="dek"
        )
        inner_key = open_session_key(
            pair, base64.b64decode(keeper_body["sealed_key"]), session_id=sid, part="inner"
        )
        inners = {(i["secret_id"], i["version"]): base64.b64decode(i["inner"]) for i in keeper_body["items"]}
        out: dict[str, bytes] = {}
        for i in self.body["items"]:
            ids = {"secret_id": i["secret_id"], "version": i["version"], "owner_id": i["owner_id"]}
            dek = open_session_item(
                dek_key, base64.b64decode(i["wrapped_dek"]), session_id=sid, part="dek", **ids
            )
            inner = open_session_item(
                inner_key, inners[(i["secret_id"], i["version"])], session_id=sid, part="inner", **ids
            )
            out[i["file"] or i["env"]] = open_inner(dek, inner, **ids)
        return out


def server_half(stack: Stack, launch: dict[str, Any]) -> ServerHalf:
    pair = SessionKeyPair.generate()
    sid = launch["session"]["id"]
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        resp = http.post(
            f"{API}/sessions/{sid}/redeem",
            json={
                "credential": launch["session_credential"],
                "public_key": base64.b64encode(pair.public_bytes()).decode(),
            },
        )
    assert resp.status_code == 200, resp.text
    return ServerHalf(pair=pair, session_id=sid, body=resp.json())


class Observed(HTTPClient):
    """sealbox's transport, with a look at each answer before the caller gets it (as httpx's event hooks)."""

    def __init__(self, url: str, hook: Callable[[str, Response], None]) -> None:
        super().__init__(url)
        self.hook = hook

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        response = super().request(method, path, **kwargs)
        self.hook(path, response)
        return response


def post_redeem(stack: Stack, session_id: str, credential: str) -> httpx.Response:
    public = base64.b64encode(SessionKeyPair.generate().public_bytes()).decode()
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        return http.post(
            f"{API}/sessions/{session_id}/redeem", json={"credential": credential, "public_key": public}
        )


@contextmanager
def keeper_http(stack: Stack) -> Iterator[httpx.Client]:
    transport = httpx.HTTPTransport(uds=stack.keeper.url.removeprefix("unix://"))
    with httpx.Client(transport=transport, base_url="http://keeper", timeout=10) as client:
        yield client


def post_keeper(stack: Stack, payload: dict[str, Any]) -> httpx.Response:
    with keeper_http(stack) as keeper:
        return keeper.post("/v1/sessions", json=payload)


def keeper_log_after(stack: Stack, offset: int, needle: str, timeout: float = 5) -> str:
    """The keeper log written since `offset`, once it holds `needle` (the log is flushed per line)."""
    deadline = time.monotonic() + timeout
    while True:
        text = stack.keeper.log.read_bytes()[offset:].decode(errors="replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ticket_parts(ticket: str) -> tuple[list[str], bytes, bytes]:
    """A ticket is `[key id.]payload.signature` (base64url): whatever leads, the payload, the signature."""
    *head, payload, signature = ticket.split(".")
    return head, _unb64(payload), _unb64(signature)


def ticket_of(head: list[str], payload: bytes, signature: bytes) -> str:
    return ".".join([*head, _b64(payload), _b64(signature)])


def reclaim(ticket: str, **changes: Any) -> str:
    """The ticket with changed claims and the server's original signature."""
    head, payload, signature = ticket_parts(ticket)
    claims = json.loads(payload)
    claims.update(changes)
    return ticket_of(head, json.dumps(claims, sort_keys=True, separators=(",", ":")).encode(), signature)


def assert_refused_by_keeper(resp: httpx.Response) -> None:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["code"] == "launch_refused"
    assert "items" not in body and "sealed_key" not in body and "inner" not in resp.text


# --- the protocol works, and values come back unchanged ---------------------------------------------------


def test_redeem_returns_every_kind_unchanged_and_the_server_never_sees_a_value(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    text = value("generic")
    binary = b"\x00\xff\x80\n" + value("bytes").encode() + bytes(range(256))
    aws = {"access_key_id": AWS_KEY_ID, "secret_access_key": value("aws"), "region": "eu-west-1"}
    db = {"host": "db.example.org", "port": "5432", "user": "analyst", "password": value("db"), "dbname": "x"}
    names = {k: unique(k) for k in ("text", "bin", "aws", "db")}
    alice.add(names["text"], value=text)
    alice.add(names["bin"], value_base64=base64.b64encode(binary).decode())
    alice.add(names["aws"], kind="aws", fields=aws)
    alice.add(names["db"], kind="database", fields=db)

    seen: list[bytes] = []

    def keep(_path: str, response: Response) -> None:
        seen.append(response.content)

    def keep_httpx(response: httpx.Response) -> None:
        response.read()
        seen.append(response.content)

    with alice.api() as api:
        api.event_hooks["response"] = [keep_httpx]
        created = api.post(
            f"{API}/sessions",
            json={
                "secrets": [
                    {"name": names["text"], "file": "text"},
                    {"name": names["bin"], "file": "bin.dat"},
                    {"name": names["aws"], "file": "aws"},
                    {"name": names["aws"], "field": "secret_access_key", "env": "AWS_SECRET_ACCESS_KEY"},
                    {"name": names["db"], "file": "db"},
                    {"name": names["db"], "field": "password", "file": "db_password", "env": "PGPASSWORD"},
                ]
            },
        )
    assert created.status_code == 201, created.text
    launch = created.json()
    assert launch["session_credential"].startswith("sbl_")
    assert launch["session"]["status"] == "pending"

    with Observed(stack.url, keep) as http:
        delivery = redeem(http, session_id=launch["session"]["id"], credential=launch["session_credential"])

    got = {(d.file, d.env): d for d in delivery.items}
    assert got[("text", None)].value == text.encode()
    assert got[("bin.dat", None)].value == binary
    assert got[("aws", None)].fields == aws
    assert got[(None, "AWS_SECRET_ACCESS_KEY")].selected() == aws["secret_access_key"].encode()
    assert decode_fields(got[("db", None)].value) == db
    assert got[("db_password", "PGPASSWORD")].selected() == db["password"].encode()
    assert {d.version for d in delivery.items} == {1}
    assert all(str(d.value) not in repr(d) for d in delivery.items)

    # The server relayed only ciphertexts: no value in any of its answers, in any encoding.
    assert len(seen) == 2
    for body in seen:
        assert find_in_bytes(body, VALUES) == []
    assert find_in_bytes(stack.logs(), VALUES) == []


def test_the_keeper_answer_opens_only_with_the_session_key(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    v = value("keeper-half")
    name = unique("half")
    alice.add(name, value=v)
    half = server_half(stack, alice.launch([{"name": name, "file": "x"}]))
    resp = post_keeper(stack, half.request())
    assert resp.status_code == 200, resp.text
    assert find_in_bytes(resp.content, [v]) == []
    assert half.combine(resp.json()) == {"x": v.encode()}
    # Someone who copies the ticket and the keeper's answer, without the session's private key, has nothing.
    with pytest.raises(DecryptionError):
        half.combine(resp.json(), pair=SessionKeyPair.generate())


@pytest.mark.postgres
def test_a_launch_on_postgresql(pg_stack: Stack, value: Callable[[str], str]) -> None:
    user = make_user(pg_stack, "pg")
    v = value("pg")
    name = unique("pg")
    user.add(name, value=v)
    launch = user.launch([{"name": name, "file": name}])
    with HTTPClient(pg_stack.url) as http:
        delivery = redeem(http, session_id=launch["session"]["id"], credential=launch["session_credential"])
    assert [d.value for d in delivery.items] == [v.encode()]
    again = post_redeem(pg_stack, launch["session"]["id"], launch["session_credential"])
    assert again.status_code == 401 and again.json()["code"] == "invalid_credential"
    with user.api() as api:
        assert api.delete(f"{API}/sessions/{launch['session']['id']}").json()["status"] == "ended"


# --- the server refuses, and audits, every misuse of a credential -----------------------------------------


def test_a_second_redemption_is_refused_and_audited(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    launch = alice.launch([{"name": a_secret(alice, value), "file": "f"}])
    sid = launch["session"]["id"]
    first = post_redeem(stack, sid, launch["session_credential"])
    assert first.status_code == 200, first.text
    second = post_redeem(stack, sid, launch["session_credential"])
    assert second.status_code == 401
    assert second.json()["code"] == "invalid_credential"
    assert "items" not in second.json() and "ticket" not in second.text
    audit = redeem_audit(stack, sid)
    assert [o for o, _ in audit] == ["success", "denied"]
    assert "already-redeemed" in audit[-1][1]


def test_an_expired_credential_is_refused_and_audited(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    launch = alice.launch([{"name": a_secret(alice, value), "file": "f"}])
    sid = launch["session"]["id"]
    # The credential lives 60 s; rather than wait, move its expiry into the past in the database.
    execute(
        stack,
        "UPDATE session_credentials SET expires_at = '2000-01-01 00:00:00.000000' WHERE session_id = ?",
        sid,
    )
    resp = post_redeem(stack, sid, launch["session_credential"])
    assert resp.status_code == 401
    assert resp.json()["code"] == "invalid_credential"
    assert redeem_audit(stack, sid) == [("denied", f"session={sid} reason=expired")]


def test_a_credential_for_another_session_is_refused_and_audited(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    a = alice.launch([{"name": a_secret(alice, value), "file": "a"}])
    b = alice.launch([{"name": a_secret(alice, value), "file": "b"}])
    resp = post_redeem(stack, b["session"]["id"], a["session_credential"])
    assert resp.status_code == 401
    assert resp.json()["code"] == "invalid_credential"
    assert redeem_audit(stack, b["session"]["id"]) == [
        ("denied", f"session={b['session']['id']} reason=other-session")
    ]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"), id="secret-part-changed"),
        pytest.param(lambda c: "sbl_" + "0" * 16 + c[20:], id="unknown-id"),
        pytest.param(lambda c: "not-a-credential", id="garbage"),
        pytest.param(lambda c: "", id="empty"),
    ],
)
def test_a_forged_credential_is_refused_and_audited(
    stack: Stack, alice: User, value: Callable[[str], str], forge: Callable[[str], str]
) -> None:
    launch = alice.launch([{"name": a_secret(alice, value), "file": "f"}])
    sid = launch["session"]["id"]
    resp = post_redeem(stack, sid, forge(launch["session_credential"]))
    assert resp.status_code == 401
    assert resp.json()["code"] == "invalid_credential"
    assert redeem_audit(stack, sid) == [("denied", f"session={sid} reason=unknown")]
    # The real credential is untouched by the attempt.
    assert post_redeem(stack, sid, launch["session_credential"]).status_code == 200


def test_a_public_key_no_agreement_works_with_is_a_400_and_spends_nothing(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    launch = alice.launch([{"name": a_secret(alice, value), "file": "f"}])
    sid = launch["session"]["id"]
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        resp = http.post(
            f"{API}/sessions/{sid}/redeem",
            json={"credential": launch["session_credential"], "public_key": "A" * 43 + "="},  # all zeros
        )
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_public_key"
    assert post_redeem(stack, sid, launch["session_credential"]).status_code == 200


def test_a_secret_deleted_before_redemption_fails_and_is_audited(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    name = a_secret(alice, value)
    launch = alice.launch([{"name": name, "file": "f"}])
    sid = launch["session"]["id"]
    with alice.api() as api:
        # The session (not yet redeemed) holds it: deleted with force (tests/integration/test_usage.py).
        assert api.delete(f"{API}/secrets/{name}", params={"force": "true"}).status_code in (200, 204)
    resp = post_redeem(stack, sid, launch["session_credential"])
    assert resp.status_code == 404, resp.text
    assert resp.json()["code"] == "secret_gone"
    assert "ticket" not in resp.text and "wrapped_dek" not in resp.text
    assert redeem_audit(stack, sid) == [("failed", f"session={sid} reason=secret_gone")]


def test_an_ended_session_cannot_be_redeemed(stack: Stack, alice: User, value: Callable[[str], str]) -> None:
    launch = alice.launch([{"name": a_secret(alice, value), "file": "f"}])
    sid = launch["session"]["id"]
    with alice.api() as api:
        assert api.delete(f"{API}/sessions/{sid}").status_code == 200
    resp = post_redeem(stack, sid, launch["session_credential"])
    assert resp.status_code == 401
    assert redeem_audit(stack, sid) == [("denied", f"session={sid} reason=session-ended")]


# --- the keeper refuses every tampered request, audits it, and returns nothing ----------------------------


def _flip_signature(ticket: str) -> str:
    head, payload, signature = ticket_parts(ticket)
    raw = bytearray(signature)
    raw[0] ^= 0x01
    return ticket_of(head, payload, bytes(raw))


def _forged_by_another_key(ticket: str) -> str:
    """Signed, over every variant of the signed bytes, by a key that is not the server's."""
    head, payload, _ = ticket_parts(ticket)
    signed = b"".join(bytes.fromhex(h) for h in head) + payload
    return ticket_of(head, payload, Ed25519PrivateKey.generate().sign(signed))


def _swap_outers(request: dict[str, Any]) -> dict[str, Any]:
    first, second = request["items"]
    return {
        "ticket": request["ticket"],
        "items": [{**first, "outer": second["outer"]}, {**second, "outer": first["outer"]}],
    }


TAMPERS: dict[str, tuple[Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]], str]] = {
    # name: (how the request changes, given the request and another session's request; the logged reason)
    "payload-expiry-extended": (
        lambda r, o: {**r, "ticket": reclaim(r["ticket"], exp=int(time.time()) + 86400)},
        "bad ticket signature",
    ),
    "payload-recipient-swapped": (
        lambda r, o: {
            **r,
            "ticket": reclaim(
                r["ticket"], recipient=base64.b64encode(SessionKeyPair.generate().public_bytes()).decode()
            ),
        },
        "bad ticket signature",
    ),
    "signature-flipped": (lambda r, o: {**r, "ticket": _flip_signature(r["ticket"])}, "bad ticket signature"),
    "signed-by-another-key": (
        lambda r, o: {**r, "ticket": _forged_by_another_key(r["ticket"])},
        "bad ticket signature",
    ),
    "outer-swapped-between-secrets": (lambda r, o: _swap_outers(r), "items differ from the ticket"),
    "item-from-another-session": (
        lambda r, o: {**r, "items": [o["items"][0], r["items"][1]]},
        "items differ from the ticket",
    ),
    "extra-item": (lambda r, o: {**r, "items": [*r["items"], o["items"][0]]}, "items differ from the ticket"),
    "item-dropped": (lambda r, o: {**r, "items": r["items"][:1]}, "items differ from the ticket"),
    "ticket-of-another-session": (lambda r, o: {**r, "ticket": o["ticket"]}, "items differ from the ticket"),
    "malformed": (lambda r, o: {"ticket": r["ticket"]}, "malformed request"),
    # The keeper decodes into sealbox.protocol.keeper's Structs: an unknown field or a wrong type is refused.
    "unknown-field": (lambda r, o: {**r, "extra": 1}, "malformed request"),
    "wrong-type": (
        lambda r, o: {**r, "items": [{**r["items"][0], "version": "1"}, r["items"][1]]},
        "malformed request",
    ),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_the_keeper_refuses_a_tampered_request(
    stack: Stack, alice: User, value: Callable[[str], str], tamper: str
) -> None:
    change, reason = TAMPERS[tamper]
    secrets = [
        {"name": a_secret(alice, value), "file": "one"},
        {"name": a_secret(alice, value), "file": "two"},
    ]
    mine = server_half(stack, alice.launch(secrets))
    other = server_half(stack, alice.launch([{"name": a_secret(alice, value), "file": "x"}]))
    offset = stack.keeper.log.stat().st_size
    resp = post_keeper(stack, change(mine.request(), other.request()))
    assert_refused_by_keeper(resp)
    assert find_in_bytes(resp.content, VALUES) == []
    logged = keeper_log_after(stack, offset, "launch refused")
    assert f"launch refused reason={reason!r}" in logged
    assert "launch served" not in logged


def test_the_keeper_serves_a_ticket_once(stack: Stack, alice: User, value: Callable[[str], str]) -> None:
    half = server_half(stack, alice.launch([{"name": a_secret(alice, value), "file": "f"}]))
    assert post_keeper(stack, half.request()).status_code == 200
    offset = stack.keeper.log.stat().st_size
    replay = post_keeper(stack, half.request())
    assert_refused_by_keeper(replay)
    assert "launch refused reason='ticket replayed'" in keeper_log_after(stack, offset, "launch refused")


def test_redeem_raises_when_the_keeper_refuses(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    """The launcher's `redeem()` reports a refusal as an error and returns no value."""
    launch = alice.launch([{"name": a_secret(alice, value), "file": "f"}])

    def spend_ticket_first(path: str, response: Response) -> None:
        """Spend the ticket at the keeper before the launcher gets to it."""
        if not path.endswith("/redeem"):
            return  # e.g. the launcher's report of the failure afterwards
        body = response.json()
        items = {(i["secret_id"], i["version"]): i for i in body["items"]}
        keeper_items = [
            {k: i[k] for k in ("secret_id", "version", "owner_id", "outer")} for i in items.values()
        ]
        assert post_keeper(stack, {"ticket": body["ticket"], "items": keeper_items}).status_code == 200

    with (
        Observed(stack.url, spend_ticket_first) as http,
        pytest.raises(Unavailable) as caught,
    ):
        redeem(http, session_id=launch["session"]["id"], credential=launch["session_credential"])
    assert caught.value.code == "launch_refused"


# --- what a session may name ------------------------------------------------------------------------------


def test_a_secret_of_another_user_is_not_found_and_nothing_is_created(
    stack: Stack, alice: User, bob: User, value: Callable[[str], str]
) -> None:
    bobs = a_secret(bob, value, "bobs")
    mine = a_secret(alice, value)
    before = (count_sessions(stack), count_credentials(stack))
    nope = unique("nope")
    with alice.api() as api:
        theirs = api.post(
            f"{API}/sessions",
            json={"secrets": [{"name": mine, "file": "a"}, {"name": f"{bob.name}/{bobs}", "file": "b"}]},
        )
        missing = api.post(
            f"{API}/sessions",
            json={"secrets": [{"name": mine, "file": "a"}, {"name": f"{bob.name}/{nope}", "file": "b"}]},
        )
    assert theirs.status_code == 404, theirs.text
    # An existing secret of someone else looks exactly like one that does not exist: the answers differ
    # only by the name each request gave, which the message repeats as written (issue 12: not a position).
    assert theirs.json()["message"] == f'no such secret "{bob.name}/{bobs}", or not one you may use'
    assert theirs.text.replace(bobs, "NAME") == missing.text.replace(nope, "NAME")
    assert theirs.json()["errors"][0]["field"] == "secrets[1]"
    assert (count_sessions(stack), count_credentials(stack)) == before
    with bob.api() as api:
        assert api.get(f"{API}/secrets/{bobs}").json()["sessions"] == []


BAD_SESSIONS: dict[str, tuple[list[dict[str, Any]], str]] = {
    # name: (secrets, with `S` standing for an existing secret of the caller; expected code)
    "no-secrets": ([], "no_secrets"),
    "duplicate-file": ([{"name": "S", "file": "x"}, {"name": "S2", "file": "x"}], "duplicate_file"),
    "duplicate-env": ([{"name": "S", "env": "X"}, {"name": "S2", "env": "X"}], "duplicate_env"),
    "neither-file-nor-env": ([{"name": "S"}], "invalid_mapping"),
    "file-with-slash": ([{"name": "S", "file": "a/b"}], "invalid_file"),
    "file-dotdot": ([{"name": "S", "file": ".."}], "invalid_file"),
    "file-dot": ([{"name": "S", "file": "."}], "invalid_file"),
    "file-traversal": ([{"name": "S", "file": "../../etc/passwd"}], "invalid_file"),
    "file-absolute": ([{"name": "S", "file": "/etc/passwd"}], "invalid_file"),
    "file-nul": ([{"name": "S", "file": "a\x00b"}], "invalid_file"),
    "file-empty": ([{"name": "S", "file": ""}], "invalid_file"),
    "file-too-long": ([{"name": "S", "file": "a" * 129}], "invalid_file"),
    "file-backslash": ([{"name": "S", "file": "a\\b"}], "invalid_file"),
    "file-fullwidth-dot": ([{"name": "S", "file": "\uff0e\uff0e"}], "invalid_file"),
    "env-digit-first": ([{"name": "S", "env": "1X"}], "invalid_env"),
    "env-dash": ([{"name": "S", "env": "A-B"}], "invalid_env"),
    "env-equals": ([{"name": "S", "env": "A=B"}], "invalid_env"),
    "env-path": ([{"name": "S", "env": "PATH"}], "invalid_env"),
    "env-ld-preload": ([{"name": "S", "env": "LD_PRELOAD"}], "invalid_env"),
    "env-sealbox": ([{"name": "S", "env": "SEALBOX_SECRETS_DIR"}], "invalid_env"),
    "env-empty": ([{"name": "S", "env": ""}], "invalid_env"),
    "field-of-generic": ([{"name": "S", "field": "password", "file": "p"}], "invalid_field"),
    "secret-name-traversal": ([{"name": "../S", "file": "p"}], "invalid_name"),
}


@pytest.mark.parametrize("case", sorted(BAD_SESSIONS))
def test_a_bad_session_request_is_refused_and_nothing_is_created(
    stack: Stack, alice: User, value: Callable[[str], str], case: str
) -> None:
    secrets, code = BAD_SESSIONS[case]
    names = {"S": a_secret(alice, value), "S2": a_secret(alice, value)}
    body = [{**s, "name": s["name"].replace("S2", names["S2"]).replace("S", names["S"])} for s in secrets]
    before = (count_sessions(stack), count_credentials(stack))
    with alice.api() as api:
        resp = api.post(f"{API}/sessions", json={"secrets": body})
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == code
    assert "session_credential" not in resp.json()
    assert (count_sessions(stack), count_credentials(stack)) == before


def test_an_env_mapping_of_a_whole_multi_field_secret_is_refused(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    name = unique("awsenv")
    alice.add(name, kind="aws", fields={"access_key_id": AWS_KEY_ID, "secret_access_key": value("aws")})
    with alice.api() as api:
        whole = api.post(f"{API}/sessions", json={"secrets": [{"name": name, "env": "AWS"}]})
        unknown_field = api.post(
            f"{API}/sessions", json={"secrets": [{"name": name, "field": "x", "env": "A"}]}
        )
    assert whole.status_code == 400 and whole.json()["code"] == "invalid_field"
    assert unknown_field.status_code == 400 and unknown_field.json()["code"] == "invalid_field"


@pytest.mark.parametrize("mount_path", ["relative/path", "/a/../b", "/a/./b", "/a\x00b", "/" + "a" * 1100])
def test_a_bad_mount_path_is_refused(
    stack: Stack, alice: User, value: Callable[[str], str], mount_path: str
) -> None:
    before = count_sessions(stack)
    with alice.api() as api:
        resp = api.post(
            f"{API}/sessions",
            json={"secrets": [{"name": a_secret(alice, value), "file": "f"}], "mount_path": mount_path},
        )
    assert resp.status_code in (400, 422), resp.text
    assert count_sessions(stack) == before


def test_creating_a_session_needs_a_token(stack: Stack, alice: User, value: Callable[[str], str]) -> None:
    with httpx.Client(base_url=stack.url, timeout=30) as anonymous:
        resp = anonymous.post(
            f"{API}/sessions", json={"secrets": [{"name": a_secret(alice, value), "file": "f"}]}
        )
    assert resp.status_code == 401


# --- listing, ending, and which sessions mount a secret ---------------------------------------------------


def test_sessions_are_listed_with_names_and_versions_and_ended_by_delete(
    stack: Stack, alice: User, bob: User, value: Callable[[str], str]
) -> None:
    name = unique("listed")
    v1, v2 = value("v1"), value("v2")
    alice.add(name, value=v1)
    launch = alice.launch([{"name": name, "file": "f", "env": "LISTED"}])
    sid = launch["session"]["id"]
    assert post_redeem(stack, sid, launch["session_credential"]).status_code == 200
    with alice.api() as api:
        assert api.put(f"{API}/secrets/{name}/value", json={"value": v2}).status_code == 200
        listed = api.get(f"{API}/sessions")
        shown = api.get(f"{API}/secrets/{name}").json()
    assert listed.status_code == 200
    mine = [s for s in listed.json() if s["id"] == sid]
    assert len(mine) == 1
    session = mine[0]
    assert session["status"] == "active" and session["project"] is None and session["owner"] == alice.name
    keys = ("name", "owner", "kind", "field", "file", "env", "version", "current_version")
    assert [{k: s[k] for k in keys} for s in session["secrets"]] == [
        {
            "name": name,
            "owner": alice.name,
            "kind": "generic",
            "field": None,
            "file": "f",
            "env": "LISTED",
            "version": 1,
            "current_version": 2,
        }
    ]
    assert find_in_bytes(listed.content, VALUES) == []
    assert [s["id"] for s in shown["sessions"]] == [sid]

    # Nobody else sees it, ends it, or learns that it exists.
    assert sid not in json.dumps(bob.sessions())
    with bob.api() as api:
        assert api.get(f"{API}/sessions/{sid}").status_code == 404
        assert api.delete(f"{API}/sessions/{sid}").status_code == 404
        assert api.post(f"{API}/sessions/{sid}/credentials").status_code == 404

    with alice.api() as api:
        ended = api.delete(f"{API}/sessions/{sid}")
        assert ended.status_code == 200
        assert ended.json()["status"] == "ended" and ended.json()["ended_at"] is not None
        assert sid not in [s["id"] for s in api.get(f"{API}/sessions").json()]
        assert api.get(f"{API}/secrets/{name}").json()["sessions"] == []
        assert api.post(f"{API}/sessions/{sid}/credentials").status_code == 404
    assert [s["status"] for s in alice.sessions(all=True) if s["id"] == sid] == ["ended"]
    audit = query(stack, "SELECT action, outcome FROM audit_events WHERE detail = ?", f"session={sid}")
    assert ("session.end", "success") in audit and ("session.create", "success") in audit


def test_a_fresh_credential_delivers_the_replaced_value(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    name = unique("fresh")
    v1, v2 = value("fresh1"), value("fresh2")
    alice.add(name, value=v1)
    launch = alice.launch([{"name": name, "file": "f"}])
    sid = launch["session"]["id"]
    with HTTPClient(stack.url) as http:
        assert [
            d.value for d in redeem(http, session_id=sid, credential=launch["session_credential"]).items
        ] == [v1.encode()]
        with alice.api() as api:
            assert api.put(f"{API}/secrets/{name}/value", json={"value": v2}).status_code == 200
            fresh = api.post(f"{API}/sessions/{sid}/credentials")
        assert fresh.status_code == 201, fresh.text
        delivery = redeem(http, session_id=sid, credential=fresh.json()["session_credential"])
    assert [(d.value, d.version) for d in delivery.items] == [(v2.encode(), 2)]
    session = next(s for s in alice.sessions() if s["id"] == sid)
    assert [(s["version"], s["current_version"]) for s in session["secrets"]] == [(2, 2)]


# --- a keeper that is down, and an audit log that cannot be written ---------------------------------------


@contextmanager
def keeper_connects_failing() -> Iterator[None]:
    """httpcore leaks the socket of a unix-socket connect that fails (its `connect_unix_socket` does not
    close it): collect those here, so that their ResourceWarning does not surface in a later test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def test_keeper_down_refuses_launches_but_not_writes_and_recovers(
    stack: Stack, alice: User, value: Callable[[str], str]
) -> None:
    early = a_secret(alice, value)
    pending = alice.launch([{"name": early, "file": "f"}])
    name = unique("written-while-down")
    v1, v2 = value("down1"), value("down2")
    before = (count_sessions(stack), count_credentials(stack))
    with keeper_connects_failing():
        stack.keeper.stop()
        try:
            with alice.api() as api:
                refused = api.post(f"{API}/sessions", json={"secrets": [{"name": early, "file": "f"}]})
                created = api.post(f"{API}/secrets", json={"name": name, "value": v1})
                replaced = api.put(f"{API}/secrets/{name}/value", json={"value": v2})
            # A credential issued before the keeper went down cannot complete: a clear error, no value.
            code = None
            with HTTPClient(stack.url) as http:
                try:
                    redeem(
                        http, session_id=pending["session"]["id"], credential=pending["session_credential"]
                    )
                except Unavailable as exc:
                    code = exc.code
        finally:
            stack.keeper.start()
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "keeper_unavailable"
    assert "session_credential" not in refused.json()
    assert created.status_code == 201, created.text
    assert replaced.status_code == 200, replaced.text
    assert (count_sessions(stack), count_credentials(stack)) == before
    assert code == "keeper_unavailable"
    # Nothing was lost: the value written while the keeper was down launches, and the pending session
    # gets a fresh credential.
    launch = alice.launch([{"name": name, "file": "f"}])
    with HTTPClient(stack.url) as http:
        delivery = redeem(http, session_id=launch["session"]["id"], credential=launch["session_credential"])
        assert [d.value for d in delivery.items] == [v2.encode()]
        with alice.api() as api:
            fresh = api.post(f"{API}/sessions/{pending['session']['id']}/credentials").json()
        again = redeem(http, session_id=pending["session"]["id"], credential=fresh["session_credential"])
    assert len(again.items) == 1


@contextmanager
def audit_log_broken(stack: Stack) -> Iterator[None]:
    trigger = f"audit_down_{uuid.uuid4().hex[:8]}"
    execute(
        stack,
        f"CREATE TRIGGER {trigger} BEFORE INSERT ON audit_events"
        " BEGIN SELECT RAISE(ABORT, 'audit down'); END",
    )
    try:
        yield
    finally:
        execute(stack, f"DROP TRIGGER IF EXISTS {trigger}")


def test_no_launch_without_its_audit_record(stack: Stack, alice: User, value: Callable[[str], str]) -> None:
    name = unique("audited")
    v = value("audited")
    alice.add(name, value=v)
    issued_before = alice.launch([{"name": name, "file": "f"}])
    sid = issued_before["session"]["id"]
    before = (count_sessions(stack), count_credentials(stack))
    audit_rows = int(query(stack, "SELECT count(*) FROM audit_events")[0][0])
    with audit_log_broken(stack):
        with alice.api() as api:
            create = api.post(f"{API}/sessions", json={"secrets": [{"name": name, "file": "f"}]})
        assert create.status_code == 503, create.text
        assert create.json()["code"] == "audit_unavailable"
        assert "session_credential" not in create.json() and "sbl_" not in create.text
        assert (count_sessions(stack), count_credentials(stack)) == before

        pair = SessionKeyPair.generate()
        with httpx.Client(base_url=stack.url, timeout=30) as http:
            spend = http.post(
                f"{API}/sessions/{sid}/redeem",
                json={
                    "credential": issued_before["session_credential"],
                    "public_key": base64.b64encode(pair.public_bytes()).decode(),
                },
            )
        assert spend.status_code == 503, spend.text
        assert spend.json()["code"] == "audit_unavailable"
        assert (
            "ticket" not in spend.text and "wrapped_dek" not in spend.text and "sealed_key" not in spend.text
        )
        assert int(query(stack, "SELECT count(*) FROM audit_events")[0][0]) == audit_rows
    # The refused redemption spent nothing: with the audit log back, the same credential works once.
    with HTTPClient(stack.url) as http:
        delivery = redeem(http, session_id=sid, credential=issued_before["session_credential"])
    assert [d.value for d in delivery.items] == [v.encode()]
    assert [o for o, _ in redeem_audit(stack, sid)] == ["success"]


def test_no_value_in_the_database_file(stack: Stack) -> None:
    """After every launch above, the database (and its WAL) holds no value in any encoding."""
    assert VALUES
    for path in stack.data_dir.glob("sealbox.db*"):
        assert find_in_bytes(path.read_bytes(), VALUES) == [], path


@pytest.mark.parametrize(
    "body",
    [{"items": [], "extra": 1}, {"items": "no"}, {"items": [{"secret_id": "s", "version": 1}]}, {}],
    ids=["unknown-field", "wrong-type", "incomplete-item", "empty"],
)
def test_the_keeper_refuses_a_convert_body_that_is_not_its_message(
    stack: Stack, body: dict[str, Any]
) -> None:
    with keeper_http(stack) as keeper:
        resp = keeper.post("/v1/convert", json=body)
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_request"
