"""The JupyterHub choice of secrets, on its own (no hub): the form's HTML, form and query data, checks."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from sealbox.errors import OptionsError
from sealbox.integrations.jupyterhub.options import (
    Selection,
    UsableSecret,
    from_form,
    parse,
    render_form,
)

HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_form_escapes_everything_from_sealbox_and_the_user() -> None:
    usable = [
        UsableSecret(ref="db_password", kind="generic", description=HOSTILE),
        UsableSecret(ref="bob/aws", kind="aws" + HOSTILE, description="team <keys>"),
    ]
    chosen = parse({"sealbox": {"secrets": [{"name": "db_password", "file": "db.txt", "env": "DB"}]}})
    html = render_form(usable, chosen=chosen)
    tags = _tags(html)
    assert {t for t, _ in tags} <= {
        "fieldset",
        "legend",
        "p",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "input",
        "label",
        "code",
        "select",
        "option",
    }
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html
    boxes = [a for t, a in tags if t == "input" and a.get("type") == "checkbox"]
    assert [(b["value"], "checked" in b) for b in boxes] == [("db_password", True), ("bob/aws", False)]
    values = {a.get("name"): a.get("value") for t, a in tags if t == "input"}
    assert values["sealbox_file_0"] == "db.txt" and values["sealbox_env_0"] == "DB"
    assert values["sealbox_mount_path"] == "/secrets"


def test_form_data_becomes_user_options_by_row() -> None:
    form = {
        "sealbox_secret": ["bob/aws", "db_password"],
        "sealbox_ref_0": ["db_password"],
        "sealbox_ref_1": ["bob/aws"],
        "sealbox_ref_2": ["unticked"],
        "sealbox_file_0": ["db.txt"],
        "sealbox_env_0": [""],
        "sealbox_file_1": [""],
        "sealbox_env_1": ["AWS_SECRET_ACCESS_KEY"],
        "sealbox_field_1": ["secret_access_key"],
        "sealbox_field_0": ["ignored: no variable"],
        "sealbox_file_2": ["ignored"],
        "sealbox_mount_path": ["/work/secrets"],
    }
    options = from_form(form)
    assert options == {
        "sealbox": {
            "secrets": [
                {
                    "name": "bob/aws",
                    "file": None,
                    "env": "AWS_SECRET_ACCESS_KEY",
                    "field": "secret_access_key",
                },
                {"name": "db_password", "file": "db.txt", "env": None},
            ],
            "mount_path": "/work/secrets",
        }
    }
    selection = parse(options)
    assert isinstance(selection, Selection) and selection.mount_path == "/work/secrets"
    # The file holds the whole secret; the variable, the one field (a typed secret's variable needs one).
    assert [(m.secret, m.field, m.file, m.env) for c in selection.choices for m in c.mappings()] == [
        ("bob/aws", None, "aws", None),
        ("bob/aws", "secret_access_key", None, "AWS_SECRET_ACCESS_KEY"),
        ("db_password", None, "db.txt", None),
    ]
    assert parse(selection.to_user_options()) == selection


def test_a_typed_secrets_row_offers_its_fields_for_the_variable() -> None:
    usable = [
        UsableSecret(ref="bob/aws", kind="aws", description=""),
        UsableSecret(ref="db", kind="generic", description=""),
    ]
    chosen = parse(
        {"sealbox": {"secrets": [{"name": "bob/aws", "env": "AWS_REGION", "field": "region"}, "db"]}}
    )
    tags = _tags(render_form(usable, chosen=chosen))
    selects = [a for t, a in tags if t == "select" and str(a["name"]).startswith("sealbox_field_")]
    assert [s["name"] for s in selects] == ["sealbox_field_0"]  # the aws row only
    after = tags[tags.index(("select", selects[0])) + 1 :]
    field_options = after[: [t for t, _ in after].index("select")]  # up to the row's format select
    options = [(a["value"], "selected" in a) for t, a in field_options if t == "option"]
    assert options == [
        ("access_key_id", False),
        ("secret_access_key", False),
        ("session_token", False),
        ("region", True),
    ]
    # Where variables are not delivered (KubeSpawner), neither the variable nor the field is asked for (the
    # client format is: its variables are paths, set in the pod's spec).
    kube = [a["name"] for t, a in _tags(render_form(usable, allow_env=False)) if t in ("select", "input")]
    assert not any(str(n).startswith(("sealbox_field_", "sealbox_env_")) for n in kube)
    assert "sealbox_as_0" in kube


def test_a_secret_may_be_written_in_its_clients_format() -> None:
    """`sealbox run --as` in the form, the link and user_options: a row offers the formats of its kind (none
    for a generic secret), the choice travels by row and round-trips through user_options."""
    usable = [
        UsableSecret(ref="bob/aws", kind="aws", description=""),
        UsableSecret(ref="db", kind="generic", description=""),
        UsableSecret(ref="gh", kind="token", description=""),
    ]
    chosen = parse({"sealbox": {"secrets": [{"name": "bob/aws", "as": "aws-process"}, "db"]}})
    assert chosen is not None and chosen.formats() == {"aws": "aws-process"}
    tags = _tags(render_form(usable, chosen=chosen))
    formats = [a["name"] for t, a in tags if t == "select" and str(a["name"]).startswith("sealbox_as_")]
    assert formats == ["sealbox_as_0", "sealbox_as_2"]  # not the generic row
    options = [(a["value"], "selected" in a) for t, a in tags if t == "option"]
    assert ("", False) in options and ("aws-process", True) in options and ("git", False) in options
    assert not any(value in ("pgpass", "ssh") for value, _ in options)  # neither an aws nor a token format

    form = {"sealbox_secret": ["gh", "db"], "sealbox_ref_2": ["gh"], "sealbox_ref_1": ["db"]}
    options_in = from_form({**form, "sealbox_as_2": ["git"], "sealbox_as_1": [""]})
    assert options_in["sealbox"]["secrets"] == [
        {"name": "gh", "file": None, "env": None, "as": "git"},
        {"name": "db", "file": None, "env": None},
    ]
    link = from_form({"sealbox_secret": ["gh"], "sealbox_file_0": ["github"], "sealbox_as_0": ["netrc"]})
    selection = parse(link)
    assert selection is not None and selection.formats() == {"github": "netrc"}
    assert parse(selection.to_user_options()) == selection


def test_a_link_with_repeated_names_and_opt_prefix() -> None:
    legacy = from_form({"sealbox_secret": ["a", "bob/b"], "sealbox_file_1": ["b.txt"]})
    prefixed = from_form({"opt-sealbox_secret": ["a", "bob/b"], "opt-sealbox_file_1": ["b.txt"]})
    assert legacy == prefixed
    selection = parse(legacy)
    assert selection is not None
    assert [(c.secret, c.file) for c in selection.choices] == [("a", None), ("bob/b", "b.txt")]
    assert parse(from_form({})) is None and parse({}) is None


@pytest.mark.parametrize(
    "raw",
    [
        "db",
        {"secrets": "db"},
        {"secrets": [1]},
        {"secrets": [{"name": "db", "other": 1}]},
        {"secrets": [{"file": "x"}]},
        {"secrets": ["../db"]},
        {"secrets": ["db"], "mount_path": "relative"},
        {"secrets": ["db"], "mount_path": "/a/../b"},
        {"secrets": ["db"], "mount_path": "/"},
        {"secrets": [{"name": "db", "file": "a/b"}]},
        {"secrets": [{"name": "db", "env": "PATH"}]},
        {"secrets": [{"name": "db", "env": "SEALBOX_X"}]},
        {"secrets": ["db", "alice/db"]},  # the same file twice
        {"secrets": ["db"] * 501},
        {"secrets": ["x" * 300]},
        {"secrets": ["db"], "extra": True},
        {"secrets": [{"name": "bob/aws", "field": "region"}]},  # a field is for a variable: env too
        {"secrets": [{"name": "bob/aws", "env": "R", "field": "x" * 300}]},
        {"secrets": [{"name": "bob/aws", "as": "../aws"}]},  # not a format
        {"secrets": [{"name": "bob/aws", "as": "x" * 300}]},
    ],
)
def test_bad_choices_are_refused_without_echoing_them(raw: Any) -> None:
    with pytest.raises(OptionsError) as refused:
        parse({"sealbox": raw})
    assert "../" not in str(refused.value) and "x" * 300 not in str(refused.value)


def test_the_operators_install_list_is_a_pip_extra() -> None:
    """docs/jupyterhub.md tells the operator `pip install 'sealbox[jupyterhub]'`: the extra exists and
    holds what the hub and its servers import (ahocorasick-rs: the output redaction the spawners enable)."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=;\[ ]", req, maxsplit=1)[0] for req in extras["jupyterhub"]}
    assert names == {"jupyterhub", "jupyter_server", "ipykernel", "ahocorasick-rs"}
    docs = (root / "docs" / "jupyterhub.md").read_text()
    assert "pip install 'sealbox[jupyterhub]'" in docs and "configurable-http-proxy" in docs


