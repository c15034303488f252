"""`co.Image` without a daemon: its parameters and their errors, its JSON form, the hash that
names its tag, and the build context it would send (committed code only)."""

from __future__ import annotations

import io
import os
import runpy
import subprocess
import sys
import tarfile
from pathlib import Path

import cloudpickle
import pytest

import conducto_nb as co
from conducto_nb.images.context import context_tar
from conducto_nb.images.dockerfile import derived_dockerfile, pip_config
from conducto_nb.images.image import CODE_DIR

# ---------------------------------------------------------------- helpers


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_SYSTEM": "/dev/null"}
    who = ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    done = subprocess.run(["git", *who, *args], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit on `main`: app.py, run.sh (executable), docs/README."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "app.py").write_text("print('committed')\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "docs").mkdir()
    (root / "docs" / "README").write_text("docs\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "first")
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "main.py").write_text("import pkg\n")
    return root


def sent_files(image: co.Image) -> dict[str, bytes]:
    """The files of the build context under src/ (what lands in CODE_DIR), with contents."""
    ctx = context_tar(image)
    try:
        assert ctx.tar is not None
        with tarfile.open(fileobj=ctx.tar) as tar:
            return {
                m.name.removeprefix("src/"): tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isreg() and m.name.startswith("src/")
            }
    finally:
        ctx.close()


def tag_hash(image: co.Image) -> str:
    name, _, digest = image.name.partition(":")
    assert name == "conducto-nb/img"
    return digest


# ---------------------------------------------------------------- parameters


def test_conductos_reqs_names_are_aliases_of_install() -> None:
    old = co.Image("python:3.11-slim", reqs_py=["six"], reqs_packages=["curl"], reqs_docker=True)
    new = co.Image(
        "python:3.11-slim", install_pip=["six"], install_packages=["curl"], install_docker=True
    )
    assert old == new
    assert (old.install_pip, old.install_packages, old.install_docker) == (
        ("six",),
        ("curl",),
        True,
    )


def test_a_string_of_packages_is_split_like_a_cfg_list() -> None:
    assert co.Image(install_pip="pytest 'ruff>=0.6'").install_pip == ("pytest", "ruff>=0.6")


def test_no_base_means_this_pythons_slim_image() -> None:
    assert co.Image().image == f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"


