"""Request ids and JSON logs (issue 14, "Watching it"), on real server and keeper processes.

With `SEALBOX_LOG_FORMAT=json` (and the keeper's own setting) every log line of both processes is
one JSON object with ts, level, logger and msg. Every answer carries `X-Request-ID`: the client's own
when it is a sane token, else a generated one; the hot reads too. The id is on the log lines of the
request and in the audit record its write left, which `sealbox audit` shows and whose tag covers it
(`sealbox audit verify` stays green; an edited request id breaks the chain at that record). A hostile
id (too long, quotes, spaces, control bytes) is never echoed or logged. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.canaries import find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack, sealbox_cmd

API = "/api/v1"
JSON_LOGS = {"SEALBOX_LOG_FORMAT": "json"}
KEEPER_JSON_LOGS = {"SEALBOX_KEEPER_LOG_FORMAT": "json"}
HOSTILE = [
    b"a" * 65,
    b'evil"id',
    b"id with spaces",
    b"id\tTAB",
    b'{"msg":"forged"}',
    "\u00e9t\u00e9".encode(),
    b"-starts-with-a-dash",
    b"x\\nlevel=ERROR",
]
VALUES: list[str] = []  # every value stored here: scanned for in both logs when a stack stops


def value(label: str) -> str:
    made = make_canary(label)
    VALUES.append(made)
    return made


def scanned(stack: Stack) -> None:
    hits = find_in_bytes(stack.logs(), [*VALUES, stack.admin_token])
    assert hits == [], f"a value or token in the logs: {hits}"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def json_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp(f"jsonlogs-{request.param}")
    if request.param == "sqlite":
        with running_stack(root, server_env=JSON_LOGS, keeper_env=KEEPER_JSON_LOGS) as stack:
            yield stack
            scanned(stack)
    else:
        with (
            fresh_database() as url,
            running_stack(root, database_url=url, server_env=JSON_LOGS, keeper_env=KEEPER_JSON_LOGS) as stack,
        ):
            yield stack
            scanned(stack)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def log_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a log as a JSON object; a line that is not one fails the test."""
    records = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"{path.name}: a log line is not JSON: {line[:200]!r}")
        assert isinstance(record, dict), line
        assert {"ts", "level", "logger", "msg"} <= set(record), record
        records.append(record)
    return records


def audit_records(stack: Stack, secret: str) -> list[dict[str, Any]]:
    with stack.client() as admin:
        resp = admin.get(f"{API}/audit", params={"secret": secret})
        assert resp.status_code == 200, resp.text
        items: list[dict[str, Any]] = resp.json()["items"]
        return items


def raw_get(stack: Stack, path: str, request_id: bytes) -> tuple[int, dict[bytes, bytes]]:
    """A GET with a header httpx would refuse to send: the status and the answer's headers."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {stack.admin_token}\r\n".encode()
        + b"X-Request-ID: "
        + request_id
        + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def settled_logs(stack: Stack) -> None:
    """Let the server's workers write out their last lines."""
    time.sleep(0.5)


