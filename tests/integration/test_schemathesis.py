"""TEST-PLAN T11 (light): schemathesis against the running server, every operation, as an admin.

The schema is the live `/api/v1/openapi.json`. Each operation gets up to `EXAMPLES` positive and
negative examples, and every response is checked with schemathesis's own checks: never a 5xx
(`not_a_server_error`), a documented status code, content type and headers, a body that matches
its response schema, and invalid input refused. String values of secrets carry a canary; no
response may contain it, and the `stack` fixture scans the server and keeper logs for it when the
module ends.

Left out, as checks of how precise the schema is rather than of the server's safety (full T11
runs them): `positive_data_acceptance` (the schema does not spell out every rule: name pattern,
base64, If-Match, cursor; schema-valid requests can rightly get 400 with a stable code) and
`negative_data_rejection` (pydantic's lax mode takes a number for a date-time, e.g.
`GET /api/v1/audit?since=0.0` answers 200).

Not `schemathesis.pytest.from_fixture`: schemathesis 4.32.5 (the newest release) sets
`request.node._nodeid`, which pytest 9.2 no longer has ("'Function' object has no attribute
'_nodeid'"). The same engine runs here through `APIOperation.as_strategy` and Hypothesis, one
pytest subtest per operation.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.support.processes import Stack

EXAMPLES = 30  # per operation, at most
BUDGET = 750  # examples in all, so that the run stays bounded as the API grows


@pytest.fixture(scope="module")
def fuzz_token(stack: Stack) -> str:
    """A second admin: whatever the fuzzer does to its tokens, the stack's own admin token stays valid."""
    return stack.add_user("fuzzer", admin=True)


def _inject(case: Case[Any], value: str) -> None:
    """Put `value` wherever the generated body holds a secret value as a string (types unchanged,
    so an invalid negative example stays invalid)."""
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("value"), str):
        body["value"] = value
    if isinstance(body.get("value_base64"), str):
        body["value_base64"] = base64.b64encode(value.encode()).decode()
    fields = body.get("fields")
    if isinstance(fields, dict):
        for key, old in fields.items():
            if isinstance(old, str):
                fields[key] = value


def _fuzz(operation: APIOperation[Any, Any, Any, Any], token: str, value: str, *, examples: int) -> int:
    """Run the examples of one operation; returns how many requests went out."""
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)
    sent = 0

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case: Case[Any]) -> None:
        nonlocal sent
        _inject(case, value)
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"},
            excluded_checks=[positive_data_acceptance, negative_data_rejection],
        )
        sent += 1
        assert response.status_code < 500
        assert value not in response.text and value not in str(response.headers)

    run()
    return sent


def test_no_operation_answers_5xx_or_off_schema(
    stack: Stack, fuzz_token: str, canary: Callable[[str], str], subtests: pytest.Subtests
) -> None:
    schema: Any = schemathesis.openapi.from_url(f"{stack.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {
        "POST /api/v1/secrets",
        "GET /api/v1/secrets",
        "GET /api/v1/secrets/{name}",
        "PUT /api/v1/secrets/{name}/value",
        "PATCH /api/v1/secrets/{name}",
        "DELETE /api/v1/secrets/{name}",
        "POST /api/v1/tokens",
        "GET /api/v1/tokens",
        "DELETE /api/v1/tokens/{token_id}",
        "POST /api/v1/users",
    } <= labels
    sent: dict[str, int] = {}
    examples = max(10, min(EXAMPLES, BUDGET // len(operations)))
    for operation in operations:
        with subtests.test(msg=operation.label):
            sent[operation.label] = _fuzz(operation, fuzz_token, canary("fz"), examples=examples)
    assert sum(sent.values()) >= 5 * len(sent), sent  # the examples did go out
    with stack.client(fuzz_token) as c:  # the server is still answering after all that
        assert c.get("/healthz").status_code == 200
