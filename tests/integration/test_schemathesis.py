"""TEST-PLAN T11 (light) and T32: schemathesis against the running server, every operation.

Two runs against the live `/api/v1/openapi.json`, each bounded so that CI stays within a few minutes:

1. The `st` command itself, `--checks all`, every phase (examples, coverage with its boundary values and
   undeclared methods, fuzzing, stateful), as an admin. Every check counts: never a 5xx (ST1xx), a
   schema-valid request accepted (ST202) and an invalid one refused (ST201), `OPTIONS` and 405 listing
   exactly the declared methods (ST204, ST205). The hooks (tests/support/schemathesis_hooks.py) draw
   times at both ends of the calendar, and let through only the refusals no JSON Schema can state (an
   expiry in the past, a body that does not fit the stored secret's kind, two mappings onto one name),
   each checked against its request, and a session read after it was ended (its record stays).
2. In this process, positive and negative examples of every operation with a canary as every secret
   value, as a person: no 5xx, no canary in any answer; the `stack` fixture scans the server and keeper
   logs for it when the module ends.

The server runs with a high failure limit: the coverage phase sends requests without a token on purpose,
and the address must not be rate-limited for the rest of the run (the limit has tests of its own).

Not `schemathesis.pytest.from_fixture`: schemathesis 4.32.5 (the newest release) sets
`request.node._nodeid`, which pytest 9.2 no longer has ("'Function' object has no attribute
'_nodeid'"). The same engine runs here through `APIOperation.as_strategy` and Hypothesis, one pytest
subtest per operation.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import _scan_logs as scan_logs
from tests.support import schemathesis_hooks
from tests.support.canaries import SSH_KEY_HEADER
from tests.support.processes import Stack, running_stack

ROOT = Path(__file__).resolve().parents[2]
CLI_EXAMPLES = 30  # per operation and phase, in the `st` run
EXAMPLES = 40  # per operation, in this process
BUDGET = 1500  # examples in all, in this process


@pytest.fixture(scope="module")
def open_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose address is not locked out by the run's own unauthenticated requests."""
    with running_stack(
        tmp_path_factory.mktemp("st"), server_env={"SEALBOX_AUTH_FAILURE_LIMIT": "10000"}
    ) as s:
        yield s
        scan_logs(s)


@pytest.fixture(scope="module")
def fuzz_token(open_stack: Stack) -> str:
    """A second admin: whatever the fuzzer does to its tokens, the stack's own admin token stays valid."""
    return open_stack.add_user("fuzzer", admin=True)


def _schemathesis_command() -> list[str]:
    found = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert found, "the schemathesis command (st) is not installed"
    return [found]


# `DELETE /api/v1/tokens/{id}`, following the document's links, revokes the run's own token and leaves
# the rest of the run with 401s: it is left to the run in this process (and test_api_edges.py).
CONFIG = """
[[operations]]
include-name = "DELETE /api/v1/tokens/{token_id}"
enabled = false
"""


