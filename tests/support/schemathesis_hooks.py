"""schemathesis hooks for sealbox's runs (SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks).

1. Times at the ends of the calendar. Hypothesis draws `date-time` values from ordinary years; issue 12
   found 500s at `0001-01-01T00:00:00+01:00` and `9999-12-31T23:59:59-01:00`. Here a third of the drawn
   times are at either end, with any offset, so every run asks for them.

2. Schema-valid requests that the server may still refuse: the OpenAPI document states every rule a JSON
   Schema can express (patterns, lengths, formats, ranges, per-kind shapes), so schemathesis's
   `positive_data_acceptance` (ST202) applies with only these exceptions, each a 400 with its own code
   and message, and each checked against the request that got it:
   - an expiry in the past: the clock decides, not the text (`invalid_expiry`);
   - a value or a mapping that does not fit the kind of the *stored* secret it names (a new value for
     a database secret, a variable for a whole aws secret, a field of a generic one), or a grant to the
     secret's own owner: the stored state decides;
   - two items of one request mapped to the same file or variable: JSON Schema has no uniqueness of one
     property across items;
   - a gcp value that is not a service-account key: a JSON document inside a string, whose fields no
     pattern over the text can state.
   - an aws-role's duration outside 15 min to 12 h (a number of seconds, minutes or hours: the pattern
     states the shape, the bounds are the server's) or one of its two keys without the other.
   Anything else a schema-valid request gets as a 400 or 422 fails the run.

3. `DELETE /api/v1/sessions/{id}` ends a session: its record stays readable (status `ended`) for its
   owner and the audit, so a read after it is not a use after free (ST301); every other path keeps
   schemathesis's `use_after_free`.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance, use_after_free

from sealbox.domain.times import parse_rfc3339
from sealbox.errors import TimeFormatError


def _rfc3339(year: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    two = st.integers(0, 59).map("{:02d}".format)
    offset = st.just("Z") | st.builds("{}{:02d}:{}".format, st.sampled_from("+-"), st.integers(0, 23), two)
    fraction = st.just("") | st.text(string.digits, min_size=1, max_size=9).map(".".__add__)
    return st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{}:{}{}{}".format,
        year,
        st.integers(1, 12),
        st.integers(1, 28),
        st.integers(0, 23),
        two,
        two,
        fraction,
        offset,
    )


schemathesis.openapi.format(
    "date-time",
    st.one_of(
        _rfc3339(st.integers(1900, 2200)),
        _rfc3339(st.sampled_from([0, 1, 9999])),
        st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00Z"]),
    ),
)


def _in_the_past(case: Any) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    try:
        return parse_rfc3339(str(body.get("expires_at"))) <= datetime.now(UTC)
    except TimeFormatError:
        return False


def _gcp(case: Any) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    return body.get("kind") == "gcp" and case.path.endswith("/secrets")


def _aws_role(case: Any, code: str, message: str) -> bool:
    """An aws-role's duration bounds (900-43200 s, also written as minutes or hours) and its two keys given
    together or not at all: domain.patterns leaves both to the server."""
    body = case.body if isinstance(case.body, dict) else {}
    if body.get("kind") != "aws-role" or not case.path.endswith("/secrets"):
        return False
    return (code == "invalid_field" and message.startswith("duration must be")) or (
        code == "missing_field" and message == "give both access_key_id and secret_access_key, or neither"
    )


def _beyond_a_schema(case: Any, code: str, message: str) -> bool:
    """Whether this refusal is one of the rules no JSON Schema can state (see the module docstring)."""
    if _aws_role(case, code, message):
        return True
    if code == "invalid_expiry":
        return message == "expires_at must be in the future" and _in_the_past(case)
    if code in ("invalid_value", "invalid_field", "missing_field") and _gcp(case):
        return True
    if code in ("invalid_value", "invalid_field", "missing_field"):
        # Schema-valid, so the shape was right: what did not fit is the kind of a secret that exists,
        # named by the path (a new value) or by a mapping (a session). Creating one names its own kind.
        return case.path.endswith("/value") or "/sessions" in case.path
    if code == "invalid_grantee":
        return message == "the owner already has every level" and case.path.endswith("/grants")
    return code in ("duplicate_file", "duplicate_env")


@schemathesis.check
def positive_data_acceptance_but_state(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's `positive_data_acceptance`, except for the rules the module docstring names."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        try:
            body = response.json()
        except ValueError:
            raise
        if response.status_code == 400 and _beyond_a_schema(
            case, str(body.get("code")), str(body.get("message"))
        ):
            return None
        raise


_SESSION = re.compile(r"/api/v1/(?:service/)?sessions/\{session_id\}")


@schemathesis.check
def use_after_free_but_ended_sessions(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's `use_after_free`, except for a session read after it was ended."""
    if _SESSION.fullmatch(case.operation.path):
        return None
    return use_after_free(ctx, response, case)
