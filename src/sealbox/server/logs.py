"""Logging set-up for the server and keeper processes: one line per record, to stderr."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if getattr(root, "_sealbox_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries below sealbox stay at WARNING even in DEBUG runs: SQLAlchemy's INFO lines carry SQL
    # parameters (ciphertexts, token hashes) and httpx's carry URLs.
    for noisy in ("httpx", "httpcore", "sqlalchemy", "alembic", "multipart", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root._sealbox_configured = True  # type: ignore[attr-defined]
