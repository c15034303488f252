"""Simulated git events against real repositories, through the real `conducto-nb` command."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from git_kit import commit, git, push_event

from conducto_nb.events.simulate import default_branch, load_config

_SCRIPT = Path(sys.executable).parent / "conducto-nb"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "conducto_nb.cli"]
# A command that shows exactly the argv it received, one JSON line.
SHOW_ARGV = "python -c 'import sys, json; print(json.dumps(sys.argv[1:]))'"


def event(
    repo: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, ".conducto.cfg", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


def start_event(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "cfg", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def json_lines(stdout: str) -> list[list[str]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('["')]


NASTY = [
    'it\'s "quoted"',
    "two words",
    "$(touch {marker})",
    "`touch {marker}`",
    "x; touch {marker}",
    "line one\nline two",
    "ünïcødé ✓ 分支",
    "--flag=1",
    "{branch}",
    "'; touch {marker}; echo '",
]


# Branch and tag names git accepts, as hostile as they come (git refuses spaces and newlines
# in refs: `${IFS}` is a space to a shell that runs them; $MARKER is the marker's path).
NASTY_REFS = [
    "$(touch${IFS}$MARKER)",
    "`touch${IFS}$MARKER`",
    "x;touch${IFS}$MARKER",
    "x&&touch${IFS}$MARKER|cat>$MARKER",
    "it's\"quoted\"'$(touch${IFS}$MARKER)'",
    '"$(touch${IFS}$MARKER)"',
    "{branch}${CONDUCTO_NOTE}",
]
# Where the command puts its placeholders: unquoted, in double quotes, in the single-quoted
# script of `sh -c` (with a `"` and an `'\''` in it), each value one argument of show.py.
CONTEXTS = {
    "unquoted": "python show.py {branch} {tag}-x {notes}",
    "double quotes": 'python show.py "{branch}" "{tag}-x" {notes}',
    "sh -c '...'": """sh -c 'python show.py {branch} "{tag}-x" {notes}'""",
    "sh -c '...' with quotes": """sh -c 'echo "it'\\''s"; python show.py "{branch}" {tag}-x"""
    """ {notes}'""",
    "a pipe": "python show.py {branch} {tag}-x {notes} | cat",
}
SHOW = "import sys, json; print(json.dumps(sys.argv[1:]))\n"


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("ref", range(0, len(NASTY_REFS), 2))
def test_hostile_values_reach_the_shell_command_as_data_wherever_they_are_quoted(
    repo: Path, tmp_path: Path, context: str, ref: int
) -> None:
    """Every NASTY value as an extra variable, two NASTY_REFS as branch and tag: each arrives
    as one intact argument, and nothing in them runs."""
    marker = tmp_path / "pwned"
    notes = [raw.replace("{marker}", str(marker)) for raw in NASTY]
    placeholders = " ".join(
        f'"{{n{i}}}"' if "double" in context else f"{{n{i}}}" for i in range(len(notes))
    )
    command = CONTEXTS[context].replace("{notes}", placeholders)
    sha = commit(repo, {".conducto.cfg": f"[push]\ncommand = {command}\n", "show.py": SHOW})
    branch, tag = NASTY_REFS[ref], NASTY_REFS[(ref + 1) % len(NASTY_REFS)]
    options = [f"--n{i}={note}" for i, note in enumerate(notes)]
    out = event(
        repo,
        "push",
        f"--branch={branch}",
        f"--sha={sha}",
        f"--tag={tag}",
        f"--note={notes[2]}",
        *options,
        env={"MARKER": str(marker)},
    )
    assert out.returncode == 0, out.stderr
    assert json_lines(out.stdout) == [[branch, f"{tag}-x", *notes]]
    assert not marker.exists()


