"""`.conducto.cfg` reading: sections, filters, substitution, and errors that name file and line.

No git here: tests/test_git_events.py runs the same files against real repositories. Commands
are shell commands; `argvs` runs each one's script with a real `/bin/sh`, its first word turned
into an argument of `printf`, to see the exact argv it would run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import conducto_nb as co
from conducto_nb.events.cfg import VARIABLES, parse
from conducto_nb.events.filter import FilterError, parse_filter
from conducto_nb.events.variables import env_name, ref_problem, script, shown, substitute

VALUES = {
    "branch": "main",
    "sha": "0" * 40,
    "repo": "demo",
    "pr": "",
    "base_branch": "",
    "tag": "",
    "author": "Ada",
}


def sh(code: str, values: dict[str, str], home: str = "/home/someone") -> str:
    """What `/bin/sh -c code` prints, the values in its environment as the simulation puts them."""
    env = {env_name(k): v for k, v in values.items()} | {"PATH": os.defpath, "HOME": home}
    done = subprocess.run(["/bin/sh", "-c", code], env=env, capture_output=True, check=True)
    return done.stdout.decode()


def words(command_script: str, values: dict[str, str]) -> list[str]:
    """The argv a one-line shell command runs: printf shows each of its words."""
    return sh("printf '%s\\0' " + command_script, values).split("\0")[:-1]


def argvs(text: str, event: str = "push", **values: str) -> list[list[str]]:
    """The argv of every section that would run for `event`, in order."""
    steps = parse(text).plan(event, VALUES | values)
    return [words(s.script, VALUES | values) for s in steps if s.matches]


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


def test_a_multi_line_command_is_a_script_and_colon_keys_read_as_configparser_does() -> None:
    text = "[push]\ncommand: echo one {branch} # it's {pr}\n    echo two \\\n      --fast\n"
    (step,) = parse(text).plan("push", VALUES)
    assert step.script == 'echo one "${CONDUCTO_BRANCH}" # it\'s {pr}\necho two \\\n--fast'
    assert sh(step.script, VALUES) == "one main\ntwo --fast\n"


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
    assert argvs("command = awk '{print $1}' ${HOME} {{sha}} {sha} \\{branch}") == [
        ["awk", "{print $1}", "/home/someone", "{sha}", "0" * 40, "{branch}"]
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
    (step,) = cfg.plan("push", {"target": "prod"})
    assert (step.display, step.script) == ("deploy --to=prod", 'deploy --to="${CONDUCTO_TARGET}"')
    assert [s.matches for s in cfg.plan("push", {"target": "none"})] == [False]


def test_image_keys_are_converted_and_reach_the_command_as_json() -> None:
    cfg = parse(
        "[push]\ncommand = make\nimage = python:3.11-slim\nreqs_py = pytest 'ruff>=0.6'\n"
        "install_packages = git\nshell = /bin/{branch}\n"
        "docker_build_args = A=1 B='x y'\n"
    )
    section = cfg.sections[0]
    assert json.loads(section.image_json(VALUES) or "") == {
        "image": "python:3.11-slim",
        "install_pip": ["pytest", "ruff>=0.6"],
        "install_packages": ["git"],
        "shell": "/bin/main",
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
    ("[push]\ncommand = echo 'unclosed {branch}", 2, "cannot be parsed by a shell: no closing '"),
    ('[push]\ncommand = echo "{branch}', 2, '`command` cannot be parsed by a shell: no closing "'),
    ("[push]\ncommand = echo $(cat {branch}", 2, "no closing `)` for a `$(`"),
    ("[push]\ncommand = echo `cat {branch}", 2, "no closing ` for a ``"),
    ("[push]\ncommand = echo \"it's\" 'a\\'b'", 2, "no closing ' for a `'`"),
    ("[push]\n\ncommand = echo {brnch}", 3, "unknown variable {brnch} in `command`"),
    ("[push]\ncommand = x\nimage = py:{version}", 3, "unknown variable {version} in `image`"),
    ("[push]\ncommand = x\nfilter = {branch} = main", 3, "bad filter '{branch} = main': expected"),
    ("[push]\ncommand = x\nfilter = {brnch} == main", 3, "bad filter '{brnch} == main': unknown"),
    ("[push]\ncommand = x\nfilter = ({branch} == a", 3, "expected `)`, found the end"),
    ("[push]\ncommand = x\nduplicate = KILL_OLD", 3, "bad `duplicate` 'KILL_OLD'; use one of"),
    ("[push]\ncommand = a\n[push]\ncommand = b", 3, "section [push] appears twice"),
    ("[pr a]\ncommand = a\n[pr  a]\ncommand = b", 3, "section [pr  a] appears twice"),
    ("[push]\ncommand = a\nCommand = b", 3, "key `command` appears twice in [push]"),
    ("[push]\ncommand = x\ncopy_repo = yes", 3, "`copy_repo` in [push]: the code is the event"),
    ("[push]\ncommand = x\ncopy_dir = src", 3, "`copy_dir` in [push]: the code is the event's"),
    ("[push]\ncommand = x\ninstall_docker = maybe", 3, "`install_docker` must be true or"),
    ("[push]\ncommand = x\nimage = a\ndockerfile = b", 4, "`image` and `dockerfile` cannot both"),
    ("[push]\ncommand = x\nreqs_py = a\ninstall_pip = b", 4, "`install_pip` and `install_pip`"),
    ("[push]\ncommand = x\npath_map = nope", 3, "`path_map` takes KEY=VALUE items, not 'nope'"),
]


@pytest.mark.parametrize(("text", "line", "what"), BAD)
def test_every_bad_input_is_one_error_naming_file_and_line(text: str, line: int, what: str) -> None:
    with pytest.raises(co.ConfigError) as e:
        parse(text, "main:.conducto.cfg")
    assert str(e.value).startswith(f"main:.conducto.cfg:{line}: ")
    assert what in str(e.value)
    assert (e.value.filename, e.value.line) == ("main:.conducto.cfg", line)
    assert isinstance(e.value, co.PipelineError)


@pytest.mark.parametrize(
    ("command", "runs"),
    [
        ("deploy {branch}", 'deploy "${CONDUCTO_BRANCH}"'),
        ("deploy --to={branch}/x", 'deploy --to="${CONDUCTO_BRANCH}"/x'),
        ('echo "on {branch}, PR {pr}"', 'echo "on ${CONDUCTO_BRANCH}, PR ${CONDUCTO_PR}"'),
        ("echo '{branch}'", """echo '"${CONDUCTO_BRANCH}"'"""),
        ("sh -c 'make {tag}'", """sh -c 'make "${CONDUCTO_TAG}"'"""),
        ("""sh -c 'echo "at {tag}"'""", """sh -c 'echo "at ${CONDUCTO_TAG}"'"""),
        ("""sh -c 'echo "it'\\''s {tag}"'""", """sh -c 'echo "it'\\''s ${CONDUCTO_TAG}"'"""),
        ('echo "$(git log {branch})"', 'echo "$(git log "${CONDUCTO_BRANCH}")"'),
        (
            'echo "`cat {pr}`" $( (cd {pr}) )',
            'echo "`cat "${CONDUCTO_PR}"`" $( (cd "${CONDUCTO_PR}") )',
        ),
        ("""echo "it's" \\' {pr} \\{pr}""", """echo "it's" \\' "${CONDUCTO_PR}" \\{pr}"""),
        ("echo a#'{pr}'", """echo a#'"${CONDUCTO_PR}"'"""),
        (
            "cd ci && make > {branch}.log 2>&1 | tee",
            'cd ci && make > "${CONDUCTO_BRANCH}".log 2>&1 | tee',
        ),
    ],
)
def test_each_placeholder_becomes_a_reference_written_for_its_quoting_context(
    command: str, runs: str
) -> None:
    assert script(command) == runs
    assert parse(f"command = {command}").sections[0].script == runs


