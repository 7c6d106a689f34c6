"""Heartbeats: a session side that asked for one (`sealbox run`) calls in, and hears whether its session
is still live.

A session created with `heartbeat_seconds` is over once it has not been heard from for
HEARTBEAT_MISSES intervals (the domain's `session_is_live`): a run that died while the server was down
does not stay live for the rest of its lifetime. A side that calls in again after such a silence (the
server, or the network to it, was down longer than the window) is alive after all and still holds its
values: its session is live again, so that a server outage never takes files away from running
commands. A session that was ended, or is past its lifetime, stays over. A call-in is not audited (it
changes nothing but the time last seen); the answer tells the side that its session was ended or
expired, so that it removes its files.
"""

from __future__ import annotations

from datetime import datetime

from msgspec.structs import replace

from sealbox.domain.principals import Principal
from sealbox.domain.sessions import Session
from sealbox.errors import NotFound
from sealbox.services.ports import Store


def heartbeat(db: Store, requested_by: Principal, session_id: str, *, now: datetime) -> Session:
    """Record that the owner's session side is alive (when the session is live) and return the session;
    its `state(now)` says whether it is still live. NotFound for a session that is not the caller's."""
    with db.writing() as uow:
        repo = uow.sessions
        session = repo.get(session_id[:64], owner_id=requested_by.user.id)
        if session is None:
            raise NotFound("no such session")
        if session.heartbeat_seconds is None or session.status == "ended" or now >= session.expires_at:
            return session
        repo.touch(session.id, now)
    return replace(session, last_seen_at=now)
