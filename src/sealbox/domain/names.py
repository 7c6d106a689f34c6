"""Name rules for secrets, users and tokens."""

from __future__ import annotations

import re

from sealbox.errors import BadRequest

MAX_NAME_LENGTH = 128
MAX_USER_NAME_LENGTH = 64
# A secret as a user refers to it: NAME, or OWNER/NAME for one shared with them.
MAX_REF_LENGTH = MAX_USER_NAME_LENGTH + 1 + MAX_NAME_LENGTH
_SECRET_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_RULE = "1-128 letters, digits, '.', '_' or '-', and not '.' or '..'"
USER_NAME_RULE = "1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_valid_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.fullmatch(name)) and name not in {".", ".."}


def check_secret_name(name: str) -> str:
    """Return `name` if it is a valid secret name, else raise BadRequest(code=invalid_name)."""
    if not isinstance(name, str) or not is_valid_secret_name(name):
        raise BadRequest(f"a secret name is {NAME_RULE}", code="invalid_name", field="name")
    return name


def is_valid_user_name(name: str) -> bool:
    return bool(_USER_NAME.fullmatch(name))


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not is_valid_user_name(name):
        raise BadRequest(f"a user name is {USER_NAME_RULE}", code="invalid_name", field="name")
    return name
