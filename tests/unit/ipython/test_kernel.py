"""The kernel's pieces without a kernel: the log descriptor's relay, and the send wrapper's hold-back."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sealbox.ipython.kernel import HOLD_SECONDS, ScrubbingSend, scrub_log_descriptor
from sealbox.ipython.redact import REDACTED, Redactor
from tests.support.canaries import find_in_bytes, make_canary


def test_what_reaches_a_log_descriptor_is_scrubbed_also_when_written_in_pieces(tmp_path: Path) -> None:
    value = make_canary("log")
    redactor = Redactor([value.encode()])
    log = tmp_path / "log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        scrub_log_descriptor(fd, lambda: redactor)
        os.write(fd, f"line one {value}\n".encode())
        for ch in value:
            os.write(fd, ch.encode())
        os.write(fd, b" partial")  # no newline: written after a pause
        time.sleep(HOLD_SECONDS * 3)
        assert log.read_text() == f"line one {REDACTED}\n{REDACTED} partial"
    finally:
        os.close(fd)
    assert find_in_bytes(log.read_bytes(), [value]) == []


class _Session:
    """Stands in for jupyter_client's Session (its send and msg), recording what would go to the socket."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def msg(self, kind: str, content: dict[str, Any], parent: Any = None) -> dict[str, Any]:
        return {"header": {"msg_type": kind}, "parent_header": parent or {}, "content": content}

    def send(self, stream: Any, msg_or_type: Any, content: Any = None, **kwargs: Any) -> Any:
        msg = msg_or_type if isinstance(msg_or_type, dict) else self.msg(msg_or_type, content)
        self.sent.append({**msg, "ident": kwargs.get("ident")})
        return msg


def test_stream_pieces_are_joined_and_flushed_before_other_messages_or_after_a_pause() -> None:
    value = make_canary("send")
    session = _Session()
    send = ScrubbingSend(session, lambda: Redactor([value.encode()]))
    parent = {"msg_id": "m1"}
    for ch in value:
        send("iopub", session.msg("stream", {"name": "stdout", "text": ch}, parent), ident=b"stream.stdout")
    send("iopub", "status", {"execution_state": "idle"})
    assert [(m["header"]["msg_type"], m["content"]) for m in session.sent] == [
        ("stream", {"name": "stdout", "text": REDACTED}),
        ("status", {"execution_state": "idle"}),
    ]
    assert session.sent[0]["ident"] == b"stream.stdout" and session.sent[0]["parent_header"] == parent
    session.sent.clear()
    send("iopub", session.msg("stream", {"name": "stderr", "text": "loading " + value[:3]}, parent))
    assert [m["content"]["text"] for m in session.sent] == ["loading "]
    time.sleep(HOLD_SECONDS * 3)  # nothing else comes: the held end goes out on its own
    assert [m["content"]["text"] for m in session.sent] == ["loading ", value[:3]]
    send("shell", "execute_reply", {"status": "error", "evalue": f"bad {value}"})
    assert session.sent[-1]["content"] == {"status": "error", "evalue": f"bad {REDACTED}"}
