"""The "Start with secrets" page's command and link builder (web/start.py build), without a server.

The browser test (tests/browser/test_web_start.py) runs the built command for real; these cover what it
cannot reach in one stack: no JupyterHub configured, quoting, project-scoped secrets, names `sealbox run`
would misread.
"""

from __future__ import annotations

import shlex
from urllib.parse import parse_qs, urlsplit

from sealbox.integrations.jupyterhub.options import from_form, parse
from sealbox.server.web.start import Choice, build


def choice(ref: str, *, kind: str = "generic", project: str | None = None, **chosen: str) -> Choice:
    return Choice(
        ref=ref,
        name=ref.rpartition("/")[2],
        owner=ref.rpartition("/")[0] or "me",
        kind=kind,
        description="",
        project=project,
        multi_field=kind != "generic",
        chosen=True,
        file=chosen.get("file", ""),
        env=chosen.get("env", ""),
    )


def test_without_a_hub_there_is_a_command_and_no_link() -> None:
    started, errors = build([choice("db")], mount_path="/secrets", command="jupyter lab", hub_url=None)
    assert errors == {} and started is not None
    assert started.command == "sealbox run --secret db --mount-path /secrets -- jupyter lab"
    assert started.hub_link is None


def test_every_argument_is_quoted_for_the_shell() -> None:
    started, _ = build(
        [choice("db")],
        mount_path="/home/ada/my secrets",
        command="python -c 'print(1); print(2)'",
        hub_url=None,
    )
    assert started is not None
    argv = shlex.split(started.command)
    assert argv[argv.index("--mount-path") + 1] == "/home/ada/my secrets"
    assert argv[argv.index("--") + 1 :] == ["python", "-c", "print(1); print(2)"]


def test_the_hub_link_is_what_the_hubs_module_reads() -> None:
    started, _ = build(
        [choice("a"), choice("bo/b")],
        mount_path="/work/s",
        command="bash",
        hub_url="https://hub.example.org/",
    )
    assert started is not None
    assert started.hub_link == (
        "https://hub.example.org/hub/spawn?sealbox_secret=a&sealbox_secret=bo/b&sealbox_mount_path=/work/s"
    )
    # File names and variables follow, as the JupyterHub module's link reader takes them.
    started, _ = build(
        [choice("a", file="x", env="A_VAR"), choice("bo/b", file="b.json")],
        mount_path="/secrets",
        command="bash",
        hub_url="https://hub.example.org",
    )
    assert started is not None and started.hub_link is not None
    url = urlsplit(started.hub_link)
    assert url.path == "/hub/spawn"
    assert from_form(parse_qs(url.query)) == {
        "sealbox": {
            "secrets": [
                {"name": "a", "file": "x", "env": "A_VAR"},
                {"name": "bo/b", "file": "b.json", "env": None},
            ],
            "mount_path": "/secrets",
        }
    }


def test_a_project_goes_into_the_command_and_two_projects_are_refused() -> None:
    started, _ = build([choice("a", project="p1")], mount_path="/s", command="bash", hub_url=None)
    assert started is not None and started.command.endswith("--project p1 -- bash")
    started, errors = build(
        [choice("a", project="p1"), choice("b", project="p2")], mount_path="/s", command="bash", hub_url=None
    )
    assert started is None and "different projects" in errors["secrets"]


def test_refused_rows_say_why() -> None:
    rows = [choice("x.password"), choice("dw", kind="database", env="DW")]
    started, errors = build(rows, mount_path="/s", command="bash", hub_url=None)
    assert started is None and errors["secrets"] == "correct the marked secrets"
    assert "field" in rows[0].errors[0] and "variable takes one field" in rows[1].errors[0]


def test_the_start_page_refuses_every_dangerous_variable_and_keeps_ordinary_ones() -> None:
    """TEST-PLAN T29 through the web page's builder: the same rule as the API and the CLI."""
    from tests.support.env_names import DANGEROUS, ORDINARY

    for name in DANGEROUS:
        row = choice("alice/shared", env=name)
        started, errors = build([row], mount_path="/secrets", command="jupyter lab", hub_url=None)
        assert started is None and errors == {"secrets": "correct the marked secrets"}, name
        assert len(row.errors) == 1 and "reserved" in row.errors[0] and name not in row.errors[0]
    for name in ORDINARY:
        started, errors = build(
            [choice("alice/shared", env=name)], mount_path="/secrets", command="true", hub_url="https://hub"
        )
        assert errors == {} and started is not None, name
        assert f"--env {name}=alice/shared" in started.command
        assert started.hub_link is not None and f"sealbox_env_0={name}" in started.hub_link


def test_a_client_format_goes_after_its_secret_and_into_the_hub_link() -> None:
    aws = choice("aws-prod", kind="aws")
    aws.fmt = "aws"
    started, errors = build(
        [aws, choice("db")], mount_path="/secrets", command="python etl.py", hub_url="https://hub.example.org"
    )
    assert errors == {} and started is not None
    assert started.command == (
        "sealbox run --secret aws-prod --as aws --secret db --mount-path /secrets -- python etl.py"
    )
    assert started.hub_link is not None
    query = parse_qs(urlsplit(started.hub_link).query)
    assert query["sealbox_secret"] == ["aws-prod", "db"] and query["sealbox_as_0"] == ["aws"]
    assert "sealbox_as_1" not in query
    selection = parse(from_form(query))  # what the hub makes of the link
    assert selection is not None and selection.formats() == {"aws-prod": "aws"}


def test_a_format_the_kind_does_not_have_is_refused_without_echo() -> None:
    bad = choice("db")
    bad.fmt = "<b>pgpass-ish</b>"
    started, errors = build([bad], mount_path="/secrets", command="true", hub_url=None)
    assert started is None and errors["secrets"] == "correct the marked secrets"
    assert bad.errors == ["choose one of the formats a generic secret has: none"]
    assert choice("k", kind="ssh-key").formats == ("ssh",)
    assert choice("t", kind="token").formats == ("netrc", "git", "docker")
