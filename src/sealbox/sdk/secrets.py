"""`get_secret()` inside a session or job, and `mask_logging()` so that returned values never reach a log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, TypeVar, overload

from sealbox.errors import SecretNotFound
from sealbox.sdk.providers import Provider, outside_session_hint, providers_from_env
from sealbox.sdk.switches import check_switch

_T = TypeVar("_T")
_MISSING: Any = object()
_lock = threading.Lock()
_chain: list[Provider] | None = None
_returned: set[str] = set()
_masking = False
MASK = "***"


def set_providers(providers: Sequence[Provider] | None) -> None:
    """Use these providers, in this order (None: back to the default from SEALBOX_PROVIDERS)."""
    global _chain
    with _lock:
        _chain = list(providers) if providers is not None else None


def _providers() -> list[Provider]:
    return _chain if _chain is not None else providers_from_env()


@overload
def get_secret(name: str, *, field: str | None = None) -> str: ...
@overload
def get_secret(name: str, *, field: str | None = None, default: _T) -> str | _T: ...


def get_secret(name: str, *, field: str | None = None, default: Any = _MISSING) -> Any:
    """The value of secret `name` (or one `field` of it), from the first provider that has it.

    Raises SecretNotFound, naming the places it looked, unless `default` is given; SecretSwitchedOff in
    a notebook whose switch for `name` is off in JupyterLab's sealbox panel (even with a `default`).
    """
    check_switch(name)
    places: list[str] = []
    for provider in _providers():
        value = provider.get(name, field)
        if value is not None:
            if len(value) >= 4:
                with _lock:
                    _returned.add(value)
            return value
        places.append(provider.describe())
    if default is not _MISSING:
        return default
    raise SecretNotFound(name if field is None else f"{name}.{field}", places, hint=outside_session_hint())


class _MaskingFactory:
    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        with _lock:
            values = sorted(_returned, key=len, reverse=True)
        if not values:
            return record
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record
        masked = _mask(message, values)
        if masked != message:
            record.msg, record.args = masked, None
        # Exceptions and stacks are formatted later by handlers; format them now, masked, so that a
        # value inside an exception's text (log.exception) is hidden too.
        if record.exc_info and not record.exc_text:
            record.exc_text = _mask(logging.Formatter().formatException(record.exc_info), values)
        if record.stack_info:
            record.stack_info = _mask(record.stack_info, values)
        return record


def _mask(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, MASK)
    return text


def mask_logging() -> None:
    """Replace every value `get_secret` has returned with *** in all log records from now on."""
    global _masking
    with _lock:
        if _masking:
            return
        _masking = True
    logging.setLogRecordFactory(_MaskingFactory(logging.getLogRecordFactory()))