# --- TEST-PLAN T29: the variable rule through the form, the link and user_options ---------------------


def _through_every_hub_input(name: str) -> list[dict[str, Any]]:
    """The same choice as the spawn form posts it, as a link carries it (both query styles), and as a
    REST client sends `user_options`."""
    form = {"sealbox_secret": ["alice/shared"], "sealbox_ref_0": ["alice/shared"], "sealbox_env_0": [name]}
    link = {"sealbox_secret": ["alice/shared"], "sealbox_env_0": [name]}
    new_style = {f"opt-{k}": v for k, v in link.items()}
    rest = {"sealbox": {"secrets": [{"name": "alice/shared", "file": "shared", "env": name}]}}
    return [from_form(form), from_form(link), from_form(new_style), rest]


def test_every_dangerous_variable_is_refused_by_the_hub() -> None:
    from tests.support.env_names import DANGEROUS

    for name in DANGEROUS:
        for options in _through_every_hub_input(name):
            with pytest.raises(OptionsError) as info:
                parse(options)
            assert "reserved" in str(info.value) and name not in str(info.value), name


def test_every_ordinary_variable_is_accepted_by_the_hub() -> None:
    from tests.support.env_names import ORDINARY

    for name in ORDINARY:
        for options in _through_every_hub_input(name):
            selection = parse(options)
            assert selection is not None and selection.choices[0].env == name
