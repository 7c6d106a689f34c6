"""The server's worker count: one per CPU this process may use, at most 8, unless set."""

from __future__ import annotations

import pytest

from sealbox import config
from sealbox.config import ServerSettings


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 2), (3, 3), (8, 8), (64, 8)])
def test_default_is_one_per_cpu_at_most_8(monkeypatch: pytest.MonkeyPatch, cpus: int, expected: int) -> None:
    monkeypatch.delenv("SEALBOX_WORKERS", raising=False)
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda _pid: set(range(cpus)), raising=False)
    assert config.default_workers() == expected
    assert ServerSettings().workers == expected


def test_set_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    monkeypatch.setenv("SEALBOX_WORKERS", "12")
    assert ServerSettings().workers == 12
    assert ServerSettings(workers=1).workers == 1