@pytest.mark.parametrize(
    ("kwargs", "field", "says"),
    [
        (
            {"image": "a:1", "dockerfile_text": "FROM b"},
            "dockerfile_text",
            "`image` and `dockerfile_text` cannot both be given",
        ),
        (
            {"dockerfile_text": "FROM b", "dockerfile": "Dockerfile"},
            "dockerfile_text",
            "`dockerfile` and `dockerfile_text` cannot both be given",
        ),
        (
            {"copy_dir": ".", "copy_url": "https://example.com/r.git"},
            "copy_url",
            "`copy_dir` and `copy_url` cannot both be given",
        ),
        ({"copy_branch": "main"}, "copy_branch", "`copy_branch` needs `copy_url` or `copy_repo`"),
        (
            {"instal_pip": ["six"]},
            "instal_pip",
            "unknown Image parameter `instal_pip` (did you mean `install_pip`?)",
        ),
        (
            {"reqs_py": ["a"], "install_pip": ["b"]},
            "install_pip",
            "`reqs_py` is Conducto's older name for `install_pip`: give one",
        ),
        ({"image": 3}, "image", "`image` must be a string, not int"),
        ({"image": "Not An Image"}, "image", "is not a valid image name"),
        ({"install_pip": 3}, "install_pip", "`install_pip` must be a list of package names"),
        ({"install_packages": ["curl wget"]}, "install_packages", "one package name per item"),
        ({"install_pip": ["--index-url=http://evil"]}, "install_pip", "is not a valid value"),
        ({"install_docker": "yes"}, "install_docker", "must be True or False, not 'yes'"),
        (
            {"docker_build_args": {"X": "1"}},
            "docker_build_args",
            "`docker_build_args` applies to `dockerfile` or `dockerfile_text`",
        ),
        ({"copy_repo": 1}, "copy_repo", "must be True or a path in a git repository"),
        ({"copy_url": "--upload-pack=touch /x"}, "copy_url", "is not a valid value"),
        (
            {"copy_url": "https://me:hunter2@example.com/r.git"},
            "copy_url",
            "must not carry a password",
        ),
        ({"path_map": {".": "relative"}}, "path_map", "relative to the copied code's folder"),
        ({"name": "My App"}, "name", "must be lowercase letters"),
        ({"shell": ""}, "shell", "must be a shell's path"),
        ({"copy_dir": "/no/such/dir"}, "copy_dir", "/no/such/dir is not a directory"),
    ],
)
def test_a_bad_image_is_one_parameter_error_naming_the_field(
    kwargs: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(co.ParameterError) as caught:
        co.Image(**kwargs)  # type: ignore[arg-type]
    assert caught.value.param == field
    assert says in str(caught.value)


def test_copy_repo_outside_a_repository_says_so(tmp_path: Path) -> None:
    with pytest.raises(co.ParameterError, match="`copy_repo` needs a git repository"):
        co.Image(copy_repo=tmp_path)


def test_an_image_cannot_change() -> None:
    img = co.Image("python:3.11-slim")
    with pytest.raises(AttributeError, match="cannot change"):
        img.image = "busybox:latest"
    with pytest.raises(TypeError):
        img.path_map["/here"] = "/there"  # type: ignore[index]


def test_relative_paths_are_read_from_the_calling_files_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\n")
    script = tmp_path / "pipeline.py"
    script.write_text(
        "import conducto_nb as co\n"
        "code = co.Image(copy_dir='sub')\n"
        "built = co.Image(dockerfile='Dockerfile')\n"
    )
    found = runpy.run_path(str(script))  # from another working directory: the tests'
    assert found["code"].copy_dir == str(tmp_path / "sub")
    assert found["code"].path_map == {str(tmp_path / "sub"): CODE_DIR}
    assert found["built"].dockerfile == str(tmp_path / "Dockerfile")
    assert found["built"].context == str(tmp_path)  # a Dockerfile's folder, as Docker does


# ---------------------------------------------------------------- JSON and nodes


def test_json_round_trip_is_lossless_and_reads_no_files(folder: Path) -> None:
    img = co.Image(
        "python:3.11-slim", copy_dir=folder, install_pip=["six"], shell="/bin/bash", name="app"
    )
    data = img.to_json()
    assert data == {
        "image": "python:3.11-slim",
        "copy_dir": str(folder),
        "path_map": {str(folder): CODE_DIR},
        "install_pip": ["six"],
        "shell": "/bin/bash",
        "name": "app",
    }
    again = co.Image.from_json(data)
    assert again == img and again.to_json() == data and hash(again) == hash(img)
    gone = co.Image.from_json({**data, "copy_dir": "/was/on/another/machine"})
    assert gone.copy_dir == "/was/on/another/machine"  # a worker need not have the files


def test_from_json_takes_cfg_keys_with_aliases() -> None:
    img = co.Image.from_json({"image": "python:3.11-slim", "reqs_py": ["pytest"]})
    assert img.install_pip == ("pytest",)


def test_an_image_pickles_to_an_equal_image(folder: Path) -> None:
    img = co.Image(copy_dir=folder, install_pip=["six"])
    assert cloudpickle.loads(cloudpickle.dumps(img)) == img


def test_a_node_with_an_image_round_trips_and_children_inherit_it(folder: Path) -> None:
    img = co.Image("python:3.11-slim", copy_dir=folder, install_packages=["curl"])
    with co.Serial(image=img) as root:
        co.Exec("pytest", name="test")
        co.Exec("ls", name="other", image="busybox:latest")
    assert root["/test"].image is img
    assert root["/test"].params["image"].source == "/"
    assert root["/other"].image == "busybox:latest"
    data = root.to_json()
    again = co.Node.from_json(data)
    assert again.to_json() == data
    assert again["/test"].image == img


def test_a_bad_image_in_a_stored_tree_names_the_node_and_field() -> None:
    with pytest.raises(co.ParameterError) as caught:
        co.Exec("ls", image={"image": "busybox:latest", "copy_branch": "main"})
    assert str(caught.value) == "/: `copy_branch` needs `copy_url` or `copy_repo`"
    assert caught.value.param == "image"


# ---------------------------------------------------------------- the hash


def test_the_tag_is_a_hash_of_the_inputs(folder: Path) -> None:
    img = co.Image("python:3.11-slim", copy_dir=folder)
    assert len(tag_hash(img)) == 16
    assert co.Image("python:3.11-slim", copy_dir=folder).name == img.name  # stable
    assert co.Image("python:3.11-slim", copy_dir=folder, name="app").name == (
        f"conducto-nb/app:{tag_hash(img)}"
    )
    others = [
        co.Image("busybox:latest", copy_dir=folder),
        co.Image("python:3.11-slim", copy_dir=folder, install_pip=["six"]),
        co.Image("python:3.11-slim", copy_dir=folder, install_packages=["curl"]),
        co.Image("python:3.11-slim", copy_dir=folder, install_docker=True),
        co.Image("python:3.11-slim", copy_dir=folder, docker_auto_workdir=False),
        co.Image("python:3.11-slim"),
    ]
    assert len({tag_hash(i) for i in [img, *others]}) == 1 + len(others)


def test_shell_and_path_map_do_not_change_what_is_built(folder: Path) -> None:
    img = co.Image("python:3.11-slim", copy_dir=folder)
    same = co.Image("python:3.11-slim", copy_dir=folder, shell="/bin/bash", path_map={"/x": "/y"})
    assert same.name == img.name and same != img


def test_the_hash_follows_file_content_not_mtime(folder: Path) -> None:
    before = tag_hash(co.Image(copy_dir=folder))
    os.utime(folder / "main.py", (1, 1))
    assert tag_hash(co.Image(copy_dir=folder)) == before
    (folder / "main.py").write_text("import pkg  # changed\n")
    changed = tag_hash(co.Image(copy_dir=folder))
    assert changed != before
    (folder / "main.py").chmod(0o755)
    assert tag_hash(co.Image(copy_dir=folder)) != changed  # the exec bit is content
    (folder / "empty").mkdir()
    assert tag_hash(co.Image(copy_dir=folder)) not in (before, changed)


def test_the_tag_is_computed_once_per_object(folder: Path) -> None:
    img = co.Image(copy_dir=folder)
    first = img.name
    (folder / "main.py").write_text("changed\n")
    assert img.name == first  # cached: a build recomputes it from what it sends
    assert co.Image(copy_dir=folder).name != first
    context_tar(img).close()
    assert img.name != first


def test_a_dockerfiles_text_and_context_are_in_the_hash(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nCOPY f /f\n")
    (tmp_path / "f").write_text("1\n")
    before = tag_hash(co.Image(dockerfile=tmp_path / "Dockerfile"))
    (tmp_path / "f").write_text("2\n")
    after = tag_hash(co.Image(dockerfile=tmp_path / "Dockerfile"))
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nCOPY f /g\n")
    assert len({before, after, tag_hash(co.Image(dockerfile=tmp_path / "Dockerfile"))}) == 3
    text = "FROM busybox:latest\nARG X\n"
    args = [tag_hash(co.Image(dockerfile_text=text, docker_build_args={"X": x})) for x in "12"]
    assert args[0] != args[1]


def test_dockerignore_leaves_files_out_of_the_copy_and_the_hash(folder: Path) -> None:
    (folder / ".dockerignore").write_text("*.log\npkg\n!pkg/mod.py\n")
    (folder / "debug.log").write_text("noise\n")
    before = tag_hash(co.Image(copy_dir=folder))
    (folder / "debug.log").write_text("more noise\n")
    assert tag_hash(co.Image(copy_dir=folder)) == before
    assert sorted(sent_files(co.Image(copy_dir=folder))) == [
        ".dockerignore",
        "main.py",
        "pkg/mod.py",
    ]


def test_a_missing_copy_dir_at_build_time_is_an_image_build_error(folder: Path) -> None:
    img = co.Image.from_json({"copy_dir": str(folder / "gone")})
    with pytest.raises(co.ImageBuildError, match=r"`copy_dir` .*/gone is not a directory"):
        img.name  # noqa: B018


# ---------------------------------------------------------------- git sources


def test_copy_repo_sends_committed_content_only(repo: Path) -> None:
    (repo / "app.py").write_text("print('uncommitted')\n")
    (repo / "notes.txt").write_text("untracked\n")
    img = co.Image(copy_repo=repo / "docs")  # any path inside the repository
    assert img.copy_repo == str(repo) and img.path_map == {str(repo): CODE_DIR}
    files = sent_files(img)
    assert files == {
        "app.py": b"print('committed')\n",
        "run.sh": b"#!/bin/sh\n",
        "docs/README": b"docs\n",
    }


def test_copy_repo_true_is_the_calling_codes_repository(repo: Path) -> None:
    script = repo / "pipeline.py"
    script.write_text("import conducto_nb as co\nimg = co.Image(copy_repo=True)\n")
    assert runpy.run_path(str(script))["img"].copy_repo == str(repo)


def test_copy_repos_hash_changes_on_commit_not_on_edit(repo: Path) -> None:
    before = tag_hash(co.Image(copy_repo=repo))
    (repo / "app.py").write_text("print('edited')\n")
    assert tag_hash(co.Image(copy_repo=repo)) == before
    git(repo, "commit", "-qam", "edit")
    assert tag_hash(co.Image(copy_repo=repo)) != before
    git(repo, "commit", "-q", "--allow-empty", "-m", "same tree")
    assert tag_hash(co.Image(copy_repo=repo)) == tag_hash(co.Image(copy_repo=repo))


def test_copy_branch_picks_a_branch(repo: Path) -> None:
    git(repo, "checkout", "-qb", "feature")
    (repo / "app.py").write_text("print('feature')\n")
    git(repo, "commit", "-qam", "feature")
    git(repo, "checkout", "-q", "main")
    on_main = sent_files(co.Image(copy_repo=repo))
    on_feature = sent_files(co.Image(copy_repo=repo, copy_branch="feature"))
    assert on_main["app.py"] == b"print('committed')\n"
    assert on_feature["app.py"] == b"print('feature')\n"
    with pytest.raises(co.ImageBuildError, match="has no branch 'nope'"):
        co.Image(copy_repo=repo, copy_branch="nope").name  # noqa: B018


@pytest.mark.parametrize("form", ["path", "file_url"])
def test_copy_url_clones_any_url_git_reads(repo: Path, form: str) -> None:
    git(repo, "branch", "release")
    url = str(repo) if form == "path" else f"file://{repo}"
    img = co.Image(copy_url=url, copy_branch="release")
    assert sent_files(img)["app.py"] == b"print('committed')\n"
    assert tag_hash(img) == tag_hash(co.Image(copy_repo=repo, copy_branch="release"))


def test_git_file_modes_are_sent_normalised(repo: Path) -> None:
    ctx = context_tar(co.Image(copy_repo=repo))
    try:
        assert ctx.tar is not None
        with tarfile.open(fileobj=ctx.tar) as tar:
            modes = {m.name: (m.mode, m.uid) for m in tar.getmembers() if m.name.startswith("src")}
    finally:
        ctx.close()
    assert modes["src/run.sh"] == (0o755, 0) and modes["src/app.py"] == (0o644, 0)


# ---------------------------------------------------------------- the build recipe


def test_pip_config_keeps_only_what_reaches_a_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nindex-url = https://mirror.example/simple\nfind-links = /opt/wheels\n"
        "extra-index-url = file:///opt/pypi https://extra.example/simple\n"
    )
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "60")
    text = pip_config("/tmp/conducto_nb/cfg/ca.crt")
    lines = set(text.splitlines())
    assert lines >= {
        "cert = /tmp/conducto_nb/cfg/ca.crt",
        "index-url = https://mirror.example/simple",
        "extra-index-url = https://extra.example/simple",
        "default-timeout = 60",
    }
    assert "find-links" not in text and "file://" not in text


