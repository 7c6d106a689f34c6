"""Waiting for a running server's /healthz to settle on an answer, whichever worker gives it."""

from __future__ import annotations

import time

import httpx

from sealbox.store.database import PROBE_EVERY_S

Answer = tuple[int, dict[str, str]]


def health(url: str) -> Answer:
    r = httpx.get(f"{url}/healthz", timeout=60)
    return r.status_code, r.json()


def wait_for_health(url: str, expected: Answer, *, timeout: float = 180) -> None:
    """Until every answer for longer than a probe's life is `expected`, then six more.

    Each worker answers from what it saw: its own failed writes, else a probe write at most
    PROBE_EVERY_S old. Once every answer has been `expected` for longer than that, every worker's
    probe is from after the change, so the six answers after that are `expected` whichever worker
    gives them.
    """
    deadline = time.monotonic() + timeout
    since: float | None = None
    while since is None or time.monotonic() - since <= PROBE_EVERY_S + 1:
        answer = health(url)
        if answer != expected:
            since = None
        elif since is None:
            since = time.monotonic()
        assert time.monotonic() < deadline, answer
        time.sleep(0.5)
    for _ in range(6):
        assert health(url) == expected
