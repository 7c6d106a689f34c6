"""Shared fixtures: real keeper/server processes, SQLite and PostgreSQL databases, canary registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.canaries import find_in_bytes, make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Stack, running_stack

# Every canary any test creates; stacks scan their logs for all of them when they stop.
CANARIES: list[str] = []


@pytest.fixture
def canary() -> Callable[[str], str]:
    def make(label: str = "") -> str:
        value = make_canary(label)
        CANARIES.append(value)
        return value

    return make


def _scan_logs(stack: Stack) -> None:
    hits = find_in_bytes(stack.logs(), CANARIES + ([stack.admin_token] if stack.admin_token else []))
    assert hits == [], f"canary or token found in server/keeper logs: {hits}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A real keeper and server on SQLite, shared by a test module; its logs are scanned at the end."""
    with running_stack(tmp_path_factory.mktemp("stack")) as s:
        yield s
        _scan_logs(s)


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The same on a fresh PostgreSQL database."""
    with fresh_database() as url, running_stack(tmp_path_factory.mktemp("pgstack"), database_url=url) as s:
        yield s
        _scan_logs(s)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One SQLite file and one PostgreSQL database: store tests run on both."""
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'sealbox.db'}"
    else:
        with fresh_database() as url:
            yield url