def test_checks_all_every_phase_finds_nothing(open_stack: Stack, fuzz_token: str, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    run = subprocess.run(
        [
            *_schemathesis_command(),
            "--config-file",
            str(config),
            "run",
            f"{open_stack.url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {fuzz_token}",
            "--checks",
            "all",
            "--exclude-checks",
            # replaced by the hooks' own, with the exceptions they list
            "positive_data_acceptance,use_after_free",
            "--max-examples",
            str(CLI_EXAMPLES),
            "--workers",
            "1",
            "--continue-on-failure",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
        },
        cwd=tmp_path,  # schemathesis keeps a folder of its own where it runs
        capture_output=True,
        timeout=600,
    )
    out = run.stdout.decode(errors="replace") + run.stderr.decode(errors="replace")
    assert run.returncode == 0, out[-6000:]
    assert not re.search(r"\bST\d{3}\b", out), out[-6000:]
    tested = re.search(r"Tested: (\d+)", out)
    assert tested and int(tested.group(1)) >= 37, out[-3000:]
    # The run kept its token throughout: only the session credential's routes (no bearer token) say 401.
    unauthorized = re.search(r"401 Unauthorized \(\d+ operations?\):\n((?:\s+- .+\n)+)", out)
    only_401 = set(re.findall(r"- (\S+ \S+)", unauthorized.group(1))) if unauthorized else set()
    assert only_401 <= {
        "POST /api/v1/sessions/{session_id}/redeem",
        "POST /api/v1/sessions/{session_id}/failures",
    }, out[-3000:]


def test_options_and_405_list_every_declared_method(open_stack: Stack, fuzz_token: str) -> None:
    """ST205 directly, for every path of the document (and a 405 says the same as OPTIONS)."""
    document = httpx.get(f"{open_stack.url}/api/v1/openapi.json").json()
    methods = {"delete", "get", "head", "patch", "post", "put"}
    with open_stack.client(fuzz_token) as api:
        for template, item in document["paths"].items():
            declared = sorted(m.upper() for m in item if m in methods)
            path = re.sub(r"\{[^}]+\}", "x", template)
            options = api.options(path)
            assert options.status_code == 204, (template, options.status_code)
            assert options.headers["allow"] == ", ".join([*declared, "OPTIONS"]), template
            undeclared = sorted({"DELETE", "PATCH", "PUT"} - set(declared))
            if undeclared:
                refused = api.request(undeclared[0], path)
                assert refused.status_code == 405, (template, refused.status_code)
                assert refused.headers["allow"] == options.headers["allow"], template
        assert api.options("/api/v1/no-such-path").status_code == 404


# --- in this process: canaries as values, as a person -------------------------------------------------


@pytest.fixture(scope="module")
def person_token(open_stack: Stack) -> str:
    return open_stack.add_user("fuzzed-person")


def _inject(case: Case[Any], value: str) -> None:
    """Put `value` wherever the generated body holds a secret value as a string (types unchanged,
    so an invalid negative example stays invalid)."""
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("value"), str) and body["value"]:
        # Still a value of the body's kind: an ssh-key value holds a private key's header.
        pem = SSH_KEY_HEADER + "\n" if body.get("kind") == "ssh-key" else ""
        body["value"] = pem + value
    if isinstance(body.get("value_base64"), str) and body["value_base64"]:
        body["value_base64"] = base64.b64encode(value.encode()).decode()
    fields = body.get("fields")
    if isinstance(fields, dict):
        for key, old in fields.items():
            # Only a field the example filled (a database given by url has its parts empty).
            if isinstance(old, str) and old and key in ("password", "secret_access_key", "session_token"):
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
            excluded_checks=[positive_data_acceptance],
            additional_checks=[schemathesis_hooks.positive_data_acceptance_but_state],
        )
        sent += 1
        assert response.status_code < 500
        assert value not in response.text and value not in str(response.headers)

    run()
    return sent


def test_no_operation_answers_5xx_or_off_schema(
    open_stack: Stack, person_token: str, canary: Callable[[str], str], subtests: pytest.Subtests
) -> None:
    schema: Any = schemathesis.openapi.from_url(f"{open_stack.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {
        "POST /api/v1/secrets",
        "GET /api/v1/secrets",
        "GET /api/v1/secrets/{name}",
        "PUT /api/v1/secrets/{name}/value",
        "PATCH /api/v1/secrets/{name}",
        "DELETE /api/v1/secrets/{name}",
        "GET /api/v1/audit",
        "POST /api/v1/sessions",
        "POST /api/v1/tokens",
        "DELETE /api/v1/tokens/{token_id}",
    } <= labels
    sent: dict[str, int] = {}
    examples = max(10, min(EXAMPLES, BUDGET // len(operations)))
    for operation in operations:
        with subtests.test(msg=operation.label):
            sent[operation.label] = _fuzz(operation, person_token, canary("fz"), examples=examples)
    assert sum(sent.values()) >= 5 * len(sent), sent  # the examples did go out
    with open_stack.client(person_token) as c:  # the server is still answering after all that
        assert c.get("/healthz").status_code == 200
