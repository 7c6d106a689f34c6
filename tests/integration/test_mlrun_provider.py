"""The MLRun integration's quick smoke in the main suite (the MLRun suite itself is tests/mlrun/, run by
scripts/test-mlrun in a venv with mlrun): `sealbox.integrations.mlrun` imports without mlrun, and its
`secret_provider` serves a real session's folder and `--env` variables inside a real `sealbox run`
against real server and keeper processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from sealbox.errors import BadRequest
from sealbox.integrations.mlrun import env_mappings, run_env_args
from tests.integration.test_run import Person, make_person
from tests.support.canaries import find_in_bytes
from tests.support.processes import Stack

Canary = Callable[[str], str]

# The child's first lines make `import mlrun` fail, as on a machine without it.
_NO_MLRUN = "import sys; sys.modules['mlrun'] = None\n"
CHILD = _NO_MLRUN + textwrap.dedent(
    """
    import json, sys
    from sealbox.integrations.mlrun import secret_provider
    try:
        import mlrun  # noqa: F401
        importable = True
    except ImportError:
        importable = False
    found = {k: secret_provider(k) for k in sys.argv[1:]}
    print(json.dumps({"mlrun": importable}))
    with open(sys.argv[0] + ".out", "w") as out:
        json.dump(found, out)
    """
)


@pytest.fixture(scope="module")
def person(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(stack, tmp_path_factory.mktemp("mlrun"), prefix="mlrun")


def test_the_module_imports_without_mlrun(tmp_path: Path) -> None:
    code = _NO_MLRUN + (
        "import sealbox.integrations.mlrun as m; "
        "from sealbox.integrations.mlrun import sealbox_secrets, secret_provider; "
        "assert 'mlrun' not in {k for k, v in sys.modules.items() if v is not None}; "
        "print(secret_provider('nothing_here_zz'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


def test_provider_serves_the_session_folder_then_env(person: Person, canary: Canary, tmp_path: Path) -> None:
    file_value, env_value, field_value = canary("mlf"), canary("mle"), canary("mlk")
    person.add("ml_db", value=file_value)
    person.add("ml_api", value=env_value)
    person.add(
        "ml_aws",
        kind="aws",
        fields={"access_key_id": "AKIA" + "ABCDEFGH12345678", "secret_access_key": field_value},
    )
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    keys = ["ml_db", "ML_API", "ml_aws.secret_access_key", "not_in_session"]
    done = person.run(
        "--secret",
        "ml_db",
        "--secret",
        "ml_aws",
        *run_env_args(["ml_api"]),
        "--",
        sys.executable,
        str(script),
        *keys,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["mlrun"] is False
    found = json.loads((tmp_path / "child.py.out").read_text())
    assert found == {
        "ml_db": file_value,  # the folder
        "ML_API": env_value,  # the --env variable
        "ml_aws.secret_access_key": field_value,  # NAME.FIELD in the folder
        "not_in_session": None,  # MLRun then looks in its own places
    }
    assert find_in_bytes((done.stdout + done.stderr).encode(), [file_value, env_value, field_value]) == []


def test_env_mappings_as_sealbox_run_reads_them() -> None:
    assert env_mappings(["db-password", "aws.secret_access_key", "TOKEN=alice/slack"]) == {
        "DB_PASSWORD": "db-password",
        "AWS_SECRET_ACCESS_KEY": "aws.secret_access_key",
        "TOKEN": "alice/slack",
    }
    assert run_env_args(["db"]) == ["--env", "DB=db"]
    for bad in (["LD_PRELOAD=db"], ["A=db", "A=api"], ["X="], ["X=/db"], ["bad name"]):
        with pytest.raises(BadRequest):
            env_mappings(bad)
