"""`.conducto.cfg` reading: sections, filters, substitution, and errors that name file and line.

No git here: tests/test_git_events.py runs the same files against real repositories.
"""

from __future__ import annotations

import json
import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import conducto_nb as co
from conducto_nb.events.cfg import VARIABLES, parse
from conducto_nb.events.filter import FilterError, parse_filter
from conducto_nb.events.variables import substitute

VALUES = {
    "branch": "main",
    "sha": "0" * 40,
    "repo": "demo",
    "pr": "",
    "base_branch": "",
    "tag": "",
    "author": "Ada",
}


def argvs(text: str, event: str = "push", **values: str) -> list[list[str]]:
    """The argv of every section that would run for `event`, in order."""
    return [list(s.argv) for s in parse(text).plan(event, VALUES | values) if s.matches]


def test_sections_are_events_with_optional_labels_and_keep_file_order() -> None:
    cfg = parse(
        "[pr test]\ncommand = pytest {pr}\n\n"
        "[push]\ncommand = make\n\n"
        "[pr  lint]\ncommand = ruff check .\n"
    )
    assert [(s.event, s.label, s.name, s.line) for s in cfg.sections] == [
        ("pr", "test", "[pr test]", 1),
        ("push", "", "[push]", 4),
        ("pr", "lint", "[pr lint]", 7),
    ]
    assert argvs("[pr a]\ncommand = pytest {pr}\n[pr b]\ncommand = ruff", "pr", pr="12") == [
        ["pytest", "12"],
        ["ruff"],
    ]


def test_keys_before_any_section_mean_push() -> None:
    cfg = parse("# the whole file\ncommand = make ci BRANCH={branch}\n\n[pr]\ncommand = make pr\n")
    assert [(s.event, s.line) for s in cfg.sections] == [("push", 2), ("pr", 4)]
    assert argvs("command = make ci BRANCH={branch}\n") == [["make", "ci", "BRANCH=main"]]


def test_multi_line_commands_and_colon_keys_read_as_configparser_does() -> None:
    text = "[push]\ncommand: python run.py\n    --branch={branch}\n    --fast\n"
    assert argvs(text) == [["python", "run.py", "--branch=main", "--fast"]]


def test_every_labelled_section_whose_filter_matches_runs_in_file_order() -> None:
    text = """
[push a]
command = echo a
filter = {branch} == main
[push b]
command = echo b
filter = {branch} == feat
[push c]
command = echo c
[pr d]
command = echo d
"""
    assert argvs(text, branch="main") == [["echo", "a"], ["echo", "c"]]
    assert argvs(text, branch="feat") == [["echo", "b"], ["echo", "c"]]
    steps = parse(text).plan("push", VALUES | {"branch": "other"})
    assert [(s.section.label, s.matches) for s in steps] == [
        ("a", False),
        ("b", False),
        ("c", True),
    ]
    assert argvs(text, "create-tag") == []


@pytest.mark.parametrize(
    ("expr", "true_for", "false_for"),
    [
        ("{branch} == main", ["main"], ["mainline", "Main", "x/main"]),
        ("{branch} != main", ["dev"], ["main"]),
        ("{branch} == release/*", ["release/1.0", "release/"], ["release", "hotfix/release/1"]),
        ("{branch} == 'feat-??'", ["feat-12"], ["feat-1", "feat-123"]),
        ('{branch} == "v[0-9]*"', ["v1", "v9.2"], ["va", "V1"]),
        ("{branch} == [!d]*", ["main"], ["dev"]),
        ("!{branch} == main", ["dev"], ["main"]),
        ("!({branch} == main)", ["dev"], ["main"]),
        ("!!({branch} == main)", ["main"], ["dev"]),
        # && binds tighter than ||: a || (b && c)
        ("{branch} == a || {branch} == b && {author} == bot", ["a", "b/bot"], ["b", "c/bot"]),
        ("({branch} == a || {branch} == b) && {author} == bot", ["a/bot", "b/bot"], ["a", "c/bot"]),
        ("{branch} == main && !({author} == bot)", ["main"], ["main/bot", "dev"]),
        ("{branch}==main&&{author}!=bot", ["main"], ["main/bot"]),
    ],
)
def test_filters_globs_precedence_parentheses_negation(
    expr: str, true_for: list[str], false_for: list[str]
) -> None:
    """Each case is a branch, or `branch/author`."""
    flt = parse_filter(expr, VARIABLES)

    def matches(case: str) -> bool:
        branch, _, author = case.partition("/") if case.endswith("/bot") else (case, "", "ada")
        return flt.matches({"branch": branch, "author": author})

    assert [matches(c) for c in true_for] == [True] * len(true_for)
    assert [matches(c) for c in false_for] == [False] * len(false_for)