@pytest.mark.parametrize(
    ("command", "runs"),
    [
        (
            'cat <<EOF\n{branch} "{pr}"\nEOF\necho {tag}',
            'cat <<EOF\n${CONDUCTO_BRANCH} "${CONDUCTO_PR}"\nEOF\necho "${CONDUCTO_TAG}"',
        ),
        ("sh <<'EOF'\nmake {tag}\nEOF", """sh <<'EOF'\nmake "${CONDUCTO_TAG}"\nEOF"""),
        (
            "cat <<-EOF <<\\END\n\t{pr}\n\tEOF\n{pr}\nEND",
            'cat <<-EOF <<\\END\n\t${CONDUCTO_PR}\n\tEOF\n"${CONDUCTO_PR}"\nEND',
        ),
        ("cat <<<{branch}", 'cat <<<"${CONDUCTO_BRANCH}"'),
    ],
)
def test_here_documents_are_read_as_the_shell_reads_them(command: str, runs: str) -> None:
    """The shell expands `<<EOF`'s body (a reference there is unquoted, as in double quotes);
    a quoted delimiter's body is text for whatever reads it, as single quotes are."""
    assert script(command) == runs


def test_a_here_document_in_a_cfg_command() -> None:
    text = "[push]\ncommand = cat <<EOF\n    on {branch}\n    EOF\n"
    (section,) = parse(text).sections
    assert section.script == "cat <<EOF\non ${CONDUCTO_BRANCH}\nEOF"


