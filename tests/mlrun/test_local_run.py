"""A local MLRun job inside `sealbox run`, for real: `code_to_function(kind="job").run(local=True)` reads
its secrets through `context.get_secret` (a `--env` mapping) and `mlrun.get_secret_or_env(...,
secret_provider=sealbox's)` (the session folder), against real sealbox server and keeper processes; no
value in the run's record (`run.to_dict()`), its stored files, or the output and logs. And what MLRun's
`project.set_secrets` does without an API server: succeeds, stores nothing."""

from __future__ import annotations

import pytest

from tests.mlrun.support import PYTHON, SKIP_REASON, mlrun_env

pytest.importorskip("mlrun", reason=SKIP_REASON)

import hashlib
import json
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

from sealbox.integrations.mlrun import run_env_args
from tests.integration.test_run import Person, make_person
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack, sealbox_cmd

Canary = Callable[[str], str]

# The job's code: it reports digests and lengths, never a value (the run's record must not hold one).
HANDLER = textwrap.dedent(
    """
    import hashlib
    import mlrun
    from sealbox.integrations.mlrun import secret_provider

    def digest(value):
        return None if value is None else hashlib.sha256(value.encode()).hexdigest()

    def handler(context):
        context.log_result("by_context", digest(context.get_secret("DB_PASSWORD")))
        read = mlrun.get_secret_or_env
        context.log_result("by_provider", digest(read("ml_api", secret_provider=secret_provider)))
        context.log_result("field", digest(read("ml_aws.secret_access_key", secret_provider=secret_provider)))
        context.logger.info("the job read its secrets")
    """
)

# The driver, as a person would write it in a notebook: a job function, run locally.
DRIVER = textwrap.dedent(
    """
    import json, sys
    import mlrun
    fn = mlrun.code_to_function(
        "sbx-job", filename=sys.argv[1], kind="job", image="mlrun/mlrun", handler="handler"
    )
    run = fn.run(local=True, artifact_path=sys.argv[2])
    with open(sys.argv[3], "w") as out:
        json.dump({"state": run.state(), "record": run.to_dict(), "outputs": run.outputs}, out, default=str)
    """
)


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("mlrun-local"), prefix="mlrun")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def every_file(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink())


def test_a_local_job_reads_its_secrets_and_records_no_value(
    person: Person, canary: Canary, tmp_path: Path
) -> None:
    db, api, key = canary("mldb"), canary("mlapi"), canary("mlkey")
    person.add("ml_db", value=db)
    person.add("ml_api", value=api)
    person.add(
        "ml_aws", kind="aws", fields={"access_key_id": "AKIA" + "ABCDEFGH12345678", "secret_access_key": key}
    )
    (tmp_path / "job.py").write_text(HANDLER)
    (tmp_path / "driver.py").write_text(DRIVER)
    report = tmp_path / "report.json"
    home = tmp_path / "home"
    home.mkdir()
    env_args = run_env_args(["DB_PASSWORD=ml_db"])
    done = subprocess.run(
        sealbox_cmd(
            "run",
            "--secret",
            "ml_api",
            "--secret",
            "ml_aws",
            *env_args,
            "--",
            PYTHON,
            str(tmp_path / "driver.py"),
            str(tmp_path / "job.py"),
            str(tmp_path / "artifacts"),
            str(report),
        ),
        env=person.env(**mlrun_env(home)),
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    result = json.loads(report.read_text())
    assert result["state"] == "completed"
    assert result["outputs"] == {"by_context": sha(db), "by_provider": sha(api), "field": sha(key)}
    values = [db, api, key]
    assert find_in_bytes(json.dumps(result["record"]).encode(), values) == []
    assert find_in_bytes(done.stdout + done.stderr, values) == []
    # What MLRun stored of the run (its local run DB in the working folder, artifacts, logs), its home.
    assert find_in_bytes(every_file(tmp_path), values) == []
    assert b"the job read its secrets" in done.stdout + done.stderr


SET_SECRETS = textwrap.dedent(
    """
    import json, sys
    import mlrun
    project = mlrun.get_or_create_project("sbx-demo", context=sys.argv[1], save=False)
    answer = project.set_secrets({"SBX_KEY": sys.argv[2]})
    db = mlrun.db.get_run_db()
    print(json.dumps({
        "answer": answer,
        "db": type(db).__name__,
        "read_back": mlrun.get_secret_or_env("SBX_KEY"),
        "keys": db.list_project_secret_keys("sbx-demo"),
    }))
    """
)


def test_project_set_secrets_without_an_api_server_stores_nothing(canary: Canary, tmp_path: Path) -> None:
    """Documented in docs/mlrun.md: the call succeeds, and the value is nowhere afterwards."""
    value = canary("setsec")
    (tmp_path / "set.py").write_text(SET_SECRETS)
    done = subprocess.run(
        [PYTHON, str(tmp_path / "set.py"), str(tmp_path), value],
        env={**mlrun_env(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert out == {"answer": None, "db": "NopDB", "read_back": None, "keys": None}
    assert find_in_bytes(every_file(tmp_path), [value]) == []
