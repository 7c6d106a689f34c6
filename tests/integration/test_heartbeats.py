"""Session heartbeats on the server, on SQLite and PostgreSQL (issue 12, new user 2).

A session created with `heartbeat_seconds` is over once its side has not called in for three intervals:
everywhere that decides "live" (the session list, the session itself, a secret's live sessions,
redemption, new credentials) says so, and a late heartbeat does not bring it back. A session created
without one (JupyterHub, Kubernetes) keeps its lifetime. Instead of waiting, the tests move the session's
`last_seen_at` back in the real database file or server (the time the server compares with); the
end-to-end version with real waiting and killed processes is in test_run_cleanup.py.
"""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.processes import Stack

API = "/api/v1"
Canary = Callable[[str], str]


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def server(request: pytest.FixtureRequest) -> Stack:
    stack: Stack = request.getfixturevalue("stack" if request.param == "sqlite" else "pg_stack")
    return stack


@pytest.fixture(scope="module")
def people(server: Stack) -> tuple[str, str]:
    """Two users' tokens: the owner of the sessions and someone else."""
    return server.add_user(f"hb-{uuid.uuid4().hex[:8]}"), server.add_user(f"hbo-{uuid.uuid4().hex[:8]}")


def call(server: Stack, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with server.client(token) as api:
        return api.request(method, f"{API}{path}", **kwargs)


def seen_ago(server: Stack, session_id: str, seconds: int) -> None:
    """Move the session's last call-in `seconds` into the past, in the server's own database."""
    when = (datetime.now(UTC) - timedelta(seconds=seconds)).replace(tzinfo=None)
    if server.database_url is None:
        with closing(sqlite3.connect(server.data_dir / "sealbox.db", timeout=30)) as conn:
            conn.execute(
                "UPDATE sessions SET last_seen_at = ? WHERE id = ?",
                (when.strftime("%Y-%m-%d %H:%M:%S.%f"), session_id),
            )
            conn.commit()
    else:
        url = server.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE sessions SET last_seen_at = %s WHERE id = %s", (when, session_id))


def launch(server: Stack, token: str, secret: str, **extra: Any) -> dict[str, Any]:
    resp = call(
        server, token, "POST", "/sessions", json={"secrets": [{"name": secret, "file": "f"}], **extra}
    )
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


@pytest.fixture
def secret(server: Stack, people: tuple[str, str], canary: Canary) -> str:
    name = f"hb-{uuid.uuid4().hex[:8]}"
    resp = call(server, people[0], "POST", "/secrets", json={"name": name, "value": canary("heartbeat")})
    assert resp.status_code == 201, resp.text
    return name


def redeem_status(server: Stack, session_id: str, credential: str) -> int:
    body = {"credential": credential, "public_key": base64.b64encode(b"\x09" * 32).decode()}
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        return anonymous.post(f"{API}/sessions/{session_id}/redeem", json=body).status_code


def test_a_heartbeat_is_asked_for_at_creation_within_bounds(
    server: Stack, people: tuple[str, str], secret: str
) -> None:
    token, _ = people
    made = launch(server, token, secret, heartbeat_seconds=10)["session"]
    assert made["heartbeat_seconds"] == 10 and made["last_seen_at"] is not None
    assert made["status"] == "pending"
    plain = launch(server, token, secret)["session"]
    assert plain["heartbeat_seconds"] is None and plain["last_seen_at"] is None
    for bad in (0, 9, 3601, -5):
        resp = call(
            server,
            token,
            "POST",
            "/sessions",
            json={"secrets": [{"name": secret, "file": "f"}], "heartbeat_seconds": bad},
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == "invalid_request"
    schema = httpx.get(f"{server.url}{API}/openapi.json", timeout=30).json()
    documented = schema["components"]["schemas"]["SessionCreate"]["properties"]["heartbeat_seconds"]
    assert (documented["minimum"], documented["maximum"]) == (10, 3600)


def test_the_owner_calls_in_and_hears_the_state(server: Stack, people: tuple[str, str], secret: str) -> None:
    token, other = people
    session = launch(server, token, secret, heartbeat_seconds=10)["session"]
    sid = session["id"]
    seen_ago(server, sid, 20)
    before = call(server, token, "GET", f"/sessions/{sid}").json()["last_seen_at"]
    beat = call(server, token, "POST", f"/sessions/{sid}/heartbeat")
    assert beat.status_code == 200, beat.text
    assert beat.json()["status"] == "pending" and beat.json()["last_seen_at"] > before
    # Not the owner: the same answer as for a session that does not exist, and nothing recorded.
    theirs = call(server, other, "POST", f"/sessions/{sid}/heartbeat")
    missing = call(server, other, "POST", f"/sessions/{uuid.uuid4().hex}/heartbeat")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    # Ended: the heartbeat says so (the session side then removes its files).
    assert call(server, token, "DELETE", f"/sessions/{sid}").status_code == 200
    assert call(server, token, "POST", f"/sessions/{sid}/heartbeat").json()["status"] == "ended"


def test_a_session_not_heard_from_for_three_intervals_is_over_everywhere(
    server: Stack, people: tuple[str, str], secret: str
) -> None:
    token, _ = people
    made = launch(server, token, secret, heartbeat_seconds=10)
    sid = made["session"]["id"]
    spare = call(server, token, "POST", f"/sessions/{sid}/credentials").json()["session_credential"]
    seen_ago(server, sid, 29)  # two missed intervals and a bit: still live
    assert sid in [s["id"] for s in call(server, token, "GET", "/sessions").json()]
    assert sid in [s["id"] for s in call(server, token, "GET", f"/secrets/{secret}").json()["sessions"]]

    seen_ago(server, sid, 31)
    assert call(server, token, "GET", f"/sessions/{sid}").json()["status"] == "expired"
    assert sid not in [s["id"] for s in call(server, token, "GET", "/sessions").json()]
    listed = {
        s["id"]: s["status"] for s in call(server, token, "GET", "/sessions", params={"all": "true"}).json()
    }
    assert listed[sid] == "expired"
    assert sid not in [s["id"] for s in call(server, token, "GET", f"/secrets/{secret}").json()["sessions"]]
    assert call(server, token, "POST", f"/sessions/{sid}/credentials").status_code == 404
    assert redeem_status(server, sid, made["session_credential"]) == 401
    assert redeem_status(server, sid, spare) == 401
    # A late heartbeat (the server was down longer than the window): the side is alive and holds the
    # values, so the session is live again.
    late = call(server, token, "POST", f"/sessions/{sid}/heartbeat").json()
    assert late["status"] == "pending"
    assert sid in [s["id"] for s in call(server, token, "GET", "/sessions").json()]
    # Ended, it stays over whatever calls in.
    assert call(server, token, "DELETE", f"/sessions/{sid}").json()["status"] == "ended"
    assert call(server, token, "POST", f"/sessions/{sid}/heartbeat").json()["status"] == "ended"
    assert sid not in [s["id"] for s in call(server, token, "GET", "/sessions").json()]


def test_a_session_without_a_heartbeat_keeps_its_lifetime(
    server: Stack, people: tuple[str, str], secret: str
) -> None:
    """JupyterHub and Kubernetes sessions do not call in: nothing changes for them."""
    token, _ = people
    made = launch(server, token, secret)
    sid = made["session"]["id"]
    seen_ago(server, sid, 10**6)  # even a stray time is ignored without a heartbeat
    assert call(server, token, "GET", f"/sessions/{sid}").json()["status"] == "pending"
    assert sid in [s["id"] for s in call(server, token, "GET", "/sessions").json()]
    assert call(server, token, "POST", f"/sessions/{sid}/heartbeat").json()["last_seen_at"] is not None
    assert redeem_status(server, sid, made["session_credential"]) == 200


def test_a_missing_field_refuses_the_session_and_names_it(
    server: Stack, people: tuple[str, str], canary: Canary
) -> None:
    """Issue 12, new user 8: an aws secret without a region; `aws.region` is refused before any launch."""
    token, _ = people
    name = f"hbaws-{uuid.uuid4().hex[:8]}"
    fields = {"access_key_id": "AKIA" + "ABCDEF0123456789", "secret_access_key": canary("aws")}
    assert (
        call(
            server, token, "POST", "/secrets", json={"name": name, "kind": "aws", "fields": fields}
        ).status_code
        == 201
    )
    before = len(call(server, token, "GET", "/sessions", params={"all": "true"}).json())
    for mapping in (
        {"name": name, "field": "region", "file": "region"},
        {"name": name, "field": "region", "env": "R"},
    ):
        resp = call(server, token, "POST", "/sessions", json={"secrets": [mapping]})
        assert resp.status_code == 400, resp.text
        body = resp.json()
        assert body["code"] == "missing_field"
        assert name in body["message"] and "region" in body["message"]
        assert "access_key_id, secret_access_key" in body["message"]
    assert len(call(server, token, "GET", "/sessions", params={"all": "true"}).json()) == before
    ok = call(
        server,
        token,
        "POST",
        "/sessions",
        json={"secrets": [{"name": name, "field": "secret_access_key", "env": "K"}]},
    )
    assert ok.status_code == 201, ok.text
