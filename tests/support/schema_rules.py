"""The OpenAPI document's patterns, each with the rule that enforces it (TEST-PLAN T32).

Used by tests/unit/server/test_schema_rules.py (Hypothesis) and the fuzz target `schema_rules`
(atheris): a pattern must accept exactly what its rule accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from sealbox.domain import patterns
from sealbox.domain.env_names import ENV_NAME_PATTERN, check_env_name
from sealbox.domain.kinds import SPECS, Kind, check_single_value, encode_fields
from sealbox.domain.names import is_valid_secret_name, is_valid_user_name
from sealbox.domain.principals import MAX_TOKEN_NAME
from sealbox.domain.sessions import Mapping, check_mount_path
from sealbox.errors import BadRequest
from sealbox.protocol.api_fields import BASE64_PATTERN, SCOPE_PATTERN, TOKEN_NAME_PATTERN
from sealbox.protocol.secret_api import SecretValue
from sealbox.protocol.sessions import CREDENTIAL_PATTERN, PUBLIC_KEY_PATTERN, PUBLIC_KEY_RE
from sealbox.server.routes.secrets import _IF_MATCH, secret_value
from sealbox.server.schemas.params import IF_MATCH_PATTERN, SECRETS_CURSOR_PATTERN
from sealbox.services.secrets import _decode_cursor, check_scopes
from sealbox.services.session_credentials import CREDENTIAL_RE
from sealbox.services.sessions import decode_public_key
from tests.support.canaries import SSH_KEY_HEADER


@cache
def python(pattern: str) -> re.Pattern[str]:
    """An ECMAScript pattern as Python reads it: `$` is the end of the text (Python's also matches
    before a final newline)."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def ok(check: Callable[[], object]) -> bool:
    try:
        check()
    except BadRequest:
        return False
    return True


def token_name_rule(name: str) -> bool:
    """As the server takes a token's name: at most 128 characters (the schema), then as
    services.tokens.issue checks it."""
    if len(name) > MAX_TOKEN_NAME:
        return False
    name = name.strip()
    return bool(name) and len(name) <= MAX_TOKEN_NAME and not any(ord(c) < 32 for c in name)


def base64_rule(text: str) -> bool:
    """As the secrets routes read `value_base64` (an empty value is refused later, by the service)."""
    return ok(lambda: secret_value(SecretValue(value_base64=text))) and bool(
        secret_value(SecretValue(value_base64=text)).raw
    )


def if_match_rule(header: str) -> bool:
    return header == "*" or _IF_MATCH.fullmatch(header) is not None


def public_key_rule(text: str) -> bool:
    """As the redeem route reads it: its expression first, then the service's decoding."""
    if not PUBLIC_KEY_RE.fullmatch(text):
        return False
    return ok(lambda: decode_public_key(text)) and len(decode_public_key(text)) == 32


AWS = {"access_key_id": "AKIA" + "0" * 16, "secret_access_key": "s3cr3t"}


def field_rule(kind: Kind, name: str) -> Callable[[str], bool]:
    """Whether one field's value is taken, the others being valid (a database: url alone, or a host)."""

    def rule(value: str) -> bool:
        if kind is Kind.AWS:
            fields = {**AWS, name: value}
        elif kind is Kind.TOKEN:
            fields = {"token": "t0ken", name: value}
        elif name == "url":
            fields = {"url": value}
        else:
            fields = {"host": "db.example.org", name: value}
        return ok(lambda: encode_fields(kind, fields))

    return rule


RULES: dict[str, tuple[str, Callable[[str], bool], str]] = {
    # name: (pattern, rule, extra characters to try around it)
    "secret name": (patterns.SECRET_NAME, is_valid_secret_name, "./ \x00é"),
    "user name": (patterns.USER_NAME, is_valid_user_name, "A./ é"),
    "secret ref": (patterns.SECRET_REF, lambda s: ok(Mapping(secret=s, file="f").validated), "/A. "),
    "field name": (
        patterns.FIELD_NAME,
        lambda s: ok(Mapping(secret="a", field=s, file="f").validated),
        "A1-",
    ),
    "mount path": (patterns.MOUNT_PATH, lambda s: s == "" or ok(lambda: check_mount_path(s)), "/.\x00\n"),
    "env name": (ENV_NAME_PATTERN, lambda s: ok(lambda: check_env_name(s)), "_PATH"),
    "scope": (SCOPE_PATTERN, lambda s: ok(lambda: check_scopes((s,))), "\x00\x1f\x7f s3:/*"),
    "token name": (TOKEN_NAME_PATTERN, token_name_rule, " \t\n\x1c\x85\xa0\u3000\ufeff\x00x"),
    "secrets cursor": (SECRETS_CURSOR_PATTERN, lambda s: ok(lambda: _decode_cursor(s)), "/A.é"),
    "base64": (BASE64_PATTERN, base64_rule, "=+/-_ "),
    "if-match": (IF_MATCH_PATTERN, if_match_rule, '"W/*9'),
    "credential": (CREDENTIAL_PATTERN, lambda s: CREDENTIAL_RE.fullmatch(s) is not None, "sbl_"),
    "public key": (PUBLIC_KEY_PATTERN, public_key_rule, "=+/"),
}


def value_rule(kind: Kind) -> Callable[[str], bool]:
    return lambda text: ok(lambda: check_single_value(kind, text.encode()))


for _kind in (Kind.GENERIC, Kind.TOKEN, Kind.SSH_KEY):
    RULES[f"{_kind.value} value"] = (
        patterns.VALUE[_kind],
        value_rule(_kind),
        " \t\n\r" + SSH_KEY_HEADER,
    )
for _kind in (Kind.AWS, Kind.DATABASE, Kind.TOKEN):
    for _name in SPECS[_kind].given_fields:
        RULES[f"{_kind.value} {_name}"] = (
            patterns.FIELD[_kind][_name],
            field_rule(_kind, _name),
            " :/0123456789-",
        )


# Fields a shape requires (a database's url in one shape, its host in the other): the schema adds minLength 1.
REQUIRED = {"database url", "database host", "token token"}
# Lengths the document states beside a pattern that does not bound them.
MAX_LENGTH = {"token name": MAX_TOKEN_NAME}


def stated(name: str, text: str) -> bool:
    """Whether the document's pattern for `name` accepts `text`."""
    pattern = python(RULES[name][0])
    return (
        pattern.search(text) is not None
        and (text != "" or name not in REQUIRED)
        and len(text) <= MAX_LENGTH.get(name, len(text))
    )
