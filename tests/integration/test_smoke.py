"""The stack starts, answers health, and a secret goes in without its value coming back."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.processes import Stack


def test_health_and_a_secret_round_trip(stack: Stack, canary: Callable[[str], str]) -> None:
    value = canary("smoke")
    with stack.client() as c:
        assert c.get("/healthz").json() == {
            "status": "ok",
            "database": "ok",
            "database_write": "ok",
            "keeper": "ok",
        }
        created = c.post("/api/v1/secrets", json={"name": "smoke", "value": value})
        assert created.status_code == 201, created.text
        shown = c.get("/api/v1/secrets/smoke")
        assert shown.status_code == 200
        assert value not in shown.text and value not in created.text
        assert shown.headers["cache-control"] == "no-store"