def test_what_is_shown_is_the_command_with_its_values_quoted_where_they_sit() -> None:
    values = {"branch": "feat; x", "pr": 'say "$HOME"', "tag": "v1"}
    command = """run --b={branch} "pr {pr}" {tag} sh -c 'make {tag}'"""
    display = """run --b='feat; x' "pr say \\"\\$HOME\\"" v1 sh -c 'make "${CONDUCTO_TAG}"'"""
    assert shown(command, values) == display
    (step,) = parse(f"command = {command}").plan("push", VALUES | values)
    assert step.display == display


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("branch", "--output=/tmp/x", "it starts with '-'"),
        ("base_branch", "-x", "it starts with '-'"),
        ("tag", "-v1", "it starts with '-'"),
        ("sha", "--all", "it starts with '-'"),
        ("branch", "a\nb", "control character '\\n'"),
        ("sha", "HEAD\x7f", "control character '\\x7f'"),
        ("branch", "main..evil", "'..'"),
        ("branch", "x@{1}", "'@{'"),
        ("tag", "two words", "' '"),
        ("branch", "a:b", "':'"),
        ("branch", "a.lock", "end with '.', '/' or '.lock'"),
        ("branch", "/a", "start with '/'"),
        ("branch", "a//b", "an empty part"),
        ("branch", "a/.b", "a part that starts with '.'"),
    ],
)
def test_a_ref_value_git_would_refuse_is_refused(name: str, value: str, why: str) -> None:
    problem = ref_problem(name, value)
    assert problem is not None and problem.startswith(f"--{name.replace('_', '-')} {value!r}")
    assert why in problem


def test_ref_values_git_accepts_and_other_variables_pass() -> None:
    for name, value in [
        ("branch", "feature/x-1"),
        ("branch", "$(touch${IFS}x);`id`'\"|&"),
        ("sha", "main~2"),
        ("sha", "v1^{commit}"),
        ("tag", "v1.0"),
        ("author", "-- not a ref --"),
        ("note", "--anything"),
        ("branch", ""),
    ]:
        assert ref_problem(name, value) is None, (name, value)


def test_values_after_a_shell_script_as_arguments_are_fine() -> None:
    text = "[push]\ncommand = sh -c 'echo \"$1\"' sh {branch}\n"
    assert argvs(text, branch="a;b") == [["sh", "-c", 'echo "$1"', "sh", "a;b"]]


def test_an_unknown_event_asked_of_a_config_is_an_error() -> None:
    with pytest.raises(co.ConfigError, match="unknown event 'merge'"):
        parse("command = x").plan("merge", VALUES)