def test_the_ca_and_pip_config_stay_out_of_the_final_stage(folder: Path) -> None:
    text = derived_dockerfile(co.Image("python:3.11-slim", copy_dir=folder, install_pip=["six"]))
    stages = text.split("\nFROM ")
    pip = next(s for s in stages if s.startswith("conducto_nb_base AS conducto_nb_pip"))
    assert ".conducto_nb/" in pip and "--root" in pip  # the throwaway stage
    final = stages[-1]
    assert final.startswith("conducto_nb_base\n") and ".conducto_nb/" not in final
    assert f"COPY src/ {CODE_DIR}/" in final and f"WORKDIR {CODE_DIR}" in final


def test_a_non_root_base_user_installs_as_root_and_gets_its_user_back() -> None:
    text = derived_dockerfile(co.Image(install_packages=["curl"], copy_dir="."), "b", "bob")
    assert "USER root" in text and text.rstrip().endswith("USER bob")
    assert f"COPY --chown=bob src/ {CODE_DIR}/" in text


def test_image_build_error_is_a_backend_error() -> None:
    assert issubclass(co.ImageBuildError, co.BackendError)
    err = co.ImageBuildError("cannot build x")
    assert isinstance(err, co.PipelineError) and str(err) == "cannot build x"


def test_the_context_holds_the_host_ca_only_beside_pip(folder: Path) -> None:
    def names(img: co.Image) -> set[str]:
        ctx = context_tar(img)
        try:
            assert ctx.tar is not None
            return set(tarfile.open(fileobj=io.BytesIO(ctx.tar.read())).getnames())
        finally:
            ctx.close()

    assert not any(n.startswith(".conducto_nb") for n in names(co.Image(copy_dir=folder)))
    assert ".conducto_nb/cfg/pip.conf" in names(co.Image(install_pip=["six"]))


