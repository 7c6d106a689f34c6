"""GET /metrics and GET /readyz on a real server with two worker processes (issue 14, "Watching it").

/metrics: refused without an admin's token or the scraper's own; parsed by prometheus_client's own
parser; the request counters move by exactly the requests made, through the hot reads and FastAPI's
routes, whichever worker answered (the workers' files are summed); no secret name or value, user name
or token shows in it. /readyz: still 200 with the keeper stopped (degraded; reads and writes go on).
"""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.canaries import find_in_bytes, make_canary
from tests.support.processes import Stack, running_stack, sealbox_cmd

API = "/api/v1"
SCRAPER_TOKEN = "scrape-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("metrics")
    token_file = root / "metrics.token"
    token_file.write_text(SCRAPER_TOKEN + "\n")
    token_file.chmod(0o600)
    env = {"SEALBOX_WORKERS": "2", "SEALBOX_METRICS_TOKEN_PATH": str(token_file)}
    with running_stack(root, server_env=env) as stack:
        yield stack


def scrape(stack: Stack, token: str = SCRAPER_TOKEN) -> str:
    resp = httpx.get(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return resp.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the one sample called `name` with these labels (0 when there is none yet)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def requests_of(text: str, method: str, route: str, status: str) -> float:
    name = "sealbox_http_request_duration_seconds_count"
    return sample(text, name, method=method, route=route, status=status)


def fresh_get(stack: Stack, path: str, token: str) -> httpx.Response:
    """One request on a new connection, so that the two workers both take some."""
    with httpx.Client(base_url=stack.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
        return c.get(path)


def test_metrics_needs_an_admin_or_the_scraper_token(metered: Stack) -> None:
    user = metered.add_user("metrics-reader")
    assert httpx.get(f"{metered.url}/metrics", timeout=30).status_code == 401
    wrong = {"Authorization": f"Bearer {SCRAPER_TOKEN}x"}
    assert httpx.get(f"{metered.url}/metrics", headers=wrong, timeout=30).status_code == 401
    mine = {"Authorization": f"Bearer {user}"}
    assert httpx.get(f"{metered.url}/metrics", headers=mine, timeout=30).status_code == 403
    families = {f.name for f in text_string_to_metric_families(scrape(metered, metered.admin_token))}
    assert {"sealbox_http_request_duration_seconds", "sealbox_keeper_round_trip_seconds"} <= families
    assert {"sealbox_auth_failures", "sealbox_db_pool_size", "sealbox_db_connections_in_use"} <= families


def test_counters_move_by_the_requests_made_through_both_paths(metered: Stack) -> None:
    with metered.client() as c:
        assert c.post(f"{API}/secrets", json={"name": "counted", "value": "v"}).status_code == 201
    before = scrape(metered)
    for _ in range(12):
        assert fresh_get(metered, f"{API}/secrets/counted", metered.admin_token).status_code == 200
        assert fresh_get(metered, f"{API}/me", metered.admin_token).status_code == 200
    for _ in range(5):
        assert fresh_get(metered, f"{API}/tokens", metered.admin_token).status_code == 200
        assert fresh_get(metered, f"{API}/secrets/counted", "sbp_not_a_token").status_code == 401
    assert httpx.get(f"{metered.url}/readyz", timeout=30).status_code == 200
    assert httpx.get(f"{metered.url}/docs/static/sealbox-docs.js", timeout=30).status_code == 200
    after = scrape(metered)

    def moved(method: str, route: str, status: str) -> float:
        return requests_of(after, method, route, status) - requests_of(before, method, route, status)

    assert moved("GET", f"{API}/secrets/{{name}}", "200") == 12  # the hot read, by its template
    assert moved("GET", f"{API}/me", "200") == 12
    assert moved("GET", f"{API}/tokens", "200") == 5  # a FastAPI route
    assert moved("GET", f"{API}/secrets/{{name}}", "401") == 5
    assert moved("GET", "/docs/static", "200") == 1  # a mount, by its own path
    failed = {"kind": "unauthenticated"}
    failures = "sealbox_auth_failures_total"
    assert sample(after, failures, **failed) - sample(before, failures, **failed) == 5
    buckets = "sealbox_http_request_duration_seconds_bucket"
    route = {"method": "GET", "route": f"{API}/secrets/{{name}}", "status": "200", "le": "+Inf"}
    assert sample(after, buckets, **route) - sample(before, buckets, **route) == 12
    keeper = "sealbox_keeper_round_trip_seconds_count"
    assert sample(after, keeper, operation="health", outcome="ok") > sample(
        before, keeper, operation="health", outcome="ok"
    )
    assert sample(after, "sealbox_db_pool_size") > 0
    assert sample(after, "sealbox_db_connections_in_use") >= 2  # each worker's held read connection
    assert sample(after, "sealbox_audit_checkpoint_age_seconds") >= 0


def test_a_launch_is_counted_and_timed(metered: Stack) -> None:
    with metered.client() as c:
        assert c.post(f"{API}/secrets", json={"name": "launched", "value": "v"}).status_code == 201
        before = scrape(metered)
        resp = c.post(f"{API}/sessions", json={"secrets": [{"name": "launched", "file": "f"}]})
        assert resp.status_code == 201, resp.text
    after = scrape(metered)
    name, ok = "sealbox_launch_duration_seconds_count", {"kind": "launch", "outcome": "ok"}
    assert sample(after, name, **ok) - sample(before, name, **ok) == 1


def test_no_secret_name_value_user_or_token_in_metrics(metered: Stack, canary: Callable[[str], str]) -> None:
    names = [canary("n") for _ in range(3)]
    values = [canary("v") for _ in range(3)]
    person = canary("u")
    token = metered.add_user(person)
    with metered.client() as c:
        for name, value in zip(names, values, strict=True):
            assert c.post(f"{API}/secrets", json={"name": name, "value": value}).status_code == 201, name
            assert c.get(f"{API}/secrets/{name}").status_code == 200
            assert c.get(f"{API}/secrets/{name}x").status_code == 404
            shared = c.post(f"{API}/secrets/{name}/grants", json={"user": person, "level": "use"})
            assert shared.status_code in (200, 201), shared.text
        assert c.get(f"{API}/secrets", params={"prefix": names[0][:8]}).status_code == 200
    for name in names:
        assert fresh_get(metered, f"{API}/secrets/{name}?owner=admin", token).status_code in (200, 404)
        assert fresh_get(metered, f"{API}/no-such/{name}", token).status_code == 404
    text = scrape(metered).encode() + scrape(metered, metered.admin_token).encode()
    leaked = find_in_bytes(text, [*names, *values, person, token, metered.admin_token, SCRAPER_TOKEN])
    assert leaked == []
    assert b"unmatched" in text  # the unknown paths were counted, under no path of theirs


def test_readyz_reports_a_stopped_keeper_and_stays_ready(tmp_path: Path) -> None:
    """A dead keeper stops launches, never reads or writes: the replica stays ready, saying degraded."""
    with running_stack(tmp_path) as stack:
        ready = httpx.get(f"{stack.url}/readyz", timeout=30)
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ok",
            "database": "ok",
            "keeper": "ok",
            "migrations": "ok",
            "failed": [],
        }
        stack.keeper.stop()
        degraded = httpx.get(f"{stack.url}/readyz", timeout=30)
        assert degraded.status_code == 200
        assert degraded.json() == {
            "status": "degraded",
            "database": "ok",
            "keeper": "unavailable",
            "migrations": "ok",
            "failed": [],
        }
        with stack.client() as c:  # what readiness promises: reads and writes go on
            assert (
                c.post("/api/v1/secrets", json={"name": "during", "value": make_canary("rz")}).status_code
                == 201
            )
            assert c.get("/api/v1/secrets/during").status_code == 200
        assert httpx.get(f"{stack.url}/healthz", timeout=30).status_code == 200  # the process is up


def test_a_schema_newer_than_the_server_is_refused_in_one_line(tmp_path: Path) -> None:
    """A running server stays ready when a newer release migrates (a rolling upgrade), but does not start."""
    with running_stack(tmp_path) as stack:
        with sqlite3.connect(stack.data_dir / "sealbox.db") as db:
            known = db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            db.execute("UPDATE alembic_version SET version_num = 'f00d0000beef'")
        ready = httpx.get(f"{stack.url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["migrations"] == "ahead" and ready.json()["failed"] == []
        stack.stop_server()
        started = subprocess.run(
            sealbox_cmd("server", "--port", str(stack.port), "--keeper-url", stack.keeper.url),
            env=stack.env(),
            capture_output=True,
            timeout=60,
        )
    assert started.returncode != 0
    lines = started.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "f00d0000beef" in lines[0] and known in lines[0]
    assert b"Traceback" not in started.stdout + started.stderr


def test_readyz_and_metrics_on_postgresql(pg_stack: Stack) -> None:
    ready = httpx.get(f"{pg_stack.url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["migrations"] == "ok"
    text = scrape(pg_stack, pg_stack.admin_token)
    assert sample(text, "sealbox_db_pool_size") >= 16  # PostgreSQL's pool: 16 a worker
    assert sample(text, "sealbox_db_connections_in_use") >= 1