def test_in_single_quotes_a_placeholder_stays_a_reference_for_whoever_reads_that_text(
    repo: Path, tmp_path: Path
) -> None:
    """Single quotes expand nothing: `'{branch}'` hands the text `"${CONDUCTO_BRANCH}"` on, for
    a shell inside to expand (as data); it never becomes the value, which could be code there."""
    cfg = "[push]\ncommand = python show.py '{branch}' 'x {note}' && echo 'echo {note}' | sh\n"
    commit(repo, {".conducto.cfg": cfg, "show.py": SHOW})
    marker = tmp_path / "pwned"
    out = event(repo, "push", "--branch=main", f"--note=$(touch {marker})")
    assert out.returncode == 0, out.stderr
    assert json_lines(out.stdout) == [['"${CONDUCTO_BRANCH}"', 'x "${CONDUCTO_NOTE}"']]
    assert f"$(touch {marker})" in out.stdout.splitlines()  # `sh` read the reference: data
    assert not marker.exists()


def test_a_command_is_a_shell_command_pipes_and_redirections_and_cd(
    repo: Path, tmp_path: Path
) -> None:
    """`cd`, `&&`, `||`, `|`, `>` and `2>&1` are the shell's (they used to become arguments of
    the first program, and the run still "succeeded")."""
    cfg = (
        "[push]\ncommand = cd ci && python ../show.py {branch} x > log && "
        "tr a-z A-Z < log | cat && ls missing-file 2>&1 | grep -c missing-file "
        "&& false || echo recovered-{branch}\n"
    )
    commit(repo, {".conducto.cfg": cfg, "show.py": SHOW, "ci/keep": ""})
    out = event(repo, "push", "--branch=main")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert '["MAIN", "X"]' in lines and "1" in lines and "recovered-main" in lines
    assert '["main", "x"]' not in lines  # it went into the log file, not to the output


def test_an_author_name_from_the_commit_is_one_literal_argument_too(
    repo: Path, tmp_path: Path
) -> None:
    author = f'O\'Brien "$(touch {tmp_path}/pwned)"; `id` ü'
    cfg = f"[push]\ncommand = {SHOW_ARGV} {{author}} {{repo}} {{sha}}\n"
    sha = commit(repo, {".conducto.cfg": cfg}, author=author)
    out = event(repo, "push", "--branch=main")
    assert out.returncode == 0, out.stderr
    assert json_lines(out.stdout) == [[author, "demo", sha]]
    assert not (tmp_path / "pwned").exists()


def test_values_also_arrive_as_conducto_environment_variables(repo: Path) -> None:
    show_env = (
        "python -c 'import os, json; print(json.dumps([os.environ[k] for k in ("
        '"CONDUCTO_EVENT", "CONDUCTO_PR", "CONDUCTO_BRANCH", "CONDUCTO_BASE_BRANCH",'
        ' "CONDUCTO_SHA", "CONDUCTO_TARGET")]))\''
    )
    sha = commit(repo, {".conducto.cfg": f"[pr]\ncommand = {show_env}\n"})
    git(repo, "branch", "feat")
    out = event(repo, "pr", "--pr=12", "--branch=feat", "--target=a b")
    assert out.returncode == 0, out.stderr
    assert json_lines(out.stdout) == [["pr", "12", "feat", "main", sha, "a b"]]
    out = event(repo, "pr", "--pr=13", "--branch=feat", "--base-branch=release", "--target=")
    assert json_lines(out.stdout) == [["pr", "13", "feat", "release", sha, ""]]


def test_a_deleted_branch_event_runs_on_the_default_branch_head(repo: Path) -> None:
    cfg = "[delete-branch]\ncommand = python -c \"print(open('who').read())\" {branch}\n"
    commit(repo, {".conducto.cfg": cfg, "who": "main's head"})
    out = event(repo, "delete-branch", "--branch=gone")
    assert out.returncode == 0, out.stderr
    assert "main's head\n" in out.stdout