def test_copy_commit_pins_git_code_and_is_checked() -> None:
    with pytest.raises(co.ParameterError, match="`copy_commit` needs `copy_url` or `copy_repo`"):
        co.Image("busybox:latest", copy_commit="abcdef1")
    with pytest.raises(co.ParameterError, match="`copy_commit` must be a commit id"):
        co.Image("busybox:latest", copy_url="https://example.com/x.git", copy_commit="main")


def test_starting_a_pipeline_pins_copy_repo_and_says_what_it_leaves_out(repo: Path) -> None:
    from git_kit import commit

    head = commit(repo, {"a.py": "print(1)\n"})
    (repo / "a.py").write_text("print(2)\n")  # an edit, not committed
    (repo / "new.py").write_text("")  # not even added
    image = co.Image("busybox:latest", copy_repo=str(repo))
    with pytest.warns(
        UserWarning, match=r"2 uncommitted change\(s\) are left out \(a\.py, new\.py\)"
    ):
        run = co.Exec("true", image=image).start(backend="local")
    run.wait(timeout=60)
    pinned = run.tree.image
    assert pinned.copy_commit == head and pinned.copy_repo == str(repo)
    assert image.copy_commit is None  # the user's Image is left as it was


def test_install_pip_dot_needs_code_to_install() -> None:
    with pytest.raises(co.ParameterError, match=r"'\.' installs the copied project"):
        co.Image("python:3.11-slim", install_pip=["."])
