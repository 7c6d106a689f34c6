"""`sealbox scan --move`'s rewriting, without a server: a literal that is the whole value becomes
get_secret("NAME"), a value inside a longer literal an f-string, the import is added once, the result
parses and holds the value nowhere; otherwise the file is left as it was and the reason given."""

from __future__ import annotations

import ast
import json

from sealbox.scan import Ref
from sealbox.scan.python import f_string, rewrite
from sealbox.scan.rewrite import edit_notebook, edit_script
from tests.support.planted import notebook, plants

TOKEN = "ghp_" + "x1Y2z3" * 6
REFS = {TOKEN: Ref(name="gh")}


def test_a_whole_literal_becomes_get_secret_and_the_import_follows_the_docstring() -> None:
    text = f'"""Train."""\nfrom __future__ import annotations\n\nimport os\ntoken = \'{TOKEN}\'\n'
    new = rewrite(text, REFS, add_import=True).text
    assert new == (
        '"""Train."""\nfrom __future__ import annotations\nfrom sealbox import get_secret\n\n'
        'import os\ntoken = get_secret("gh")\n'
    )


def test_a_value_inside_a_longer_literal_becomes_an_f_string_that_evaluates_to_the_same_text() -> None:
    password = "p{a}ss\"wo'rd\\x"  # pragma: allowlist secret
    url = f"postgresql://analyst:{password}@db:5432/sales?note={{braces}}\n"
    made = f_string(url, {password: Ref(name="db", field="password")})
    assert password not in made
    tree = ast.parse(made, mode="eval")
    assert isinstance(tree.body, ast.JoinedStr)
    value = eval(  # noqa: S307  # the f-string just made, with get_secret returning the value
        compile(tree, "<test>", "eval"),
        {"get_secret": lambda name, field=None: password if (name, field) == ("db", "password") else None},
    )
    assert value == url


def test_the_import_is_not_added_twice_and_magics_do_not_stop_a_cell() -> None:
    text = f"%pip install boto3\n!ls\nfrom sealbox import get_secret\nt = r'{TOKEN}'\n"
    new = rewrite(text, REFS, add_import=True).text
    assert new == '%pip install boto3\n!ls\nfrom sealbox import get_secret\nt = get_secret("gh")\n'


def test_a_value_also_in_a_comment_or_bytes_leaves_the_code_unchanged() -> None:
    for text in (f"t = '{TOKEN}'  # was {TOKEN}\n", f"t = '{TOKEN}'\nb = b'{TOKEN}'\n", f"t = f'{TOKEN}'\n"):
        result = rewrite(text, REFS, add_import=True)
        assert result.text is None and "outside a plain string" in result.reason
    broken = rewrite(f"t = '{TOKEN}'\nif x\n", REFS, add_import=True)
    assert broken.text is None and broken.reason == "the rewritten code would not parse"
    assert rewrite("%%bash\necho hi\n", REFS, add_import=True).text == "%%bash\necho hi\n"


def test_a_notebook_is_rewritten_and_outputs_holding_the_value_are_cleared() -> None:
    pem = plants()[-1].value
    refs = {TOKEN: Ref(name="gh"), pem: Ref(name="key")}
    nb = notebook(
        [
            ("import os", "fine output"),
            (
                f"headers = {{'Authorization': 'token {TOKEN}'}}\nprint(headers)",
                f"{{'Authorization': 'token {TOKEN}'}}",
            ),
            (f"key = {pem!r}", None),
            ("print(1)", "1"),
        ]
    )
    nb["cells"][1]["outputs"].append(
        {"output_type": "execute_result", "data": {"text/plain": "2"}, "metadata": {}}
    )
    edited = edit_notebook(json.dumps(nb), refs)
    assert edited.problems == [] and edited.text is not None
    assert (edited.cells, edited.outputs_cleared) == (2, 1)
    assert TOKEN not in edited.text and pem not in edited.text and json.dumps(pem)[1:-1] not in edited.text
    cells = json.loads(edited.text)["cells"]
    sources = ["".join(c["source"]) for c in cells]
    assert sources[1] == (
        "from sealbox import get_secret\n"
        "headers = {'Authorization': f\"token {get_secret('gh')}\"}\nprint(headers)"
    )
    assert sources[2] == 'key = get_secret("key")'  # the import is in an earlier cell
    assert [len(c["outputs"]) for c in cells] == [1, 1, 0, 1]
    assert cells[1]["outputs"][0]["data"] == {"text/plain": "2"}
    for source in sources:
        ast.parse(source)


def test_a_notebook_with_a_cell_that_cannot_be_rewritten_is_left_whole() -> None:
    nb = notebook([(f"a = '{TOKEN}'", None), (f"# {TOKEN}\nb = 1", None)])
    nb["cells"].append(
        {"cell_type": "markdown", "id": "m", "metadata": {}, "source": [f"the token: {TOKEN}"]}
    )
    edited = edit_notebook(json.dumps(nb), REFS)
    assert edited.text is None
    assert edited.problems == [
        "cell 2: the value is also outside a plain string (a comment, bytes or an f-string)",
        "cell 3: a markdown cell holds it: edit by hand",
    ]


def test_a_script_is_rewritten_or_left() -> None:
    assert (
        edit_script(f"T = '{TOKEN}'\n", REFS).text == 'from sealbox import get_secret\nT = get_secret("gh")\n'
    )
    assert edit_script(f"T = '{TOKEN}'  # {TOKEN}\n", REFS).text is None