# An argument is a list of pieces: literal text, a variable, a shell `${name}` or an escaped
# `{{name}}`, written unquoted or in double quotes; a command is `printf` of such arguments,
# run as it is or handed to `sh -c` in single quotes. Values mix arbitrary text with the
# pieces most likely to fool a quoter.
_literal = st.text(st.characters(blacklist_characters="{}$\r\n\x00", codec="utf-8"), max_size=6)
_name = st.sampled_from(VARIABLES)
_piece = st.one_of(
    _name.map(lambda v: ("var", v)),
    _name.map(lambda v: ("shell", v)),
    _name.map(lambda v: ("escaped", v)),
    _literal.map(lambda t: ("lit", t)),
)
_arg = st.tuples(st.sampled_from(["bare", "double"]), st.lists(_piece, min_size=1, max_size=4))
_TRICKY = ["{branch}", "{tag}", "{{", "}}", "${HOME}", "'", '"', "$(id)", "`id`", ";", "\n", " "]
_text = st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=4)
_value = st.lists(st.one_of(_text, st.sampled_from(_TRICKY)), max_size=5).map("".join)


def _written(how: str, kind: str, x: str) -> str:
    """One piece as the command's author writes it, unquoted (`bare`) or in double quotes."""
    if kind == "var":
        return "{" + x + "}"
    if kind == "escaped":
        return "{{" + x + "}}"
    if kind == "shell":  # the shell's own variable (unset: empty), never ours
        return "${" + x + "}" if how == "double" else '"${' + x + '}"'
    return shlex.quote(x) if how == "bare" else re.sub(r'([\\"$`])', r"\\\1", x)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(_arg, min_size=1, max_size=5),
    st.booleans(),
    st.fixed_dictionaries(dict.fromkeys(VARIABLES, _value)),
)
def test_every_value_arrives_intact_as_data_unquoted_in_double_quotes_and_in_sh_c(
    args: list[tuple[str, list[tuple[str, str]]]], in_sh_c: bool, values: dict[str, str]
) -> None:
    written = []
    for how, pieces in args:
        text = "".join(_written(how, kind, x) for kind, x in pieces)
        written.append(f'"{text}"' if how == "double" else text)
    command = "printf '%s\\0' " + " ".join(written)
    if in_sh_c:  # the whole command in single quotes, for a shell inside to read
        command = "sh -c '" + command.replace("'", "'\\''") + "'"
    got = {"var": values.__getitem__, "shell": lambda x: "", "escaped": "{%s}".__mod__}
    want = ["".join(got.get(kind, str)(x) for kind, x in pieces) for _, pieces in args]
    (step,) = parse("[push]\ncommand = " + command).plan("push", values)
    assert sh(step.script, values).split("\0")[:-1] == want
    # what a dry run shows, typed into a shell, does the same (with no values around, when
    # the values are shown; in single quotes the references are, as they run)
    shown_env = values if in_sh_c else {}
    assert sh(step.display, shown_env).split("\0")[:-1] == want


@settings(max_examples=500, deadline=None)
@given(branch=_value, base=_value)
def test_a_variable_on_the_right_of_a_filter_compares_literally(branch: str, base: str) -> None:
    flt = parse_filter("{branch} == {base_branch} && !({branch} != {base_branch})", VARIABLES)
    assert flt.matches({"branch": branch, "base_branch": base}) is (branch == base)


@settings(max_examples=200, deadline=None)
@given(values=st.fixed_dictionaries(dict.fromkeys(("branch", "pr"), _value)))
def test_a_value_in_a_here_document_arrives_intact(values: dict[str, str]) -> None:
    """In an expanded body the value is text of the document; in a quoted one, handed to a
    shell that reads the body as its script, it is data for that shell too."""
    command = (
        'cat <<EOF\n[{branch}] "{pr}" $HOME\nEOF\n'
        "sh <<'EOF'\nprintf '%s|%s' {branch} \"{pr}\"\nEOF"
    )
    want = f'[{values["branch"]}] "{values["pr"]}" /home/someone\n'
    want += f"{values['branch']}|{values['pr']}"
    assert sh(script(command), values) == want
    assert sh(shown(command, values), values) == want  # the display, typed into a shell