def test_a_variable_on_the_right_is_compared_literally_never_as_a_glob() -> None:
    flt = parse_filter("{branch} == {base_branch}", VARIABLES)
    assert flt.matches({"branch": "dev", "base_branch": "dev"})
    assert not flt.matches({"branch": "dev", "base_branch": "d*"})
    assert parse_filter("{branch} == d*", VARIABLES).matches({"branch": "dev"})


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "empty expression"),
        ("{branch}", "expected `==` or `!=`, found the end"),
        ("{branch} = main", "expected `==` or `!=`, found `=` at column 10"),
        ("({branch} == main", "expected `)`, found the end"),
        ("{branch} == main)", "unexpected `)` at column 17"),
        ("{branch} == main &&", "expected a var or a word, found the end"),
        ("{branch} == 'main", "unterminated quote at column 13"),
        ("{bad name} == x", "expected a {variable} at column 1"),
        ("{nope} == x", "unknown variable {nope}"),
    ],
)
def test_bad_filters_say_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(FilterError) as e:
        parse_filter(expr, VARIABLES)
    assert str(e.value) == message


def test_substitution_leaves_shell_braces_and_escapes_alone() -> None:
    values = {"branch": "feat"}
    assert substitute("--branch={branch}", values) == "--branch=feat"
    assert substitute("${HOME}/{branch}", values) == "${HOME}/feat"
    assert substitute("{print $1}", values) == "{print $1}"
    assert substitute("{}", values) == "{}"
    assert substitute("{{branch}}", values) == "{branch}"
    assert substitute("{a,b}{1..3}", values) == "{a,b}{1..3}"
    assert argvs("command = awk '{print $1}' ${HOME} {{sha}} {sha}") == [
        ["awk", "{print $1}", "${HOME}", "{sha}", "0" * 40]
    ]


def test_a_value_that_looks_like_a_variable_is_not_substituted_again() -> None:
    assert argvs("command = echo {branch}-{tag}", branch="{tag}", tag="{branch}") == [
        ["echo", "{tag}-{branch}"]
    ]


def test_extra_variables_from_the_command_line_are_known_only_when_given() -> None:
    text = "[push]\ncommand = deploy --to={target}\nfilter = {target} != none"
    with pytest.raises(co.ConfigError, match=r"^\.conducto\.cfg:2: unknown variable \{target\}"):
        parse(text)
    cfg = parse(text, extra=["target"])
    assert [s.argv for s in cfg.plan("push", {"target": "prod"})] == [("deploy", "--to=prod")]
    assert [s.matches for s in cfg.plan("push", {"target": "none"})] == [False]


def test_image_keys_are_converted_and_reach_the_command_as_json() -> None:
    cfg = parse(
        "[push]\ncommand = make\nimage = python:3.11-slim\nreqs_py = pytest 'ruff>=0.6'\n"
        "install_packages = git\ncopy_repo = yes\ncopy_branch = {branch}\n"
        "docker_build_args = A=1 B='x y'\n"
    )
    section = cfg.sections[0]
    assert json.loads(section.image_json(VALUES) or "") == {
        "image": "python:3.11-slim",
        "install_pip": ["pytest", "ruff>=0.6"],
        "install_packages": ["git"],
        "copy_repo": True,
        "copy_branch": "main",
        "docker_build_args": {"A": "1", "B": "x y"},
    }
    assert parse("command = make").sections[0].image_json(VALUES) is None


def test_duplicate_policy_defaults_to_suppress_new_and_accepts_any_case() -> None:
    cfg = parse("[push a]\ncommand = x\n[push b]\ncommand = y\nduplicate = allow\n")
    assert [s.duplicate for s in cfg.sections] == ["SUPPRESS_NEW", "ALLOW"]