def test_the_command_runs_in_a_clean_checkout_of_the_branch_head_removed_afterwards(
    repo: Path,
) -> None:
    show = (
        'python -c \'import os, json; print(json.dumps([os.getcwd(), open("state.txt").read(),'
        ' os.path.exists("untracked.txt")]))\''
    )
    commit(repo, {".conducto.cfg": f"[push]\ncommand = {show}\n", "state.txt": "committed"})
    (repo / "state.txt").write_text("uncommitted edit")
    (repo / "untracked.txt").write_text("not in git")
    out = event(repo, "push", "--branch=main")
    assert out.returncode == 0, out.stderr
    ((cwd, state, untracked),) = json_lines(out.stdout)
    assert (state, untracked) == ("committed", False)
    assert Path(cwd).name == "demo" and Path(cwd) != repo
    assert not Path(cwd).exists()
    assert git(repo, "worktree", "list").count("\n") == 0  # only the main worktree is left
    assert (repo / "state.txt").read_text() == "uncommitted edit"


def test_the_cfg_comes_from_the_default_branch_not_the_event_branch(repo: Path) -> None:
    cfg = "[push]\ncommand = python -c \"print(open('who').read())\"\n"
    commit(repo, {".conducto.cfg": cfg, "who": "main"})
    git(repo, "checkout", "-q", "-b", "feat")
    commit(
        repo,
        {".conducto.cfg": "[push]\ncommand = python -c \"print('feat-cfg')\"\n", "who": "feat"},
    )
    out = event(repo, "push", "--branch=feat")
    assert out.returncode == 0, out.stderr
    assert "feat-cfg" not in out.stdout
    assert "feat\n" in out.stdout  # feat's files, main's command
    assert "(main:.conducto.cfg)" in out.stdout


def test_the_default_branch_is_origin_head_then_main_then_master_then_the_current_one(
    repo: Path, tmp_path: Path
) -> None:
    commit(repo, {".conducto.cfg": "command = python -c \"print('from-origin')\"\n"})
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "config", "user.name", "Bob")
    git(clone, "config", "user.email", "bob@example.com")
    git(clone, "config", "commit.gpgsign", "false")
    commit(clone, {".conducto.cfg": "command = python -c \"print('local-main')\"\n"})
    assert default_branch(clone) == "origin/main"
    config, ref = load_config(clone)
    assert (ref, config.sections[0].command) == (
        "origin/main",
        "python -c \"print('from-origin')\"",
    )

    git(repo, "branch", "-m", "main", "master")
    assert default_branch(repo) == "master"
    git(repo, "branch", "-m", "master", "trunk")
    assert default_branch(repo) == "trunk"
    git(repo, "branch", "main")
    assert default_branch(repo) == "main"


def test_an_uncommitted_cfg_is_not_read(repo: Path) -> None:
    commit(repo, {"README": "x"})
    (repo / ".conducto.cfg").write_text("command = python -c \"print('never')\"\n")
    out = event(repo, "push", "--branch=main")
    assert out.returncode == 2
    assert "no .conducto.cfg committed on the default branch: looked at main (" in out.stderr
    assert "the one in the working tree is not committed" in out.stderr
    assert "never" not in out.stdout


