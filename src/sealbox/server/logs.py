"""Logging set-up for the server and keeper processes: one line per record, to stderr.

Two formats (`SEALBOX_LOG_FORMAT`, `--log-format`): `text`, for people, and `json`, one JSON object a
line (`ts`, `level`, `logger`, `msg`, and `request_id` while an API request is handled), for a log
pipeline. In JSON a record's exception is named by its type only: a traceback's text may hold
request data.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from sealbox.domain import request_ids

LOG_FORMATS = ("text", "json")
_NOISY = ("httpx", "httpcore", "sqlalchemy", "alembic", "multipart", "hpack")


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message`, then `request_id=...` during a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_ids.current()
        return f"{line} request_id={request_id}" if request_id else line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in a message are escaped by json)."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_ids.current()
        if request_id:
            body["request_id"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            body["exc_type"] = record.exc_info[0].__name__
        return json.dumps(body, ensure_ascii=True, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format.lower() == "json" else TextFormatter()


def configure_logging(level: str, log_format: str = "text") -> None:
    root = logging.getLogger()
    if getattr(root, "_sealbox_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries below sealbox stay at WARNING even in DEBUG runs: SQLAlchemy's INFO lines carry SQL
    # parameters (ciphertexts, token hashes) and httpx's carry URLs.
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Servers' own loggers (uvicorn's, granian's) write through the root handler, in the same format.
    for server_logger in ("uvicorn", "uvicorn.error", "granian", "_granian"):
        logger = logging.getLogger(server_logger)
        logger.handlers[:] = []
        logger.propagate = True
    root._sealbox_configured = True  # type: ignore[attr-defined]


def dict_config(level: str, log_format: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for a server that configures logging itself (granian, uvicorn)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "sealbox": {"()": f"{__name__}.{'JsonFormatter' if log_format == 'json' else 'TextFormatter'}"}
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "sealbox", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {name: {"level": "WARNING"} for name in _NOISY},
    }
