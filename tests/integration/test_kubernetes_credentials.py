"""A longer-lived session credential for pods that start late (issue 7), against real server and keeper.

A pod's init container may run minutes after its session was created (scheduling, image pulls). The launch
credential lives 60 s unless the session asks for more (`credential_ttl_seconds`, 60-900), or a fresh one is
issued for the live session (`POST /api/v1/sessions/{id}/credentials`). Either way it is spent by its first
use, and the longer lifetime is in the audit record.

Time: as in test_launch_protocol.py, nothing sleeps. "70 s later" is made by moving the credential's
expiry 70 s into the past in the server's database (the server compares it with its own clock), which is
what the passing of 70 s would do to the row.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sealbox.integrations import kubernetes as k8s
from sealbox.launcher.redeem import redeem
from sealbox.transport import HTTPClient
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack, base_env, sealbox_cmd
from tests.unit.integrations.pods import notebook_pod

API = "/api/v1"
Canary = Callable[[str], str]
VALUES: list[str] = []
VALUE_OF: dict[str, str] = {}
_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class User:
    stack: Stack
    name: str
    token: str = field(repr=False)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.stack.client(self.token) as api:
            resp = api.request(method, f"{API}{path}", **kwargs)
        assert find_in_bytes(resp.content, VALUES) == [], (method, path)
        return resp

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        assert resp.status_code < 400, resp.text
        return resp.json() if resp.content else None


@pytest.fixture(scope="module")
def alice(stack: Stack) -> User:
    name = unique("alice")
    return User(stack=stack, name=name, token=stack.add_user(name))


@pytest.fixture
def secret(alice: User, canary: Canary) -> str:
    value, name = canary("late-pod"), unique("late")
    VALUES.append(value)
    VALUE_OF[name] = value
    alice.call("POST", "/secrets", json={"name": name, "value": value})
    return name


def db(stack: Stack) -> Path:
    return stack.data_dir / "sealbox.db"


def query(stack: Stack, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db(stack)}?mode=ro", uri=True, timeout=10)) as conn:
        return list(conn.execute(sql, params))


def seventy_seconds_later(stack: Stack, session_id: str) -> None:
    """Move every credential of the session 70 s closer to its expiry, as 70 s of waiting would."""
    with closing(sqlite3.connect(db(stack), timeout=10)) as conn, conn:
        rows = list(
            conn.execute("SELECT id, expires_at FROM session_credentials WHERE session_id = ?", (session_id,))
        )
        assert rows
        for credential_id, expires_at in rows:
            moved = datetime.strptime(expires_at, _FORMAT) - timedelta(seconds=70)
            conn.execute(
                "UPDATE session_credentials SET expires_at = ? WHERE id = ?",
                (moved.strftime(_FORMAT), credential_id),
            )


def post_redeem(stack: Stack, session_id: str, credential: str) -> httpx.Response:
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        return http.post(
            f"{API}/sessions/{session_id}/redeem",
            json={"credential": credential, "public_key": base64.b64encode(os.urandom(32)).decode()},
        )


def lifetime(launch: dict[str, Any]) -> float:
    issued = datetime.fromisoformat(launch["session"]["created_at"])
    return (datetime.fromisoformat(launch["credential_expires_at"]) - issued).total_seconds()


def audit_details(stack: Stack, action: str, session_id: str) -> list[str]:
    rows = query(
        stack,
        "SELECT detail FROM audit_events WHERE action = ? AND detail LIKE ? ORDER BY id",
        action,
        f"session={session_id}%",
    )
    return [str(r[0]) for r in rows]


def count_sessions(stack: Stack) -> int:
    return int(query(stack, "SELECT count(*) FROM sessions")[0][0])


def test_70_s_later_only_a_credential_asked_to_live_longer_works_and_only_once(
    stack: Stack, alice: User, secret: str
) -> None:
    plain = alice.call("POST", "/sessions", json={"secrets": [{"name": secret, "file": "f"}]})
    longer = alice.call(
        "POST", "/sessions", json={"secrets": [{"name": secret, "file": "f"}], "credential_ttl_seconds": 600}
    )
    assert round(lifetime(plain)) == 60 and round(lifetime(longer)) == 600
    for launch in (plain, longer):
        seventy_seconds_later(stack, launch["session"]["id"])

    refused = post_redeem(stack, plain["session"]["id"], plain["session_credential"])
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_credential"
    sid = longer["session"]["id"]
    first = post_redeem(stack, sid, longer["session_credential"])
    assert first.status_code == 200, first.text
    assert [i["file"] for i in first.json()["items"]] == ["f"]
    again = post_redeem(stack, sid, longer["session_credential"])
    assert again.status_code == 401 and again.json()["code"] == "invalid_credential"

    assert audit_details(stack, "session.create", plain["session"]["id"]) == [
        f"session={plain['session']['id']}"
    ]
    assert audit_details(stack, "session.create", sid) == [f"session={sid} credential_ttl=600"]
    redeems = audit_details(stack, "session.redeem", sid)
    assert len(redeems) == 2 and "already-redeemed" in redeems[1]
    assert "expired" in audit_details(stack, "session.redeem", plain["session"]["id"])[0]


@pytest.mark.parametrize("asked", [59, 901, 3600, 0, -1, "600s", 1.5])
def test_the_lifetime_is_bounded_and_nothing_starts_outside_the_bound(
    stack: Stack, alice: User, secret: str, asked: object
) -> None:
    before = count_sessions(stack)
    resp = alice.request(
        "POST",
        "/sessions",
        json={"secrets": [{"name": secret, "file": "f"}], "credential_ttl_seconds": asked},
    )
    assert 400 <= resp.status_code < 500, resp.text
    body = resp.json()
    assert set(body) >= {"code", "message"}
    if isinstance(asked, int) and asked > 0:
        assert body["code"] == "invalid_credential_ttl"
        assert "60-900" in body["message"]
    assert count_sessions(stack) == before


def test_the_bound_itself_is_allowed_and_never_outlives_the_session(
    stack: Stack, alice: User, secret: str
) -> None:
    at_bound = alice.call(
        "POST", "/sessions", json={"secrets": [{"name": secret, "file": "f"}], "credential_ttl_seconds": 900}
    )
    assert round(lifetime(at_bound)) == 900
    # Asked for beyond the session, it ends with the session (each value is within its own range, as
    # the OpenAPI document states them: no cross-field refusal a generated client could not foresee).
    longer_than_session = alice.call(
        "POST",
        "/sessions",
        json={"secrets": [{"name": secret, "file": "f"}], "credential_ttl_seconds": 600, "ttl_seconds": 300},
    )
    assert round(lifetime(longer_than_session)) == 300


def test_a_pod_that_missed_its_credential_gets_a_reissued_one(stack: Stack, alice: User, secret: str) -> None:
    launch = alice.call("POST", "/sessions", json={"secrets": [{"name": secret, "file": "f"}]})
    sid = launch["session"]["id"]
    seventy_seconds_later(stack, sid)
    assert post_redeem(stack, sid, launch["session_credential"]).status_code == 401

    bad = alice.request("POST", f"/sessions/{sid}/credentials", json={"credential_ttl_seconds": 901})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_credential_ttl"
    bob = User(stack=stack, name=unique("bob"), token="")
    bob.token = stack.add_user(bob.name)
    assert bob.request("POST", f"/sessions/{sid}/credentials", json={}).status_code == 404

    reissued = alice.call("POST", f"/sessions/{sid}/credentials", json={"credential_ttl_seconds": 300})
    assert reissued["session_credential"] != launch["session_credential"]
    issued_at = datetime.fromisoformat(reissued["credential_expires_at"]) - timedelta(seconds=300)
    assert abs((issued_at - datetime.now(issued_at.tzinfo)).total_seconds()) < 120
    seventy_seconds_later(stack, sid)
    # Redeemed through the SDK: the keeper's half too, so the value really arrives, once.
    with HTTPClient(stack.url) as http:
        delivery = redeem(http, session_id=sid, credential=reissued["session_credential"])
    assert [(i.file, i.selected().decode()) for i in delivery.items] == [("f", VALUE_OF[secret])]
    assert post_redeem(stack, sid, reissued["session_credential"]).status_code == 401
    assert audit_details(stack, "session.credential", sid) == [f"session={sid} credential_ttl=300"]
    # A body is optional: `sealbox run --refresh` asks for a 60 s credential with none.
    plain = alice.call("POST", f"/sessions/{sid}/credentials")
    left = datetime.fromisoformat(plain["credential_expires_at"]) - datetime.now(issued_at.tzinfo)
    assert timedelta(0) < left <= timedelta(seconds=60)


@pytest.fixture
def alice_cli(stack: Stack, alice: User, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text(f"url = {json.dumps(stack.url)}\ntoken = {json.dumps(alice.token)}\n")
    config.chmod(0o600)
    return base_env(SEALBOX_CONFIG=str(config))


def kube_pod(
    env: dict[str, str], tmp_path: Path, secret: str, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(yaml.safe_dump(notebook_pod()))
    return subprocess.run(
        sealbox_cmd(
            "kube",
            "pod",
            "-f",
            str(pod_file),
            "--secret",
            f"{secret}:token",
            "--credential-secret",
            "late-1",
            *extra,
        ),
        env=env,
        capture_output=True,
        timeout=60,
    )


def test_sealbox_kube_pod_asks_for_the_longer_lifetime(
    stack: Stack, alice_cli: dict[str, str], secret: str, tmp_path: Path
) -> None:
    out = tmp_path / "apply.yaml"
    done = kube_pod(alice_cli, tmp_path, secret, "--credential-ttl", "600", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert b"apply within 600 s" in done.stderr
    doc, _pod = yaml.safe_load_all(out.read_text())
    data = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
    assert set(data) == {k8s.CREDENTIAL_KEY, k8s.SESSION_KEY}
    sid = data[k8s.SESSION_KEY]
    seventy_seconds_later(stack, sid)
    assert post_redeem(stack, sid, data[k8s.CREDENTIAL_KEY]).status_code == 200
    assert post_redeem(stack, sid, data[k8s.CREDENTIAL_KEY]).status_code == 401

    before = count_sessions(stack)
    refused = kube_pod(alice_cli, tmp_path, secret, "--credential-ttl", "901")
    assert refused.returncode != 0
    assert b"credential_ttl_seconds must be 60-900" in refused.stderr
    assert count_sessions(stack) == before
