"""`sealbox scan` as a CI step runs it (a real process, no server): exit 0 clean, 1 findings, 2 usage
errors or no detector; --json; --git names the commit that added a value removed since; and no value
in stdout or stderr, only masked previews."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.planted import git, planted_history, planted_tree, plants, write_notebook
from tests.support.processes import base_env, sealbox_cmd


def _scan(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sealbox_cmd("scan", *args),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or base_env(),
        timeout=120,
        check=False,
    )


def _no_values(done: subprocess.CompletedProcess[str], values: list[str]) -> None:
    for value in values:
        for line in value.splitlines():
            if len(line) >= 8:
                assert line not in done.stdout and line not in done.stderr


def test_exit_status_for_ci(tmp_path: Path) -> None:
    clean = write_notebook(tmp_path / "clean.ipynb", [("x = 1", "1")])
    assert _scan(str(clean), cwd=tmp_path).returncode == 0
    github = plants()[2].value
    write_notebook(tmp_path / "leak.ipynb", [(f"gh = '{github}'", None)])
    done = _scan(".", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "leak.ipynb" in done.stdout and "GitHub Token" in done.stdout and "ghp_…(40 chars)" in done.stdout
    assert _scan("missing.ipynb", cwd=tmp_path).returncode == 2
    assert _scan(".", "--yes", cwd=tmp_path).returncode == 2
    assert _scan(cwd=tmp_path).returncode == 2
    _no_values(done, [github])


def test_json_lists_every_planted_finding_with_masked_previews(tmp_path: Path) -> None:
    found = plants()
    planted_tree(tmp_path / "tree", found)
    done = _scan("tree", "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["skipped"] == []
    first = report["findings"][0]
    assert set(first) == {"path", "where", "cell", "line", "kind", "preview", "commit", "session_secret"}
    paths = {f["path"] for f in report["findings"]}
    assert any(".ipynb_checkpoints" in p for p in paths)
    assert any(p.endswith(".env") for p in paths) and any(p.endswith(".py") for p in paths)
    assert {"code", "output"} <= {f["where"] for f in report["findings"]}
    _no_values(done, [p.value for p in found])


def test_git_history_names_the_commit_that_added_a_value_removed_since(tmp_path: Path) -> None:
    found = plants()
    planted_history(tmp_path / "repo", found)
    added = git(tmp_path / "repo", "rev-list", "--max-parents=0", "--abbrev-commit", "HEAD").strip()
    worktree = _scan("repo", "--json", cwd=tmp_path)
    assert worktree.returncode == 0, worktree.stderr
    history = _scan("repo", "--git", "--json", cwd=tmp_path)
    assert history.returncode == 1, history.stderr
    findings = json.loads(history.stdout)["findings"]
    assert findings and {f["commit"] for f in findings} == {added}
    assert {f["path"] for f in findings} <= {f"repo/nb{n}.ipynb" for n in range(len(found))}
    _no_values(history, [p.value for p in found])
    assert _scan(".", "--git", cwd=tmp_path).returncode == 2  # not a repository


def test_without_detect_secrets_the_scan_says_how_to_install_it(tmp_path: Path) -> None:
    # An import shim on PYTHONPATH stands in for an environment without the `scan` extra.
    shim = tmp_path / "shim" / "detect_secrets"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('not installed here')\n")
    write_notebook(tmp_path / "a.ipynb", [("x = 1", None)])
    done = _scan("a.ipynb", cwd=tmp_path, env=base_env(PYTHONPATH=str(tmp_path / "shim")))
    assert done.returncode == 2
    assert "pip install 'sealbox[scan]'" in done.stderr
