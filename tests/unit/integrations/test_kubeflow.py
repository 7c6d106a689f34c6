"""Kubeflow Notebooks 2.0 (issue 7): `spec.podTemplate.volumes.secrets[]` entries, and who mounts what.

The entries are validated against our own JSON schema of the Workspace CRD's rules, pinned from
kubeflow/notebooks (see sealbox.integrations.kubeflow.CRD_SOURCE), and against the list-map rule
(keyed by mountPath) that JSON Schema cannot say.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli.main import app
from sealbox.errors import WorkspaceError
from sealbox.integrations.kubeflow import (
    CRD_SOURCE,
    SECRETS_LIST_SCHEMA,
    SecretMount,
    check_secret_entries,
    parse_secret_option,
    secret_volumes,
    workspace_patch,
    workspaces_by_secret,
)

runner = CliRunner()


def valid(entries: list[dict[str, Any]]) -> None:
    jsonschema.validate(entries, SECRETS_LIST_SCHEMA)
    assert check_secret_entries(entries) == []


def workspace(namespace: str, name: str, secrets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "kind": "jupyterlab",
            "podTemplate": {
                "options": {"imageConfig": "jupyterlab_scipy_190", "podConfig": "tiny_cpu"},
                "volumes": {"home": f"{name}-home", "secrets": secrets},
            },
        },
    }


def test_the_schema_is_pinned_to_a_commit_of_kubeflow_notebooks() -> None:
    assert CRD_SOURCE.startswith("kubeflow/notebooks@8b6105775132f4ea0af2a1dc3833519789651233:")
    assert CRD_SOURCE.endswith("kubeflow.org_workspaces.yaml")


def test_entries_for_synced_secrets() -> None:
    entries = secret_volumes(
        [parse_secret_option("warehouse-creds"), parse_secret_option("aws.keys:/home/jovyan/.aws-sealbox")]
    )
    valid(entries)
    assert entries == [
        {"secretName": "warehouse-creds", "mountPath": "/secrets/warehouse-creds", "defaultMode": 0o440},
        {"secretName": "aws.keys", "mountPath": "/home/jovyan/.aws-sealbox", "defaultMode": 0o440},
    ]
    patch = workspace_patch(entries)
    assert patch["spec"]["podTemplate"]["volumes"]["secrets"] == entries


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"secretName": "Warehouse", "mountPath": "/secrets/w"}, "DNS-1123"),
        ({"secretName": "w_1", "mountPath": "/secrets/w"}, "DNS-1123"),
        ({"secretName": "a" * 254, "mountPath": "/secrets/w"}, "DNS-1123"),
        ({"secretName": "w", "mountPath": "secrets/w"}, "mountPath"),
        ({"secretName": "w", "mountPath": "//secrets"}, "mountPath"),
        ({"secretName": "w", "mountPath": "/"}, "mountPath"),
        ({"secretName": "w", "mountPath": "/s", "defaultMode": 512}, "defaultMode"),
        ({"secretName": "w", "mountPath": "/s", "defaultMode": -1}, "defaultMode"),
        ({"secretName": "w", "mountPath": "/s", "defaultMode": True}, "defaultMode"),
        ({"secretName": "w", "mountPath": "/s", "readOnly": True}, "unknown field"),
        ({"mountPath": "/s"}, "secretName"),
    ],
)
def test_what_the_crd_refuses(entry: dict[str, Any], message: str) -> None:
    problems = check_secret_entries([entry])
    assert any(message in p for p in problems), problems
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([entry], SECRETS_LIST_SCHEMA)


def test_the_list_is_keyed_by_mount_path() -> None:
    entries = [SecretMount("a", "/secrets/x"), SecretMount("b", "/secrets/x")]
    jsonschema.validate([e.entry() for e in entries], SECRETS_LIST_SCHEMA)  # the schema alone cannot see it
    with pytest.raises(WorkspaceError, match="used twice"):
        secret_volumes(entries)
    # The same Secret twice at two paths is allowed (like data PVCs).
    valid(secret_volumes([SecretMount("a", "/secrets/x"), SecretMount("a", "/secrets/y")]))


def test_which_workspaces_mount_each_secret() -> None:
    listing = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "WorkspaceList",
        "items": [
            workspace("team-a", "analysis", [{"secretName": "warehouse", "mountPath": "/secrets/warehouse"}]),
            workspace(
                "team-a",
                "etl",
                [
                    {"secretName": "warehouse", "mountPath": "/data/creds", "defaultMode": 0o400},
                    {"secretName": "aws", "mountPath": "/secrets/aws"},
                ],
            ),
            workspace("team-b", "other", [{"secretName": "warehouse", "mountPath": "/secrets/warehouse"}]),
            workspace("team-b", "plain", []),
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "not-a-workspace"}},
        ],
    }
    found = workspaces_by_secret(listing)
    assert list(found) == [("team-a", "aws"), ("team-a", "warehouse"), ("team-b", "warehouse")]
    assert [(m.workspace, m.mount_path, m.default_mode) for m in found[("team-a", "warehouse")]] == [
        ("analysis", "/secrets/warehouse", None),
        ("etl", "/data/creds", 0o400),
    ]
    assert [m.workspace for m in found[("team-b", "warehouse")]] == ["other"]
    assert workspaces_by_secret(listing["items"]) == found
    assert workspaces_by_secret(listing["items"][0]) == {
        ("team-a", "warehouse"): found[("team-a", "warehouse")][:1]
    }


def test_cli_volumes_emits_valid_entries() -> None:
    result = runner.invoke(
        app,
        [
            "kube",
            "kubeflow",
            "volumes",
            "--secret",
            "warehouse",
            "--secret",
            "aws:/opt/aws",
            "--default-mode",
            "0400",
        ],
    )
    assert result.exit_code == 0, result.output
    entries = yaml.safe_load(result.stdout)
    valid(entries)
    assert entries[1] == {"secretName": "aws", "mountPath": "/opt/aws", "defaultMode": 0o400}
    result = runner.invoke(
        app, ["kube", "kubeflow", "volumes", "--secret", "warehouse", "--patch", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    valid(json.loads(result.stdout)["spec"]["podTemplate"]["volumes"]["secrets"])
    # A JSON patch appends each entry (deploy/README.md; applied to Kubeflow's sample in test_deploy.py).
    result = runner.invoke(
        app, ["kube", "kubeflow", "volumes", "--secret", "warehouse", "--secret", "aws", "--json-patch"]
    )
    assert result.exit_code == 0, result.output
    ops = json.loads(result.stdout)
    assert [(o["op"], o["path"]) for o in ops] == [("add", "/spec/podTemplate/volumes/secrets/-")] * 2
    valid([o["value"] for o in ops])


@pytest.mark.parametrize(
    "args",
    [
        ["--secret", "Bad_Name"],
        ["--secret", "a:/x", "--secret", "b:/x"],
        ["--secret", "a", "--default-mode", "0999"],
        ["--secret", "a", "--default-mode", "1777"],
        ["--secret", "a", "--format", "xml"],
        ["--secret", "a", "--patch", "--json-patch"],
    ],
)
def test_cli_volumes_refuses_what_the_crd_would(args: list[str]) -> None:
    result = runner.invoke(app, ["kube", "kubeflow", "volumes", *args])
    assert result.exit_code == 1
    assert "error:" in result.output


def test_cli_mounts_reads_kubectl_output(tmp_path: Path) -> None:
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            workspace("team-a", "analysis", [{"secretName": "warehouse", "mountPath": "/secrets/warehouse"}]),
            workspace("team-a", "etl", [{"secretName": "warehouse", "mountPath": "/data/creds"}]),
        ],
    }
    path = tmp_path / "workspaces.yaml"
    path.write_text(yaml.safe_dump(listing))
    result = runner.invoke(app, ["kube", "kubeflow", "mounts", "-f", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "namespace": "team-a",
            "secret": "warehouse",
            "workspaces": [
                {"name": "analysis", "mountPath": "/secrets/warehouse", "defaultMode": None},
                {"name": "etl", "mountPath": "/data/creds", "defaultMode": None},
            ],
        }
    ]
    table = runner.invoke(app, ["kube", "kubeflow", "mounts", "-f", str(path)])
    assert table.exit_code == 0
    assert "etl" in table.stdout and "/data/creds" in table.stdout
