"""Dependency and secret hygiene (TEST-PLAN T26); run through scripts/audit. See that file for usage.

Dependencies. pip-audit asks PyPI's JSON API for each installed version (`/pypi/NAME/VERSION/json`,
which carries PyPI's advisories for that release). Where that endpoint does not answer (a registry
mirror or proxy that serves installs and `/pypi/NAME/json` only, as on the machine this was written
on), pip-audit would skip every package and still print "No known vulnerabilities found" with exit
code 0; so this script probes the endpoint first and, when it is missing, audits from
`/pypi/NAME/json` instead: its advisories are those of the latest release, so every package installed
at its latest release is audited exactly, and the others are listed as not audited. Nothing audited at
all (PyPI unreachable) fails under CI=true and warns elsewhere: an audit that could not run is not a pass.

Secrets. detect-secrets scans every file git tracks, with the plugins and filters recorded in
.secrets.baseline; a finding whose (file, type, hash) is not in the baseline fails. The baseline is
never rewritten here: after checking a new finding is not a secret, refresh it with
`.venv/bin/detect-secrets scan --baseline .secrets.baseline` and commit it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx

PYPI = "https://pypi.org/pypi"
BIN = Path(sys.executable).parent
SELF = {"sealbox"}

# Time-boxed ignores: (advisory id, last day it applies, "issue link: reason"). After that day the
# advisory fails the audit again. Empty is the goal.
IGNORES: list[tuple[str, str, str]] = []


def active_ignores(today: dt.date) -> set[str]:
    active = set()
    for vuln_id, until, why in IGNORES:
        if dt.date.fromisoformat(until) >= today:
            active.add(vuln_id)
            print(f"audit: ignoring {vuln_id} until {until}: {why}")
        else:
            print(f"audit: the ignore of {vuln_id} ended on {until}; it counts again")
    return active


# --- dependencies ------------------------------------------------------------------------------------------


@dataclass
class Installed:
    name: str
    version: str


def installed() -> list[Installed]:
    found = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        direct = dist.read_text("direct_url.json")
        editable = bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))
        if name and name not in SELF and not editable:
            found[name] = Installed(name, dist.version)
    return sorted(found.values(), key=lambda d: d.name)


def version_endpoint_answers(http: httpx.Client) -> bool:
    probe = Installed("pip", metadata.version("pip"))
    return http.get(f"{PYPI}/{probe.name}/{probe.version}/json").status_code == 200


def run_pip_audit(ignores: set[str]) -> int:
    args = [
        str(BIN / "pip-audit"),
        "--strict",
        "--skip-editable",
        "--progress-spinner",
        "off",
        "--desc",
        "on",
    ]
    for vuln_id in sorted(ignores):
        args += ["--ignore-vuln", vuln_id]
    print("audit: pip-audit " + " ".join(args[1:]), flush=True)
    return subprocess.run(args, check=False).returncode


def advisories(vulns: Iterable[dict[str, object]], ignores: set[str]) -> list[str]:
    out = []
    for v in vulns:
        ids = {str(v.get("id")), *(str(a) for a in v.get("aliases") or [])}  # type: ignore[attr-defined]
        if v.get("withdrawn") or ids & ignores:
            continue
        fixed = ", ".join(str(f) for f in v.get("fixed_in") or []) or "no fix yet"  # type: ignore[attr-defined]
        out.append(f"{v.get('id')} ({', '.join(sorted(ids - {str(v.get('id'))}))}; fixed in {fixed})")
    return out


def audit_latest_releases(http: httpx.Client, ignores: set[str]) -> int:
    packages = installed()

    def look(dist: Installed) -> tuple[Installed, str | None, list[str]]:
        try:
            answer = http.get(f"{PYPI}/{dist.name}/json")
        except httpx.HTTPError:
            return dist, None, []
        if answer.status_code != 200:
            return dist, None, []
        body = answer.json()
        return dist, str(body["info"]["version"]), advisories(body.get("vulnerabilities") or [], ignores)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(look, packages))
    vulnerable = [(d, found) for d, latest, found in results if latest == d.version and found]
    audited = [d for d, latest, _ in results if latest == d.version]
    behind = [f"{d.name} {d.version} (latest {v})" for d, v, _ in results if v and v != d.version]
    unknown = [f"{d.name} {d.version}" for d, latest, _ in results if latest is None]
    print(
        f"audit: PyPI's advisories for the latest release of each package: {len(audited)} of {len(packages)}"
        f" installed packages are at their latest release and were audited"
    )
    if behind:
        print(f"audit: not audited, not the latest release ({len(behind)}): " + "; ".join(behind))
    if unknown:
        print(f"audit: not audited, not found on PyPI ({len(unknown)}): " + "; ".join(unknown))
    for dist, found in vulnerable:
        print(f"audit: VULNERABLE {dist.name} {dist.version}: " + "; ".join(found))
    if vulnerable:
        return 1
    if not audited:
        return could_not_audit("PyPI answered for none of the installed packages")
    print(f"audit: 0 known vulnerabilities in the {len(audited)} audited packages")
    return 0


def could_not_audit(why: str) -> int:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        print(f"audit: FAILED: the dependency audit could not run ({why}); under CI that is a failure")
        return 1
    print(f"audit: WARNING: the dependency audit could not run ({why}); it fails under CI=true")
    return 0


def audit_dependencies() -> int:
    ignores = active_ignores(dt.date.today())
    with httpx.Client(timeout=30, follow_redirects=True) as http:
        try:
            full = version_endpoint_answers(http)
        except httpx.HTTPError as e:
            return could_not_audit(f"PyPI's JSON API is unreachable: {type(e).__name__}")
        if full:
            return run_pip_audit(ignores)
        print(f"audit: {PYPI}/NAME/VERSION/json does not answer here: pip-audit would audit nothing")
        return audit_latest_releases(http, ignores)


# --- secrets -----------------------------------------------------------------------------------------------


def finding_keys(results: dict[str, list[dict[str, object]]]) -> set[tuple[str, str, str]]:
    return {(path, str(f["type"]), str(f["hashed_secret"])) for path, found in results.items() for f in found}


def audit_secrets() -> int:
    baseline_path = Path(".secrets.baseline")
    baseline = json.loads(baseline_path.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        # `scan --baseline FILE` scans with the baseline's plugins and filters and rewrites FILE: a copy.
        copy = Path(tmp, "baseline.json")
        shutil.copyfile(baseline_path, copy)
        done = subprocess.run(
            [
                str(BIN / "detect-secrets"),
                "scan",
                "--baseline",
                str(copy),
                "--exclude-files",
                r"^\.secrets\.baseline$",
                # The JupyterLab panel's minified build (its chunk hashes change with each build); its
                # sources, jupyterlab-extension/, are scanned.
                "--exclude-files",
                r"^src/sealbox/integrations/jupyterlab/labextension/",
            ],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr.decode(errors="replace"))
            print("audit: detect-secrets failed")
            return 1
        scanned = json.loads(copy.read_text())
    new = finding_keys(scanned["results"]) - finding_keys(baseline["results"])
    lines = {
        (path, str(f["type"]), str(f["hashed_secret"])): f.get("line_number")
        for path, found in scanned["results"].items()
        for f in found
    }
    for key in sorted(new):
        print(f"audit: NEW possible secret: {key[0]}:{lines[key]} ({key[1]})")
    if new:
        print("audit: not in .secrets.baseline; if it is no secret, refresh the baseline (scripts/audit.py)")
        return 1
    known = len(finding_keys(baseline["results"]))
    print(f"audit: detect-secrets: 0 new secrets ({known} known in the baseline)")
    return 0


def main(argv: list[str]) -> int:
    parts = argv or ["secrets", "deps"]
    checks = {"secrets": audit_secrets, "deps": audit_dependencies}
    if any(p not in checks for p in parts):
        print(f"usage: scripts/audit [{'|'.join(checks)}]...")
        return 2
    failed = [p for p in parts if checks[p]() != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
