"""The run's calling-in loop (launcher/watch.py): what it says, when it gives up, what it does when the
session is over (issue 12, new user 2 and 3).

The server is stood in for by an object that answers like the client does (a session, or a ClientError);
the loop runs on real time with a 1 s heartbeat. The same behaviour against a real server and real
processes is in tests/integration/test_run_refresh.py and test_run_cleanup.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from sealbox.errors import ClientError, Unavailable
from sealbox.launcher.watch import Reporter, Watch, end_session
from sealbox.protocol.session_answers import SessionPublic

URL = "http://sealbox.test"
DOWN = ClientError(0, "unreachable", f"cannot reach the sealbox server at {URL}")


class Server:
    """Answers each call from a script of outcomes (a status, or an exception), repeating the last."""

    def __init__(self, *outcomes: str | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str]] = []

    def _answer(self, call: str, session_id: str) -> SessionPublic:
        self.calls.append((call, session_id))
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        at = datetime.now(UTC)
        return SessionPublic(
            id=session_id,
            owner="ada",
            project=None,
            mount_path="/secrets",
            status=outcome,
            created_at=at,
            expires_at=at + timedelta(hours=1),
            ended_at=None,
            secrets=[],
        )

    def heartbeat(self, session_id: str) -> SessionPublic:
        return self._answer("heartbeat", session_id)

    def get_session(self, session_id: str) -> SessionPublic:
        return self._answer("get_session", session_id)

    def end_session(self, session_id: str) -> SessionPublic:
        return self._answer("end_session", session_id)


def watch(
    server: Server, *, refresh: Callable[[SessionPublic], None] | None = None
) -> tuple[Watch, list[str], list[str], threading.Event]:
    lines: list[str] = []
    over: list[str] = []
    done = threading.Event()

    def on_over(state: str) -> None:
        over.append(state)
        done.set()

    w = Watch(
        server=server,
        session_id="s1",
        heartbeat_seconds=1,
        refresh=refresh,
        refresh_interval=0.2,
        on_over=on_over,
        reporter=Reporter(lines.append, URL),
    )
    return w, lines, over, done


def wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_an_unreachable_server_is_said_once_and_its_return_once() -> None:
    server = Server(*[DOWN] * 8, "active")
    w, lines, over, _ = watch(server, refresh=lambda session: None)
    w.start()
    try:
        wait_for(lambda: len(lines) == 2)
        time.sleep(0.5)
    finally:
        w.stop()
    assert len(server.calls) >= 9
    assert lines == [
        f"cannot reach the sealbox server at {URL}; keeping the current values; trying again",
        f"the sealbox server at {URL} answers again",
    ]
    assert over == []


def test_a_failing_refresh_is_said_once_and_when_it_works_again() -> None:
    failures = iter([Unavailable("the keeper is unavailable", code="keeper_unavailable")] * 4)

    def refresh(_: SessionPublic) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure

    w, lines, _, _ = watch(Server("active"), refresh=refresh)
    w.start()
    try:
        wait_for(lambda: len(lines) == 2)
        time.sleep(0.5)
    finally:
        w.stop()
    assert lines == [
        "refresh failed: the keeper is unavailable (keeper_unavailable); keeping the current values",
        "refresh works again",
    ]


@pytest.mark.parametrize(("answer", "state"), [("ended", "ended"), ("expired", "expired")])
def test_a_session_that_is_over_is_reported_once_and_the_loop_stops(answer: str, state: str) -> None:
    server = Server(answer)
    w, lines, over, done = watch(server)
    w.start()
    assert done.wait(20)
    time.sleep(1.5)
    calls = len(server.calls)
    w.stop()
    assert over == [state] and lines == [] and calls == 1  # no call after it heard the session is over


def test_a_session_the_server_does_not_know_is_over() -> None:
    w, _, over, done = watch(Server(ClientError(404, "not_found", "no such session")))
    w.start()
    assert done.wait(20)
    w.stop()
    assert over == ["unknown"]


def test_a_run_refused_for_three_heartbeats_counts_its_session_as_over() -> None:
    """The server counts it as over after three missed heartbeats; a run whose calls are refused for
    that long (the token was revoked) does too."""
    refused = ClientError(401, "unauthenticated", "a valid token is required")
    w, lines, over, done = watch(Server(refused))
    started = time.monotonic()
    w.start()
    assert done.wait(30)
    w.stop()
    assert over == ["refused"] and time.monotonic() - started >= 3
    assert lines == [
        "heartbeat failed: a valid token is required (unauthenticated); the command keeps running"
    ]


def test_a_server_down_for_longer_than_the_window_takes_no_files_away() -> None:
    """An outage (unreachable, then 503) longer than three heartbeats: the run keeps its session, and
    the first call that gets through is a heartbeat (which makes a silent session live again)."""
    unavailable = ClientError(503, "database_unavailable", "the database is unavailable")
    server = Server(*[DOWN] * 10, *[unavailable] * 10, "active")
    w, lines, over, _ = watch(server, refresh=lambda session: None)
    w.start()
    try:
        wait_for(lambda: len(lines) == 3, timeout=30)
        time.sleep(0.5)
    finally:
        w.stop()
    assert over == []
    first_answered = server.calls[20]
    assert first_answered == ("heartbeat", "s1")
    assert lines[-1] == f"the sealbox server at {URL} answers again"


@pytest.mark.parametrize(
    ("outcome", "ended"),
    [
        ("ended", True),
        (ClientError(404, "not_found", "no such session"), True),
        (DOWN, False),
        (ClientError(503, "database_unavailable", "the database is unavailable"), False),
    ],
)
def test_ending_tells_whether_to_try_again(outcome: str | Exception, ended: bool) -> None:
    assert end_session(Server(outcome), "s1", Reporter(lambda line: None, URL)) is ended
