"""A running `sealbox run` calls in: heartbeats, `--refresh` polls, and one line per change of state.

The run asked for a heartbeat when it created its session; it calls in every `heartbeat_seconds`
(POST .../heartbeat), so that the server can tell a run that died (even while the server was down) from
one that still holds values. With `--refresh` it also polls the session every refresh interval and swaps
in replaced values. Either answer may say the session is over (ended with `sealbox session end` or on the
web page, or expired): the run then removes its files at once and says so. So does a run whose calls
the server has refused (a revoked token, a disabled account) for as long as the server waits before it
counts the session as over. A server that cannot be reached, or answers 5xx, takes nothing away: the
files stay, and the first heartbeat that gets through makes the session live again on the server.

A server that cannot be reached is reported once, when it happens, and once when it answers again; never
a line per attempt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sealbox.domain.sessions import HEARTBEAT_MISSES
from sealbox.errors import ClientError, SealboxError

if TYPE_CHECKING:
    from sealbox.protocol.session_answers import SessionPublic

OVER = frozenset({"ended", "expired"})


class SessionCalls(Protocol):
    """What the run asks the server about its session (`sealbox.sdk.client.Client` answers all three)."""

    def heartbeat(self, session_id: str) -> SessionPublic: ...

    def get_session(self, session_id: str) -> SessionPublic: ...

    def end_session(self, session_id: str) -> SessionPublic: ...


class Reporter:
    """Says what went wrong once, and that it is over once; repeats nothing."""

    def __init__(self, log: Callable[[str], None], url: str) -> None:
        self.log = log
        self.url = url
        self.current: str | None = None  # the kind of failure last reported, None when all is well

    def failed(self, exc: Exception, *, what: str, doing: str) -> None:
        """`what` failed (refresh, heartbeat) with `exc`; `doing` says what happens meanwhile."""
        if isinstance(exc, ClientError) and exc.status_code == 0:
            key, line = "unreachable", f"cannot reach the sealbox server at {self.url}; {doing}; trying again"
        elif isinstance(exc, ClientError) and exc.status_code >= 500:
            key, line = (
                f"down:{exc.code}",
                f"the sealbox server is unavailable ({exc.code}); {doing}; trying again",
            )
        else:
            code = getattr(exc, "code", type(exc).__name__)
            message = exc.message if isinstance(exc, ClientError) else str(exc)
            key, line = f"{what}:{code}", f"{what} failed: {message} ({code}); {doing}"
        if key != self.current:
            self.log(line)
            self.current = key

    def ok(self) -> None:
        if self.current == "unreachable" or (self.current or "").startswith("down:"):
            self.log(f"the sealbox server at {self.url} answers again")
        elif self.current is not None:
            self.log(f"{self.current.partition(':')[0]} works again")
        self.current = None


class Watch:
    """The thread that calls in for one session until stopped, or until the session is over."""

    def __init__(
        self,
        *,
        server: SessionCalls,
        session_id: str,
        heartbeat_seconds: int,
        refresh: Callable[[SessionPublic], None] | None,
        refresh_interval: float,
        on_over: Callable[[str], None],
        reporter: Reporter,
    ) -> None:
        self.server = server
        self.session_id = session_id
        self.heartbeat_seconds = heartbeat_seconds
        self.refresh = refresh
        self.refresh_interval = refresh_interval
        self.on_over = on_over
        self.reporter = reporter
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sealbox-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        tick = self.refresh_interval if self.refresh is not None else float(self.heartbeat_seconds)
        next_beat = time.monotonic() + self.heartbeat_seconds  # creating the session counted as a call
        refused_since: float | None = None
        doing = "keeping the current values" if self.refresh is not None else "the command keeps running"
        while not self._stop.wait(tick):
            what = "heartbeat"
            try:
                session: SessionPublic | None = None
                if time.monotonic() + tick / 2 >= next_beat:  # due (a wait may end a little early)
                    session = self.server.heartbeat(self.session_id)
                    next_beat = time.monotonic() + self.heartbeat_seconds
                if session is None and self.refresh is not None:
                    what = "refresh"
                    session = self.server.get_session(self.session_id)
                if session is None:
                    continue
                refused_since = None
                if session.status in OVER:
                    self.reporter.ok()
                    self.on_over(session.status)
                    return
                if self.refresh is not None and not self._stop.is_set():
                    what = "refresh"
                    self.refresh(session)
                self.reporter.ok()
            except ClientError as exc:
                if exc.status_code == 404:  # the server does not know this session (any more)
                    self.reporter.ok()
                    self.on_over("unknown")
                    return
                if exc.status_code in (401, 403):
                    # Refused (a revoked token, a disabled account): the server stops hearing from this run,
                    # and counts its session as over after the window; so does this side.
                    refused_since = refused_since or time.monotonic()
                    if time.monotonic() - refused_since >= HEARTBEAT_MISSES * self.heartbeat_seconds:
                        self.reporter.failed(exc, what=what, doing=doing)
                        self.on_over("refused")
                        return
                self.reporter.failed(exc, what=what, doing=doing)
                next_beat = time.monotonic()  # after a failure, call in first: a heartbeat revives
            except SealboxError as exc:
                self.reporter.failed(exc, what=what, doing=doing)
                next_beat = time.monotonic()


def end_session(server: SessionCalls, session_id: str, reporter: Reporter) -> bool:
    """End the session on the server; False when the server could not be reached (try again later)."""
    try:
        server.end_session(session_id)
    except ClientError as exc:
        # 404 and the like: nothing left to end; unreachable or unavailable: try again later.
        return not (exc.status_code == 0 or exc.status_code >= 500)
    reporter.ok()
    return True
