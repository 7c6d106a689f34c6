"""The domain's input rules spelt as ECMAScript patterns, for the OpenAPI document.

A generated client should refuse what the server refuses. The server enforces these rules in the domain
(names.py, launches.py, kinds.py), with stable error codes; here they are written once more in the only
language a JSON Schema has, and tests/unit/server/test_schema_rules.py checks, on generated input, that each
pattern accepts exactly what its rule accepts. Only constructs that mean the same in ECMAScript and in
Python's `re` are used (no `\\s`, `\\S` or `.`: their sets differ; Python's whitespace is spelt out).
"""

from __future__ import annotations

from collections.abc import Mapping

from sealbox.domain.kinds import Kind

# What `str.strip()` and `\s` mean in Python (ECMAScript's `\s` adds U+FEFF and lacks U+001C-U+001F, U+0085).
PY_WHITESPACE = (
    "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
# What `bytes.strip()` removes.
ASCII_WHITESPACE = " \\t\\n\\r\\x0b\\x0c"
ANY = "[\\s\\S]"  # any character, line breaks included

SECRET_NAME = r"^(?!\.\.?$)[A-Za-z0-9._-]{1,128}$"  # noqa: S105 -- a pattern, not a credential  # nosec B105
USER_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
# A secret as a user refers to it: NAME (their own) or OWNER/NAME (shared with them).
SECRET_REF = r"^(?:[a-z0-9][a-z0-9._-]{0,63}/)?(?!\.\.?$)[A-Za-z0-9._-]{1,128}$"  # noqa: S105  # nosec B105
FIELD_NAME = r"^[a-z_]{1,32}$"
# An absolute path with no '.' or '..' part and no NUL, at most 1024 characters; empty means the default.
MOUNT_PATH = rf"^(?:$|(?!{ANY}*/\.{{1,2}}(?:/|$))/[^\x00]{{0,1023}}$)"

# A single value by kind (domain.kinds.check_single_value): any non-empty text; a token is one line
# (blank around it is allowed); an ssh-key holds a PEM or OpenSSH private key header.
_W = f"[{ASCII_WHITESPACE}]"
_NOT_W = f"[^{ASCII_WHITESPACE}]"
VALUE: Mapping[Kind, str] = {
    Kind.GENERIC: rf"^{ANY}+$",
    Kind.TOKEN: rf"^{_W}*(?:{_NOT_W}|{_NOT_W}[^\n]*{_NOT_W}){_W}*$",
    Kind.SSH_KEY: r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----",
    # A JSON object naming a service account: its fields are checked by the server (kinds.check_gcp_key),
    # which no pattern over the text can state.
    Kind.GCP: rf"^{_W}*\{{{ANY}*\}}{_W}*$",
}
_PRINTABLE_NO_SPACE = r"[\x21-\x7e]"
_PORT = (
    r"(?:0{0,4}[1-9]|0{0,3}[1-9][0-9]|0{0,2}[1-9][0-9]{2}|0?[1-9][0-9]{3}"
    r"|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
)
# The fields of multi-field kinds (domain.kinds._check_kind_rules). An empty optional field is left out.
FIELD: Mapping[Kind, Mapping[str, str]] = {
    Kind.AWS: {
        "access_key_id": r"^[A-Z0-9]{16,128}$",
        "secret_access_key": rf"^{_PRINTABLE_NO_SPACE}+$",
        "session_token": rf"^{_PRINTABLE_NO_SPACE}*$",
        "region": r"^(?:[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})?$",
    },
    Kind.TOKEN: {
        "token": r"^(?:[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?)?$",  # nosec B105 -- a pattern, not a credential
        "host": r"^(?:(?:https?://)?[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]{0,200})?)?$",
        "username": r"^(?:[\x21-\x39\x3b-\x7e]{1,256})?$",
    },
    # domain.cloud_kinds.check_aws_role; "both keys or neither" and the duration's bounds are the server's.
    Kind.AWS_ROLE: {
        "role_arn": r"^arn:aws[a-z-]{0,20}:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$",
        "access_key_id": r"^(?:[A-Z0-9]{16,128})?$",
        "secret_access_key": rf"^{_PRINTABLE_NO_SPACE}*$",
        "duration": r"^(?:[0-9]{1,5}[smh]?)?$",
        "region": r"^(?:[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})?$",
        "sts_endpoint": (
            r"^(?:https://[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]{0,200})?"
            r"|http://(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]{0,200})?)?$"
        ),
    },
    Kind.DATABASE: {
        "url": rf"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^{PY_WHITESPACE}]+)?$",
        "host": rf"^{ANY}*$",
        "port": rf"^{_PORT}?$",
        "user": rf"^{ANY}*$",
        "password": rf"^{ANY}*$",
        "dbname": rf"^{ANY}*$",
    },
}