def _clone(repo: Path, tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    for key, value in [("user.name", "Bob"), ("user.email", "bob@example.com")]:
        git(clone, "config", key, value)
    git(clone, "config", "commit.gpgsign", "false")
    return clone


def test_a_cfg_committed_but_not_yet_pushed_is_read_from_the_local_branch(
    repo: Path, tmp_path: Path
) -> None:
    """origin/main has no cfg yet; the clone's main has it committed. It used to say the cfg
    was "not committed", and only deleting origin/HEAD got past it."""
    commit(repo, {"README": "x"})
    clone = _clone(repo, tmp_path)
    commit(clone, {".conducto.cfg": "command = python -c \"print('ran')\"\n"})
    out = event(clone, "push", "--branch=main")
    assert out.returncode == 0, out.stderr
    assert ".conducto.cfg is not on origin/main yet: read from the local branch main" in out.stdout
    assert "ran\n" in out.stdout


def test_the_default_branch_can_be_given_and_the_error_says_where_the_cfg_is(
    repo: Path,
) -> None:
    commit(repo, {"README": "x"})
    git(repo, "checkout", "-q", "-b", "develop")
    commit(repo, {".conducto.cfg": "command = python -c \"print('from-develop')\"\n"})
    out = event(repo, "push", "--branch=develop")
    assert out.returncode == 2
    assert "looked at main (" in out.stderr
    assert "it is committed on develop" in out.stderr and "--default-branch=develop" in out.stderr
    given = event(repo, "--default-branch=develop", "push", "--branch=develop")
    assert given.returncode == 0, given.stderr
    assert "from-develop\n" in given.stdout
    bad = event(repo, "--default-branch=nosuch", "push", "--branch=develop")
    assert bad.returncode == 2 and "--default-branch 'nosuch' is not a branch" in bad.stderr


def test_the_command_gets_the_users_path_unchanged(repo: Path, tmp_path: Path) -> None:
    """The user's own `python` stays first on PATH (the tool's venv used to go first, so a
    pipeline's python and pip were conducto_nb's)."""
    bin_dir = tmp_path / "users-venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("#!/bin/sh\necho users-python\n")
    (bin_dir / "python").chmod(0o755)
    commit(repo, {".conducto.cfg": "command = python\n"})
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    out = subprocess.run(
        [*CLI, ".conducto.cfg", "push", "--branch=main"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )
    assert out.returncode == 0, out.stderr
    assert "users-python\n" in out.stdout


def test_two_events_on_different_branches_run_at_once_in_their_own_checkouts(
    repo: Path, tmp_path: Path
) -> None:
    check = textwrap.dedent("""
        import pathlib, sys, time
        branch, meet = sys.argv[1], pathlib.Path(sys.argv[2])
        (meet / branch).write_text(pathlib.Path("branch.txt").read_text())
        other = meet / ("b" if branch == "a" else "a")
        deadline = time.monotonic() + 30
        while not other.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # both now sit in their checkouts at the same time
        print("mine:", pathlib.Path("branch.txt").read_text(), "met:", other.exists())
    """)
    cfg = "command = python check.py {branch} {meet}\n"
    commit(repo, {".conducto.cfg": cfg, "check.py": check, "branch.txt": "main"})
    for name in ("a", "b"):
        git(repo, "checkout", "-q", "-b", name, "main")
        commit(repo, {"branch.txt": name})
    meet = tmp_path / "meet"
    meet.mkdir()
    procs = {b: start_event(repo, "push", f"--branch={b}", f"--meet={meet}") for b in "ab"}
    results = {b: p.communicate(timeout=60) for b, p in procs.items()}
    for b, (stdout, stderr) in results.items():
        assert procs[b].returncode == 0, stderr
        assert f"mine: {b} met: True" in stdout


def test_dry_run_prints_matching_sections_and_commands_and_runs_nothing(
    repo: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    cfg = f"""
[push build]
command = python -c "open('{marker}', 'w')" --branch={{branch}}
[push deploy]
command = deploy {{branch}}
filter = {{branch}} == main
"""
    commit(repo, {".conducto.cfg": cfg})
    out = event(repo, "push", "--branch=feat;$(x)", "--sha=main", "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("event push  branch='feat;$(x)'  sha=")
    # the command as written, its value in, quoted as it sits: pasted into a shell, the same
    assert (
        lines[1] == f"""[push build] runs: python -c "open('{marker}', 'w')" --branch='feat;$(x)'"""
    )
    assert shlex.split(lines[1].removeprefix("[push build] runs: ")) == [
        "python",
        "-c",
        f"open('{marker}', 'w')",
        "--branch=feat;$(x)",
    ]
    assert lines[2:] == ["[push deploy] skipped: filter '{branch} == main' is false"]
    assert not marker.exists()
    assert git(repo, "worktree", "list").count("\n") == 0


def test_an_event_no_section_answers_is_no_action_and_exit_zero(repo: Path) -> None:
    commit(repo, {".conducto.cfg": "[push]\ncommand = false\nfilter = {branch} == main\n"})
    for args in (
        ["push", "--branch=other", "--sha=main"],
        ["create-tag", "--tag=v1", "--sha=main"],
    ):
        out = event(repo, *args)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[-1].startswith("no action: no section of .conducto.cfg")


def test_the_exit_code_is_the_first_failing_commands_and_later_sections_still_run(
    repo: Path,
) -> None:
    cfg = """
[push one]
command = python -c 'print("one"); raise SystemExit(3)'
[push two]
command = python -c 'print("two"); raise SystemExit(5)'
[push three]
command = python -c 'print("three")'
"""
    commit(repo, {".conducto.cfg": cfg})
    out = event(repo, "push", "--branch=main")
    assert out.returncode == 3
    printed = [line for line in out.stdout.splitlines() if line in ("one", "two", "three")]
    assert printed == ["one", "two", "three"]
    assert "--- [push one] exit 3" in out.stdout and "--- [push two] exit 5" in out.stdout


def test_a_single_commands_exit_code_is_the_simulations(repo: Path) -> None:
    commit(repo, {".conducto.cfg": "command = python -c 'raise SystemExit(42)'\n"})
    assert event(repo, "push", "--branch=main").returncode == 42
    commit(repo, {".conducto.cfg": "command = no-such-program-here {branch}\n"})
    out = event(repo, "push", "--branch=main")
    assert out.returncode == 127 and "no-such-program-here: " in out.stderr
    assert "not found" in out.stderr


def test_a_tag_event_checks_out_the_tag(repo: Path) -> None:
    cfg = "[create-tag]\ncommand = python -c \"print(open('v').read())\" {tag}\n"
    commit(repo, {".conducto.cfg": cfg, "v": "one"})
    git(repo, "tag", "v1")
    commit(repo, {"v": "two"})
    out = event(repo, "create-tag", "--tag=v1")
    assert out.returncode == 0, out.stderr
    assert "one\n" in out.stdout and "two" not in out.stdout


def test_image_keys_reach_the_command_as_json(repo: Path) -> None:
    cfg = (
        "[push]\n"
        "command = python -c 'import os; print(os.environ[\"CONDUCTO_NB_DEFAULT_IMAGE\"])'\n"
        "image = python:3.11-slim\ninstall_pip = pytest\n"
    )
    commit(repo, {".conducto.cfg": cfg})
    out = event(repo, "push", "--branch=main")
    assert out.returncode == 0, out.stderr
    assert '{"image": "python:3.11-slim", "install_pip": ["pytest"]}' in out.stdout


def test_a_broken_cfg_is_one_error_naming_file_and_line_and_nothing_runs(repo: Path) -> None:
    commit(repo, {".conducto.cfg": "[push]\ncommand = echo {branch}\n\n[pr]\ncommand = x {prr}\n"})
    out = event(repo, "push", "--branch=main")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: main:.conducto.cfg:5: unknown variable {prr} in `command`; "
        "known: branch, sha, repo, pr, base_branch, tag, author"
    ]
    assert out.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["merge"], "unknown event 'merge'"),
        (["push"], "a push event needs --branch=..."),
        (["pr", "--branch=main"], "a pr event needs --pr=..."),
        (["push", "--branch=nope"], "no branch 'nope' here or on origin; pass --sha=COMMIT"),
        (["push", "--branch=main", "stray"], "unexpected argument 'stray'"),
        (["push", "--branch=a", "--branch=b"], "--branch is given twice"),
        (["push", "--branch=main", "--sha=--all"], "--sha '--all' is not a valid git ref name"),
        (["push", "--branch=main", "-C", "/"], "'/' is not in a git repository"),
        (["push", "--branch=main", "--Branch=-x"], "--Branch would set CONDUCTO_BRANCH, which"),
        (["push", "--branch=main", "--note=a", "--NOTE=b"], "is --note's (names ignore case)"),
        (["push", "--branch=main", "--nb-workdir=/"], "which is the work folder's"),
        (["push", "--branch=main", "--event=x"], "--event would set CONDUCTO_EVENT"),
    ],
)
def test_a_bad_event_is_a_one_line_error(repo: Path, args: list[str], message: str) -> None:
    commit(repo, {".conducto.cfg": "command = true\n"})
    out = event(repo, *args)
    assert out.returncode == 2
    assert message in out.stderr and out.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["push", "--branch=--output={out}", "--sha=main"], "--branch '--output={out}'"),
        (["create-tag", "--tag=-output={out}", "--sha=main"], "--tag '-output={out}'"),
        (
            ["pr", "--pr=1", "--branch=main", "--base-branch=--output={out}"],
            "--base-branch '--output={out}'",
        ),
        (["push", "--branch=main", "--sha=--output={out}"], "--sha '--output={out}'"),
        (["push", "--branch=main..x", "--sha=main"], "--branch 'main..x'"),
        (["push", "--branch=a\nb", "--sha=main"], "--branch 'a\\nb'"),
    ],
)
def test_a_ref_value_git_would_refuse_is_refused_before_anything_runs(
    repo: Path, tmp_path: Path, args: list[str], refused: str
) -> None:
    """A branch called `--output=FILE` reached `git log {branch}` as an option and wrote FILE."""
    out_file = tmp_path / "written"
    cfg = "".join(
        f"[{e}]\ncommand = git log {{{v}}} --oneline && touch {tmp_path}/ran\n"
        for e, v in [("push", "branch"), ("create-tag", "tag"), ("pr", "base_branch")]
    )
    commit(repo, {".conducto.cfg": cfg})
    done = event(repo, *[a.replace("{out}", str(out_file)) for a in args])
    assert done.returncode == 2
    message = refused.replace("{out}", str(out_file)) + " is not a valid git ref name"
    assert done.stderr.startswith(f"error: {message}") and done.stderr.count("\n") == 1
    assert done.stdout == ""
    assert not out_file.exists() and not (tmp_path / "ran").exists()