def test_a_write_keeps_the_clients_request_id_in_answer_log_and_audit(json_stack: Stack) -> None:
    name, stored = unique("rid"), value("rid")
    request_id = f"ci-job.{uuid.uuid4().hex[:8]}:step-1"
    with json_stack.client() as admin:
        resp = admin.post(
            f"{API}/secrets", json={"name": name, "value": stored}, headers={"X-Request-ID": request_id}
        )
    assert resp.status_code == 201, resp.text
    assert resp.headers["x-request-id"] == request_id
    created = [r for r in audit_records(json_stack, name) if r["action"] == "secret.create"]
    assert [r["request_id"] for r in created] == [request_id]

    # `sealbox audit` shows it, and the chain (whose tag covers it) verifies.
    config = json_stack.data_dir.parent / "cli.toml"
    config.write_text(f"url = {json.dumps(json_stack.url)}\ntoken = {json.dumps(json_stack.admin_token)}\n")
    config.chmod(0o600)
    env = json_stack.env(SEALBOX_CONFIG=str(config))
    listing = subprocess.run(
        sealbox_cmd("audit", "--secret", name), env=env, capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    assert "REQUEST" in listing.stdout and request_id in listing.stdout
    verify = subprocess.run(
        sealbox_cmd("audit", "verify"), env=env, capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and "audit chain ok" in verify.stdout, verify.stdout + verify.stderr

    settled_logs(json_stack)
    mine = [r for r in log_lines(json_stack.log) if r.get("request_id") == request_id]
    assert any(r["logger"] == "sealbox.access" and "POST /api/v1/secrets 201" in r["msg"] for r in mine), mine
    assert find_in_bytes(json_stack.logs(), [stored, json_stack.admin_token]) == []


def test_every_answer_has_an_id_and_each_request_its_own(json_stack: Stack) -> None:
    with json_stack.client() as admin, httpx.Client(base_url=json_stack.url, timeout=30) as anonymous:
        answers = [
            admin.get(f"{API}/me"),  # the hot reads, ahead of FastAPI
            admin.get(f"{API}/secrets"),
            admin.get(f"{API}/secrets/{unique('missing')}"),
            admin.get(f"{API}/audit"),
            anonymous.get(f"{API}/me"),  # refused: 401
            anonymous.get("/healthz"),
            anonymous.post(f"{API}/secrets", content=b"x" * (2 * 1024 * 1024)),  # 413 before the body
        ]
        given = admin.get(f"{API}/secrets", headers={"X-Request-ID": "hot-list-1"})
    assert [a.status_code for a in answers] == [200, 200, 404, 200, 401, 200, 413]
    ids = [a.headers["x-request-id"] for a in answers]
    assert len(set(ids)) == len(ids), ids
    assert all(16 <= len(i) <= 64 for i in ids), ids
    assert given.headers["x-request-id"] == "hot-list-1"
    settled_logs(json_stack)
    logged = {r.get("request_id") for r in log_lines(json_stack.log)}
    assert "hot-list-1" in logged and set(ids) <= logged


def test_a_hostile_request_id_is_replaced_and_never_logged(json_stack: Stack) -> None:
    # A token sent as the request id by mistake is not kept either (the stack's log scan looks for it).
    for hostile in [*HOSTILE, json_stack.admin_token.encode()]:
        status, headers = raw_get(json_stack, f"{API}/me", hostile)
        assert status == 200, hostile
        answered = headers[b"x-request-id"]
        assert answered != hostile and hostile not in answered
        assert answered.isalnum() and len(answered) <= 64, answered
    # A write under a hostile id: its audit record holds the generated one.
    name = unique("hostile")
    with json_stack.client() as admin:
        resp = admin.post(
            f"{API}/secrets",
            json={"name": name, "value": value("h")},
            headers={"X-Request-ID": "x" * 500},
        )
    assert resp.status_code == 201
    generated = resp.headers["x-request-id"]
    assert generated != "x" * 500
    assert [r["request_id"] for r in audit_records(json_stack, name)] == [generated]
    settled_logs(json_stack)
    logs = json_stack.logs()
    log_lines(json_stack.log)  # still one JSON object a line
    for hostile in [*HOSTILE, b"x" * 500]:
        assert hostile not in logs, hostile


def test_the_keepers_log_lines_are_json_and_carry_its_request_ids(json_stack: Stack) -> None:
    sock = json_stack.keeper.url.removeprefix("unix://")
    with httpx.Client(
        transport=httpx.HTTPTransport(uds=sock), base_url="http://keeper", timeout=30
    ) as keeper:
        refused = keeper.post("/v1/sessions", content=b"{}", headers={"X-Request-ID": "keeper-req-1"})
        hostile = keeper.get("/healthz", headers={"X-Request-ID": "k" * 65})
    assert refused.status_code == 403 and refused.headers["x-request-id"] == "keeper-req-1"
    assert hostile.status_code == 200 and hostile.headers["x-request-id"] != "k" * 65
    time.sleep(0.5)
    records = log_lines(json_stack.keeper.log)
    assert any(r["logger"] == "sealbox.keeper" for r in records), records
    refusals = [r for r in records if r.get("request_id") == "keeper-req-1"]
    assert refusals and "launch refused" in refusals[0]["msg"], records
    assert b"k" * 65 not in json_stack.keeper.log.read_bytes()


def test_an_edited_request_id_breaks_the_chain_at_that_record(tmp_path: Path) -> None:
    """The tag of a record covers its request id: an edit to it is caught where it was made."""
    with running_stack(tmp_path) as stack:
        name = unique("edit")
        with stack.client() as admin:
            resp = admin.post(
                f"{API}/secrets",
                json={"name": name, "value": value("e")},
                headers={"X-Request-ID": "original-id"},
            )
            assert resp.status_code == 201
        record = next(r for r in audit_records(stack, name) if r["request_id"] == "original-id")
        stack.stop_server()
    with sqlite3.connect(stack.data_dir / "sealbox.db") as db:
        db.execute("UPDATE audit_events SET request_id = 'forged-id' WHERE id = ?", (record["id"],))
    verify = subprocess.run(
        sealbox_cmd("audit", "verify"), env=stack.env(), capture_output=True, text=True, timeout=60
    )
    assert verify.returncode != 0
    assert f"broken at record {record['id']}" in verify.stderr + verify.stdout


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["server", "--log-format", "xml"], {}),
        (["server"], {"SEALBOX_LOG_FORMAT": "yaml"}),
        (["keeper", "--log-format", "xml"], {}),
    ],
)
def test_an_unknown_log_format_is_one_line(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    from tests.support.processes import base_env

    run = subprocess.run(
        sealbox_cmd(*args),
        env=base_env(SEALBOX_DATA_DIR=str(tmp_path / "d"), SEALBOX_KEEPER_DIR=str(tmp_path / "k"), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "LOG_FORMAT must be text or json" in lines[0], run.stderr


def test_up_passes_the_log_format_to_its_server_and_keeper(tmp_path: Path) -> None:
    from tests.support.processes import free_port
    from tests.support.up import Machine, Up, pgrep

    m = Machine(
        root=tmp_path,
        data_dir=tmp_path / "data",
        config=tmp_path / "home" / ".config" / "sealbox" / "config.toml",
        port=free_port(),
        secret_name="unused",
        secret_value=make_canary("up-json-"),
    )
    up = Up(m, tmp_path / "up.log", "--log-format", "json")
    try:
        up.wait_ready()
        answer = httpx.get(f"{m.url}/healthz", headers={"X-Request-ID": "up-probe-1"}, timeout=30)
        assert answer.headers["x-request-id"] == "up-probe-1"
        assert up.interrupt(whole_group=True) == 0, up.stdout
    finally:
        up.kill()
        for pid in pgrep(str(m.data_dir)):
            os.kill(pid, signal.SIGKILL)
    records = log_lines(tmp_path / "up.log")  # the server's and the keeper's stderr: all JSON
    loggers = {r["logger"] for r in records}
    assert "sealbox.keeper" in loggers and "sealbox.access" in loggers, loggers
    assert any(r.get("request_id") == "up-probe-1" for r in records)


def test_text_logs_end_with_the_request_id(stack: Stack) -> None:
    with stack.client() as admin:
        assert admin.get(f"{API}/me", headers={"X-Request-ID": "text-req-1"}).status_code == 200
    deadline = time.monotonic() + 10
    while b"request_id=text-req-1" not in stack.log.read_bytes():
        assert time.monotonic() < deadline, "no log line with the request id"
        time.sleep(0.05)
    lines = [line for line in stack.log.read_text().splitlines() if "request_id=text-req-1" in line]
    assert any("sealbox.access GET /api/v1/me 200" in line for line in lines), lines
    assert all(line.endswith(" request_id=text-req-1") for line in lines), lines
