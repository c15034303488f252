"""`co.util`, as Conducto scripts used it: `magic_doc` (in a script and in a notebook cell),
`env_bool`, and the node-folder makers `mkdirs`, `makenestednodes`, `makeyyyymmnodes`,
`makedatenodes`."""

from __future__ import annotations

import datetime
import linecache
import textwrap
from typing import Any

import pytest

import conducto_nb as co
from conducto_nb.shared.log import unindent

SCRIPT = '''\
"""Nightly jobs for the warehouse."""
import conducto_nb as co


def load(table: str) -> co.Serial:
    """
    Load one table.

    It is copied, then checked.
    """

    with co.Serial(doc=co.util.magic_doc()) as node:
        co.Exec(f"copy {table}", name="copy")
    return node


def undocumented() -> co.Exec:
    return co.Exec("true", doc=co.util.magic_doc())


# Clean the staging area.
#   Runs before every load.
def clean() -> co.Exec:
    # Say how the folder is emptied:
    # rm, not a move.
    x = 1
    return co.Exec("rm -rf staging", doc=co.util.magic_doc(comment=True))
'''


def run_cell(source: str, filename: str) -> dict[str, Any]:
    """Run `source` as IPython runs a cell: its lines are in `linecache` under `filename`."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


@pytest.fixture
def script() -> dict[str, Any]:
    return run_cell(SCRIPT, "/tmp/ipykernel_1/cell-1.py")


def test_magic_doc_is_the_docstring_then_the_code_without_it(script: dict[str, Any]) -> None:
    doc = script["load"]("orders").doc
    body = textwrap.dedent("""\
        def load(table: str) -> co.Serial:
            with co.Serial(doc=co.util.magic_doc()) as node:
                co.Exec(f"copy {table}", name="copy")
            return node""")
    assert doc == f"Load one table.\n\nIt is copied, then checked.\n\n```python\n{body}\n```"


def test_magic_doc_without_a_docstring_uses_the_module_docstring(tmp_path: Any) -> None:
    path = tmp_path / "pipeline.py"
    path.write_text(SCRIPT)
    doc = run_cell(SCRIPT, str(path))["undocumented"]().doc
    assert doc.startswith("Nightly jobs for the warehouse.\n\n```python\ndef undocumented()")


def test_magic_doc_in_a_notebook_without_a_docstring_is_the_code(script: dict[str, Any]) -> None:
    doc = script["undocumented"]().doc
    assert doc.startswith("```python\ndef undocumented()")  # not IPython's module text


def test_magic_doc_comment_is_the_comment_block_above_the_call(script: dict[str, Any]) -> None:
    assert script["clean"]().doc == "Say how the folder is emptied:\nrm, not a move."


def test_magic_doc_of_a_given_function(script: dict[str, Any]) -> None:
    load = script["load"]
    assert co.util.magic_doc(func=load, doc_only=True) == (
        "Load one table.\n\nIt is copied, then checked."
    )
    assert co.util.magic_doc(func=script["clean"], comment=True) == (
        "Clean the staging area.\nRuns before every load."
    )


def test_magic_doc_works_in_a_file_and_is_shown_in_the_node_params(tmp_path: Any) -> None:
    path = tmp_path / "pipeline.py"
    path.write_text(SCRIPT)
    namespace = run_cell(path.read_text(), str(path))
    node = namespace["load"]("users")
    assert node.params["doc"].value.startswith("Load one table.")
    assert "Load one table." in repr(node.params)


def test_magic_doc_outside_a_function_says_what_to_do() -> None:
    with pytest.raises(co.ParameterError, match="call it inside one, or pass func="):
        run_cell("import conducto_nb as co\nco.util.magic_doc()\n", "/tmp/ipykernel_1/c2.py")


def test_unindent_is_importable_where_conductos_ci_demo_imported_it() -> None:
    from conducto_nb.shared import log

    assert log.unindent is unindent
    assert unindent("\n    set -ex\n      make\n    ") == "set -ex\n  make"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(None, False), ("", False), ("0", False), ("false", False), ("F", False)],
        *[("none", False), ("n", False), ("0.0", False)],
        *[("1", True), ("true", True), ("yes", True), ("x", True)],
    ],
)
def test_env_bool_reads_flags_as_conducto_did(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("CO_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("CO_TEST_FLAG", value)
    assert co.env_bool("CO_TEST_FLAG") is expected
    assert co.util.env_bool is co.env_bool


def test_mkdirs_makes_the_missing_folders_once() -> None:
    root = co.Serial()
    leaf = co.util.mkdirs(root, "a/b/c")
    assert leaf.path == "/a/b/c" and isinstance(leaf, co.Parallel)
    assert co.util.mkdirs(root, "a/b", nodeType=co.Serial) is root["a/b"]
    assert isinstance(co.util.mkdirs(root, "a/x", nodeType=co.Serial), co.Serial)
    assert co.util.mkdirs(root, "") is root


def test_mkdirs_inside_a_with_block_builds_only_where_it_is_told() -> None:
    with co.Serial() as root, co.Parallel(name="months") as months:
        co.util.mkdirs(months, "2020/01")
    assert [n.path for n in root.walk()] == ["/", "/months", "/months/2020", "/months/2020/01"]


def test_makedatenodes_one_node_per_date_when_few() -> None:
    root = co.Parallel()
    dates = [datetime.date(2020, 3, d) for d in (2, 1, 3)]
    for node, date in co.util.makedatenodes(root, dates):
        node[str(date)] = co.Exec(f"load {date}")
    assert list(root.children) == ["2020-03-03", "2020-03-02", "2020-03-01"]  # newest first


def test_makedatenodes_groups_by_month_then_by_year() -> None:
    root = co.Parallel()
    days = [datetime.date(2020, 1, 1) + datetime.timedelta(days=i) for i in range(40)]
    made = [(node.path, date) for node, date in co.util.makedatenodes(root, days)]
    assert made[0] == ("/2020-02", datetime.date(2020, 2, 9))
    assert list(root.children) == ["2020-02", "2020-01"]
    root = co.Parallel()
    months = [datetime.date(2019, m, 1) for m in range(1, 13)]
    for node, date in co.util.makedatenodes(root, months, makeLeafNode=True, reverse=False):
        assert node.path == f"/2019/{str(date)[:7]}/{date}"


def test_makeyyyymmnodes_groups_by_year_from_ten_months() -> None:
    root = co.Serial()
    pairs = list(co.util.makeyyyymmnodes(root, [201912, 202001, 202002], makeLeafNode=True))
    assert [(n.path, v) for n, v in pairs] == [
        ("/202002", 202002),
        ("/202001", 202001),
        ("/201912", 201912),
    ]
    root = co.Serial()
    months = [201901 + i for i in range(12)]
    for node, month in co.util.makeyyyymmnodes(root, months):
        node[str(month)] = co.Exec(f"report {month}")
    assert list(root.children) == ["2019"] and len(root["2019"].children) == 12


def test_makenestednodes_with_its_own_path_function() -> None:
    root = co.Serial()

    def by_letter(_i: int, word: str, _all: Any) -> str:
        return f"{word[0]}/{word}"

    for node, word in co.util.makenestednodes(root, ["beta", "alpha", "bravo"], by_letter):
        node[word] = co.Exec(f"echo {word}")
    assert [n.path for n in root.walk() if n.kind == "exec"] == [
        "/a/alpha",
        "/b/beta",
        "/b/bravo",
    ]


def test_magic_doc_in_a_real_ipython_cell() -> None:
    globalipapp = pytest.importorskip("IPython.testing.globalipapp")
    globalipapp.start_ipython()  # the one shell of this process (the debug tests' too)
    shell = globalipapp.get_ipython()
    result = shell.run_cell(
        "import conducto_nb as co\n"
        "def report(day: str) -> co.Exec:\n"
        '    """Build the daily report."""\n'
        '    return co.Exec(f"echo {day}", doc=co.util.magic_doc())\n'
        'node = report("mon")\n'
    )
    assert result.success, result.error_in_exec
    assert shell.user_ns["node"].doc == (
        "Build the daily report.\n\n```python\ndef report(day: str) -> co.Exec:\n"
        '    return co.Exec(f"echo {day}", doc=co.util.magic_doc())\n```'
    )


def test_magic_doc_in_a_cell_function_that_a_lazy_node_runs_in_a_worker() -> None:
    cell = textwrap.dedent('''\
        import conducto_nb as co

        def shards(n: int) -> co.Parallel:
            """Split the work in n shards."""
            with co.Parallel(doc=co.util.magic_doc(doc_only=True)) as p:
                for i in range(n):
                    co.Exec(f"echo {i}", name=f"s{i}")
            return p
        ''')
    namespace = run_cell(cell, "/tmp/ipykernel_1/cell-lazy.py")
    with co.Serial() as root:
        co.Lazy(namespace["shards"], 2, name="gen")
    run = root.run(backend="local")
    assert run.state is co.State.DONE, run["/gen/Generate"].stderr
    assert run.tree["/gen/Execute"].doc == "Split the work in n shards."