def test_a_conducto_nb_pipeline_runs_with_the_branch_it_was_given(repo: Path) -> None:
    pipeline = textwrap.dedent("""
        import conducto_nb as co

        def ci(branch: str = "none") -> co.Serial:
            with co.Serial() as root:
                co.Exec(f"echo testing {branch}",
                        name="test")
            return root

        if __name__ == "__main__":
            co.main(default=ci)
    """)
    cfg = "[push]\ncommand = conducto-nb run pipeline.py:ci --branch={branch}\n"
    commit(repo, {".conducto.cfg": cfg, "pipeline.py": pipeline})
    git(repo, "branch", "feat/x")
    out = event(repo, "push", "--branch=feat/x", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "test  done" in out.stdout


# --- `duplicate`: a second run for the same section and branch while the first still goes ---

HOLD = textwrap.dedent("""
    import pathlib, sys, time
    gate = pathlib.Path(sys.argv[1])
    gate.with_suffix(".started").touch()
    deadline = time.monotonic() + 30
    while not gate.with_suffix(".release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    print("finished", gate.name)
""")


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a started event; its exit code and the last line its command printed."""
    stdout, _ = proc.communicate(timeout=30)
    printed = [line for line in stdout.splitlines() if line.startswith("finished")]
    return proc.returncode, printed[-1] if printed else ""


def _duplicates(repo: Path, tmp_path: Path, policy: str) -> tuple[subprocess.Popen[str], Path]:
    """The first run, holding; returns it and the folder of gates."""
    cfg = f"[push]\ncommand = python hold.py {{gates}}/{{gate}}\nduplicate = {policy}\n"
    commit(repo, {".conducto.cfg": cfg, "hold.py": HOLD})
    gates = tmp_path / "gates"
    gates.mkdir()
    first = start_event(repo, "push", "--branch=main", f"--gates={gates}", "--gate=one")
    _wait_for(gates / "one.started")
    return first, gates


def test_duplicate_suppress_new_skips_a_second_run_while_the_first_goes(
    repo: Path, tmp_path: Path
) -> None:
    first, gates = _duplicates(repo, tmp_path, "SUPPRESS_NEW")
    (gates / "two.release").touch()
    second = event(repo, "push", "--branch=main", f"--gates={gates}", "--gate=two")
    assert second.returncode == 0, second.stderr
    assert "suppressed: a run of [push] main is still going" in second.stdout
    assert not (gates / "two.started").exists()
    (gates / "one.release").touch()
    assert finish(first) == (0, "finished one")
    third = event(repo, "push", "--branch=main", f"--gates={gates}", "--gate=two")
    assert "finished two" in third.stdout  # once the first is over, a new run goes


def test_duplicate_allow_runs_both_at_once(repo: Path, tmp_path: Path) -> None:
    first, gates = _duplicates(repo, tmp_path, "ALLOW")
    (gates / "two.release").touch()
    second = event(repo, "push", "--branch=main", f"--gates={gates}", "--gate=two")
    assert second.returncode == 0 and "finished two" in second.stdout
    assert first.poll() is None  # the first still holds: they overlapped
    (gates / "one.release").touch()
    assert finish(first) == (0, "finished one")


def test_duplicate_defer_waits_for_the_first_then_runs(repo: Path, tmp_path: Path) -> None:
    first, gates = _duplicates(repo, tmp_path, "DEFER")
    (gates / "two.release").touch()
    second = start_event(repo, "push", "--branch=main", f"--gates={gates}", "--gate=two")
    time.sleep(1.0)
    assert second.poll() is None and not (gates / "two.started").exists()
    (gates / "one.release").touch()
    stdout, _ = second.communicate(timeout=30)
    assert second.returncode == 0 and "finished two" in stdout
    assert finish(first) == (0, "finished one")


def test_duplicate_sleep_old_stops_the_first_and_runs_the_new(repo: Path, tmp_path: Path) -> None:
    first, gates = _duplicates(repo, tmp_path, "SLEEP_OLD")
    (gates / "two.release").touch()
    second = event(repo, "push", "--branch=main", f"--gates={gates}", "--gate=two")
    assert second.returncode == 0 and "finished two" in second.stdout
    assert "stopping the older run of [push] main" in second.stdout
    stdout, _ = first.communicate(timeout=30)
    assert first.returncode == 128 + 15 and "finished one" not in stdout


def test_duplicate_keys_are_per_branch(repo: Path, tmp_path: Path) -> None:
    first, gates = _duplicates(repo, tmp_path, "SUPPRESS_NEW")
    git(repo, "branch", "other")
    (gates / "two.release").touch()
    second = event(repo, "push", "--branch=other", f"--gates={gates}", "--gate=two")
    assert "finished two" in second.stdout
    (gates / "one.release").touch()
    assert finish(first) == (0, "finished one")


def test_a_pipeline_the_event_started_can_be_rerun_after_its_checkout_is_gone(
    repo: Path, tmp_path: Path
) -> None:
    """Its Execs start from a copy of the event's checkout of their own: rerunning one later,
    with the checkout removed, finds the same files (it used to find none)."""
    pipeline = (
        "import conducto_nb as co\n\n"
        "def main():\n"
        "    return co.Exec('cat state.txt && test -f pass', name='check')\n"
    )
    cfg = "[push]\ncommand = conducto-nb run pipeline.py:main --backend local\n"
    commit(repo, {".conducto.cfg": cfg, "pipeline.py": pipeline, "state.txt": "committed\n"})
    home = tmp_path / "home"
    env = {**os.environ, "CONDUCTO_NB_HOME": str(home)}
    out = push_event(repo, "main", env)
    assert out.returncode == 1, out.stdout + out.stderr  # `pass` is not there: it fails
    [pipeline_id] = [p.name for p in (home / "work").iterdir() if p.is_dir()]
    # the run's own copy of the event's code (its image's code, on the local backend)
    [code] = (home / "code" / pipeline_id).iterdir()
    (code / "pass").touch()  # what a fix in the run's own folder looks like
    again = subprocess.run(
        [*CLI, "rerun", pipeline_id], capture_output=True, text=True, timeout=120, env=env
    )
    assert again.returncode == 0, again.stdout + again.stderr
    shown = subprocess.run(
        [*CLI, "show", pipeline_id, "/"], capture_output=True, text=True, timeout=60, env=env
    )
    assert "committed" in shown.stdout, shown.stdout
