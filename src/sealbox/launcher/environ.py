"""The environment a session's command gets: only the chosen mappings, plus where to find the files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from sealbox.domain.env_names import check_env_name
from sealbox.errors import BadRequest
from sealbox.launcher.redeem import Delivered


def child_environment(
    items: Iterable[Delivered],
    *,
    secrets_dir: str | None,
    session_id: str,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A new mapping for the child's execve; sealbox's own `os.environ` is never changed."""
    env = dict(os.environ if base is None else base)
    env_map: dict[str, str] = {}
    for item in items:
        if item.env is None:
            continue
        # The server checked the name when the session was made; a session made before the rule grew
        # (or by another server) is checked again here, where the variable is actually set.
        check_env_name(item.env)
        raw = item.selected()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(
                "a variable can only hold text; map binary secrets to files", code="invalid_env_value"
            ) from None
        if "\x00" in text:
            raise BadRequest(
                "a variable cannot hold a NUL byte; map this secret to a file", code="invalid_env_value"
            )
        env[item.env] = text
        env_map[item.name if item.field is None else f"{item.name}.{item.field}"] = item.env
    if secrets_dir is not None:
        env["SEALBOX_SECRETS_DIR"] = secrets_dir
    env["SEALBOX_SESSION_ID"] = session_id
    # Names only (which variable holds which secret), so get_secret() can find renamed variables.
    env["SEALBOX_ENV_MAP"] = json.dumps(env_map, sort_keys=True)
    return env