BAD = [
    ("[push\ncommand = x", 1, "cannot read line '[push'"),
    ("[push]\ncommand = x\nthis is not a key\n", 3, "cannot read line 'this is not a key'"),
    ("[psh]\ncommand = x", 1, "unknown event 'psh' (did you mean 'push'?)"),
    ("[DEFAULT]\ncommand = x", 1, "unknown event 'DEFAULT'"),
    ("[pr-close]\ncommand = x", 1, "unknown event 'pr-close' (did you mean 'pr_close'?)"),
    ("[push]\ncommand = x\n\n[pr]\ncommnd = y", 5, "unknown key `commnd` in [pr]"),
    ("[push]\ncommand = a\n[pr]\nfilter = {pr} == 1\n", 3, "[pr] has no `command`"),
    ("# top\nfilter = {branch} == main\n", 2, "the keys before any section (a [push]) has no"),
    ("[push]\ncommand =\n", 2, "`command` is empty"),
    ("[push]\ncommand = echo 'unclosed", 2, "`command` cannot be split into arguments"),
    ("[push]\n\ncommand = echo {brnch}", 3, "unknown variable {brnch} in `command`"),
    ("[push]\ncommand = x\nimage = py:{version}", 3, "unknown variable {version} in `image`"),
    ("[push]\ncommand = x\nfilter = {branch} = main", 3, "bad filter '{branch} = main': expected"),
    ("[push]\ncommand = x\nfilter = {brnch} == main", 3, "bad filter '{brnch} == main': unknown"),
    ("[push]\ncommand = x\nfilter = ({branch} == a", 3, "expected `)`, found the end"),
    ("[push]\ncommand = x\nduplicate = KILL_OLD", 3, "bad `duplicate` 'KILL_OLD'; use one of"),
    ("[push]\ncommand = a\n[push]\ncommand = b", 3, "section [push] appears twice"),
    ("[pr a]\ncommand = a\n[pr  a]\ncommand = b", 3, "section [pr  a] appears twice"),
    ("[push]\ncommand = a\nCommand = b", 3, "key `command` appears twice in [push]"),
    ("[push]\ncommand = x\ncopy_repo = maybe", 3, "`copy_repo` must be true or false"),
    ("[push]\ncommand = x\nimage = a\ndockerfile = b", 4, "`image` and `dockerfile` cannot both"),
    ("[push]\ncommand = x\nreqs_py = a\ninstall_pip = b", 4, "`install_pip` and `install_pip`"),
    ("[push]\ncommand = x\npath_map = nope", 3, "`path_map` takes KEY=VALUE items, not 'nope'"),
    ("[push]\ncommand = x\ncopy_branch = main", 3, "`copy_branch` needs `copy_url` or"),
    ("[push]\ncommand = sh -c 'echo {branch}'", 2, "{branch} inside a `sh -c` script"),
    ("[push]\ncommand = bash -ec 'make {tag}'", 2, "{tag} inside a `bash -ec` script"),
    ("[push]\ncommand = python3 -c 'print(\"{pr}\")'", 2, "{pr} inside a `python3 -c` script"),
]


@pytest.mark.parametrize(("text", "line", "what"), BAD)
def test_every_bad_input_is_one_error_naming_file_and_line(text: str, line: int, what: str) -> None:
    with pytest.raises(co.ConfigError) as e:
        parse(text, "main:.conducto.cfg")
    assert str(e.value).startswith(f"main:.conducto.cfg:{line}: ")
    assert what in str(e.value)
    assert (e.value.filename, e.value.line) == ("main:.conducto.cfg", line)
    assert isinstance(e.value, co.PipelineError)


def test_values_after_a_shell_script_as_arguments_are_fine() -> None:
    text = "[push]\ncommand = sh -c 'echo \"$1\"' sh {branch}\n"
    assert argvs(text, branch="a;b") == [["sh", "-c", 'echo "$1"', "sh", "a;b"]]


def test_an_unknown_event_asked_of_a_config_is_an_error() -> None:
    with pytest.raises(co.ConfigError, match="unknown event 'merge'"):
        parse("command = x").plan("merge", VALUES)


# An argument template is a list of pieces: literal text, a variable, a shell `${name}` or an
# escaped `{{name}}`; values mix arbitrary text with the pieces most likely to fool a quoter.
_literal = st.text(st.characters(blacklist_characters="{}$\r\n\x00", codec="utf-8"), max_size=6)
_name = st.sampled_from(VARIABLES)
_piece = st.one_of(
    _name.map(lambda v: ("var", v)),
    _name.map(lambda v: ("shell", v)),
    _name.map(lambda v: ("escaped", v)),
    _literal.map(lambda t: ("lit", t)),
)
_arg = st.lists(_piece, min_size=1, max_size=4).filter(lambda p: p != [("lit", "")])
_TRICKY = ["{branch}", "{tag}", "{{", "}}", "${HOME}", "'", '"', "$(id)", "`id`", ";", "\n", " "]
_value = st.lists(st.one_of(st.text(max_size=4), st.sampled_from(_TRICKY)), max_size=5).map("".join)
_TEMPLATE = {"var": "{%s}", "shell": "${%s}", "escaped": "{{%s}}", "lit": "%s"}


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(_arg, min_size=1, max_size=5), st.fixed_dictionaries(dict.fromkeys(VARIABLES, _value))
)
def test_no_value_changes_the_argv_except_as_literal_text_in_its_own_argument(
    args: list[list[tuple[str, str]]], values: dict[str, str]
) -> None:
    template = ["".join(_TEMPLATE[kind] % x for kind, x in arg) for arg in args]
    expected = {"var": lambda x: values[x], "shell": "${%s}".__mod__, "escaped": "{%s}".__mod__}
    want = ["".join(expected.get(kind, str)(x) for kind, x in arg) for arg in args]
    cfg = parse("[push]\ncommand = " + shlex.join(["prog", *template]))
    (step,) = cfg.plan("push", values)
    assert list(step.argv) == ["prog", *want]
    assert shlex.split(step.display) == ["prog", *want]


@settings(max_examples=500, deadline=None)
@given(branch=_value, base=_value)
def test_a_variable_on_the_right_of_a_filter_compares_literally(branch: str, base: str) -> None:
    flt = parse_filter("{branch} == {base_branch} && !({branch} != {base_branch})", VARIABLES)
    assert flt.matches({"branch": branch, "base_branch": base}) is (branch == base)
