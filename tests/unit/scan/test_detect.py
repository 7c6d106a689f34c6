"""What `sealbox scan` finds of each planted kind, in each place (a notebook cell, a saved output, a
checkpoint, a script, a .env file, git history): measured here and stated in docs/scan.md, whose table
must be the measured one. Also: the session exact-match pass, previews, and the allowlist pragma."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sealbox.scan import OUTPUT, Finding, Ref, mask
from sealbox.scan.detect import INCOMPLETE_KEY, SESSION_VALUE, detector, scan_unit
from sealbox.scan.history import read_history
from sealbox.scan.sources import read_paths, session_values
from tests.support.planted import Plant, planted_history, planted_tree, plants, write_notebook

DOCS = Path(__file__).parents[3] / "docs" / "scan.md"
PLACES = ("cell", "output", "checkpoint", "script", ".env", "git history")


def _scan(paths: list[Path]) -> list[Finding]:
    read = read_paths(paths)
    assert read.skipped == []
    with detector():
        return [f for unit in read.units for f in scan_unit(unit, {})]


def _found(findings: list[Finding], plant: Plant) -> str:
    return "found" if any(f.value == plant.value for f in findings) else "missed"


def _measure(tmp_path: Path) -> dict[str, list[str]]:
    found = plants()
    folders = planted_tree(tmp_path / "tree", found)
    planted_history(tmp_path / "repo", found)
    history = read_history(tmp_path / "repo")
    with detector():
        in_history = [f for unit in history.units for f in scan_unit(unit, {})]
    table: dict[str, list[str]] = {}
    for number, plant in enumerate(found):
        outputs = [f for f in _scan([folders["outputs"] / f"nb{number}.ipynb"]) if f.where == OUTPUT]
        env = _found(_scan([folders["env"] / f"{number}.env"]), plant) if plant.env else "n/a"
        table[plant.kind] = [
            _found(_scan([folders["cells"] / f"nb{number}.ipynb"]), plant),
            _found(outputs, plant),
            _found(_scan([folders["checkpoints"]]), plant),
            _found(_scan([folders["scripts"] / f"job{number}.py"]), plant),
            env,
            _found(in_history, plant),
        ]
        counted = [c for c in table[plant.kind] if c != "n/a"]
        table[plant.kind].append(f"{counted.count('found')} of {len(counted)}")
    return table


def _documented() -> dict[str, list[str]]:
    text = DOCS.read_text()
    section = text.split("<!-- measured: tests/unit/scan/test_detect.py -->")[1].split("<!-- end -->")[0]
    rows = [line.strip("|").split("|") for line in section.strip().splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1 : 2 + len(PLACES)]] for cells in rows}


def test_found_and_missed_per_kind_and_place_is_the_table_in_the_docs(tmp_path: Path) -> None:
    measured = _measure(tmp_path)
    assert _documented() == measured, json.dumps(measured, indent=1, ensure_ascii=False)


def test_a_value_the_session_holds_is_found_by_name_even_when_no_pattern_knows_it(tmp_path: Path) -> None:
    session = tmp_path / "session"
    version = session / "..2026_01_01"
    (version / "aws").mkdir(parents=True)
    (version / "db").write_text("quiet-plain-words-password")
    (version / "aws" / "secret_access_key").write_text("another-plain-value\n")
    (version / "@sealbox.json").write_text(
        json.dumps(
            {
                "files": [
                    {"secret": "team-db", "field": None, "file": "db"},  # pragma: allowlist secret
                    {"secret": "aws", "field": None, "file": "aws"},  # pragma: allowlist secret
                ]
            }
        )
    )
    (session / "..data").symlink_to(version.name)
    for name in ("db", "aws"):
        (session / name).symlink_to(f"..data/{name}")
    known = session_values(session)
    assert known == {
        "quiet-plain-words-password": Ref(name="team-db"),
        "another-plain-value\n": Ref(name="aws", field="secret_access_key"),
        "another-plain-value": Ref(name="aws", field="secret_access_key"),
    }
    nb = write_notebook(
        tmp_path / "a.ipynb", [("x = 1\nfoo = 'quiet-plain-words-password'", "another-plain-value")]
    )
    read = read_paths([nb])
    with detector():
        findings = [f for unit in read.units for f in scan_unit(unit, known)]
    assert [(f.where, f.cell, f.line, f.kind, f.known) for f in findings] == [
        ("code", 1, 2, SESSION_VALUE, Ref(name="team-db")),
        ("output", 1, 1, SESSION_VALUE, Ref(name="aws", field="secret_access_key")),
    ]


def test_previews_and_reprs_never_hold_the_value(tmp_path: Path) -> None:
    found = plants()
    folders = planted_tree(tmp_path, found)
    findings = _scan(list(folders.values()))
    assert findings
    for finding in findings:
        public = json.dumps(finding.public(), ensure_ascii=False)
        assert finding.value not in public and finding.value not in repr(finding)
    assert mask("AKIAABCDEFGHIJKLMNOP") == "AKIA…(20 chars)"  # pragma: allowlist secret
    assert mask("short-pw12") == "sh…(10 chars)"
    assert mask("abc") == "…(3 chars)"


def test_the_allowlist_pragma_and_a_key_without_end_line(tmp_path: Path) -> None:
    github = plants()[2].value
    script = tmp_path / "job.py"
    script.write_text(
        f'example = "{github}"  # pragma: allowlist secret\n'
        'half = """-----BEGIN RSA PRIVATE ' + 'KEY-----\nMIIEpAIBAAKCAQEA\n"""\n'  # armour from parts
    )
    findings = _scan([script])
    assert [(f.line, f.kind) for f in findings] == [(2, INCOMPLETE_KEY)]


def test_a_pem_key_is_found_whole_in_an_escaped_literal(tmp_path: Path) -> None:
    pem = plants()[-1].value
    script = tmp_path / "job.py"
    script.write_text(f"import os\nkey = {pem!r}\n")
    assert "\\n" in script.read_text()
    findings = _scan([script])
    assert [(f.line, f.kind) for f in findings if f.value == pem] == [(2, "Private Key")]
    assert not [f for f in findings if f.value != pem and f.value in pem]


def test_sealbox_tokens_are_found(tmp_path: Path) -> None:
    token = "sbx_abcdefghijklmnop_" + "A" * 20 + "b" * 23
    script = tmp_path / "deploy.sh"
    script.write_text(f"export SEALBOX_TOKEN={token}\n")
    assert [f.kind for f in _scan([script]) if f.value == token] == ["sealbox Token"]
    assert re.fullmatch(r"sbx_[a-z2-7]{16}_[A-Za-z0-9_-]{43}", token)
