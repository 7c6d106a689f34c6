"""Inside the kernel: every message the kernel sends is scrubbed, and so is what reaches the server's log.

`Session.send` is wrapped on the kernel's one Session, which every output goes through: stream (print,
logging, and subprocess output that ipykernel reads from the captured file descriptors 1 and 2), display
data, execute results, errors and tracebacks, the shell replies (inspection, execute replies) and comm
messages. A stream message's end that begins a value is held back until the next piece (a value written a
character at a time), until any other message, or for HOLD_SECONDS at most.

ipykernel 7 writes everything it reads from file descriptors 1 and 2 raw to copies of the kernel's
original stdout and stderr (the server's log), and points its own log there too. Those copies are
replaced, under the same descriptor numbers, by pipes that a thread scrubs into the original targets.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sealbox.ipython.redact import Redactor

HOLD_SECONDS = 0.3
Source = Callable[[], Redactor]


class _Held:
    __slots__ = ("options", "parent", "since", "socket", "text")

    def __init__(self, socket: Any, parent: Any, text: str, options: dict[str, Any]) -> None:
        self.socket, self.parent, self.text, self.options = socket, parent, text, options
        self.since = time.monotonic()


class ScrubbingSend:
    """Replaces `session.send`: scrubs the content of each message, holds back a stream's risky end."""

    def __init__(self, session: Any, source: Source) -> None:
        self.session = session
        self.original = session.send
        self.source = source
        self.held: dict[tuple[str, str], _Held] = {}
        self.lock = threading.RLock()
        self._wake = threading.Event()
        self._timer = threading.Thread(target=self._expire, name="sealbox-redaction", daemon=True)
        self._timer.start()

    def __call__(self, stream: Any, msg_or_type: Any, content: Any = None, *args: Any, **kwargs: Any) -> Any:
        redactor = self.source()
        with self.lock:
            if isinstance(msg_or_type, dict):
                msg = dict(msg_or_type)
                kind = msg.get("header", {}).get("msg_type")
                if kind == "stream" and not args:
                    return self._stream(redactor, stream, msg, kwargs)
                self._flush_held(redactor)
                msg["content"] = redactor.scrub_tree(msg.get("content"))
                return self.original(stream, msg, content, *args, **kwargs)
            self._flush_held(redactor)
            return self.original(stream, msg_or_type, redactor.scrub_tree(content), *args, **kwargs)

    def _stream(self, redactor: Redactor, socket: Any, msg: dict[str, Any], options: dict[str, Any]) -> Any:
        body = dict(msg.get("content") or {})
        name = str(body.get("name", "stdout"))
        parent = msg.get("parent_header") or {}
        key = (name, str(parent.get("msg_id", "")))
        for other in [k for k in self.held if k != key]:  # keep the order of what was written
            self._send_held(redactor, other)
        earlier = self.held.pop(key, None)
        text = (earlier.text if earlier else "") + str(body.get("text", ""))
        ready, hold = redactor.split(text)
        if hold:
            self.held[key] = _Held(socket, parent, hold, options)
            self._wake.set()
        if not ready:
            return msg
        body["text"] = ready
        msg["content"] = body
        return self.original(socket, msg, **options)

    def _send_held(self, redactor: Redactor, key: tuple[str, str]) -> None:
        item = self.held.pop(key, None)
        if item is None:
            return
        content = {"name": key[0], "text": redactor.scrub(item.text)}
        self.original(item.socket, self.session.msg("stream", content, parent=item.parent), **item.options)

    def _flush_held(self, redactor: Redactor) -> None:
        for key in list(self.held):
            self._send_held(redactor, key)

    def _expire(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(HOLD_SECONDS / 3)
            with self.lock:
                now = time.monotonic()
                for key in [k for k, item in self.held.items() if now - item.since >= HOLD_SECONDS]:
                    with contextlib.suppress(Exception):  # a closed socket at shutdown: nothing to send to
                        self._send_held(self.source(), key)
                if not self.held:
                    self._wake.clear()


def scrub_log_descriptor(fd: int, source: Source) -> None:
    """Put a pipe under `fd` whose reader writes what comes, scrubbed, to where `fd` pointed."""
    target = os.dup(fd)
    read_end, write_end = os.pipe()
    os.dup2(write_end, fd, inheritable=False)  # as ipykernel's copy was: not for child processes
    os.close(write_end)
    os.set_inheritable(read_end, False)
    os.set_inheritable(target, False)
    threading.Thread(
        target=_relay, args=(read_end, target, source), name="sealbox-log-redaction", daemon=True
    ).start()


def _relay(read_end: int, target: int, source: Source) -> None:
    pending = ""
    while True:
        ready, _, _ = select.select([read_end], [], [], HOLD_SECONDS)
        redactor = source()
        if not ready:
            if pending:
                _write(target, redactor.scrub(pending))
                pending = ""
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            _write(target, redactor.scrub(pending))
            return
        out, pending = redactor.split(pending + chunk.decode("utf-8", "surrogateescape"))
        _write(target, out)


def _write(fd: int, text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data) :]


def install(kernel: Any, source: Source) -> bool:
    """Scrub `kernel`'s messages and the log copies of its captured output; False when already done."""
    session = kernel.session
    if isinstance(session.send, ScrubbingSend):
        return False
    session.send = ScrubbingSend(session, source)
    for stream in (sys.stdout, sys.stderr):
        copy = getattr(stream, "_original_stdstream_copy", None)
        if isinstance(copy, int):
            scrub_log_descriptor(copy, source)
    return True
