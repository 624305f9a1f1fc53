"""The student repository (``make student-repo``), its setup cell and README, and the model answers
(``make answers``). The Colab-like run of the same repository is tests/test_colab_path.py (slow)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import nbformat
import pytest

from instructor.answers import answers, html_text
from instructor.student_repo import student_repo
from instructor.submissions import solution_text
from source_lib import colab

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(p.parent.name for p in (ROOT / "assignments").glob("*/*.ipynb") if p.stem == p.parent.name)
HIDDEN = re.compile(r"#+\s*(BEGIN|END) HIDDEN TESTS")


def _configured() -> tuple[str, str]:
    """(student repository, instructors' repository), read from pyproject.toml here, not by colab."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)
    return config["tool"]["course"]["student_repository"].rstrip("/"), config["project"]["urls"]["Repository"]


def _git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The student repository, built in two releases: ps1 first, then everything."""
    repo = tmp_path_factory.mktemp("s") / "student_repo"
    first = student_repo(ROOT, repo, assignments=[NAMES[0]], wheel=False, log=lambda m: None)
    ps1_version = hashlib.sha256((repo / "assignments" / NAMES[0] / f"{NAMES[0]}.ipynb").read_bytes()).hexdigest()[:8]
    second = student_repo(ROOT, repo, wheel=False, log=lambda m: None)
    versions = {n: hashlib.sha256((repo / "assignments" / n / f"{n}.ipynb").read_bytes()).hexdigest()[:8] for n in NAMES}
    return repo, first, second, ps1_version, versions


def test_student_repo_is_one_commit_per_release_naming_assignments_and_versions(built):
    repo, (_, first), (_, second), ps1_version, versions = built
    assert first and second and first != second
    log = _git(repo, "log", "--format=%H%n%B%n--end--").split("--end--")
    assert len([entry for entry in log if entry.strip()]) == 2
    first_message = _git(repo, "log", "-1", "--format=%B", first)
    assert first_message.splitlines()[0] == f"Release {NAMES[0]} {ps1_version}"
    second_message = _git(repo, "log", "-1", "--format=%B", second)
    for name in NAMES[1:]:
        assert f"{name} {versions[name]}" in second_message.splitlines()[0]
    assert f"- {NAMES[0]} {versions[NAMES[0]]} (unchanged)" in second_message
    assert _git(repo, "status", "--porcelain") == ""
    # nothing changed: no new commit
    assert student_repo(ROOT, repo, wheel=False, log=lambda m: None)[1] is None
    assert _git(repo, "rev-parse", "HEAD").strip() == second


def test_student_repo_holds_what_students_get_and_nothing_else(built):
    repo = built[0]
    files = set(_git(repo, "ls-files").split())
    for name in NAMES:
        assert f"assignments/{name}/{name}.ipynb" in files
    for lecture in (ROOT / "lectures").glob("*.ipynb"):
        assert f"lectures/{lecture.name}" in files
    assert {"README.md", "pyproject.toml", "environment.yml", "LICENSE", "source_lib/__init__.py"} <= files
    assert not [f for f in files if f.startswith(("solutions/", "instructor/", "tests/", "benchmarks/", "deploy/"))]
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", "gradebook.db"))]


def test_every_badge_setup_cell_and_link_of_the_student_copies_points_at_the_student_repository(built):
    repo = built[0]
    student, instructors = _configured()
    owner_name = student.removeprefix("https://github.com/")
    assert student != instructors
    for path in sorted(repo.rglob("*.ipynb")):
        rel = path.relative_to(repo).as_posix()
        nb = nbformat.read(path, as_version=4)
        assert f'"{student}"' in nb.cells[0].source and "SOURCE_LIB_REPOSITORY" in nb.cells[0].source
        assert f"(https://colab.research.google.com/github/{owner_name}/blob/main/{rel})" in nb.cells[1].source
        for cell in nb.cells:
            for target in re.findall(r"\]\(([^)\s]+)\)", cell.source) if cell.cell_type == "markdown" else []:
                assert re.match(r"https?://", target) or target.startswith("#"), f"{rel}: relative link {target}"
                _assert_points_into(repo, student, target, rel)
    for path in repo.rglob("*"):  # the instructors' (private) URL appears nowhere
        if path.is_file() and ".git" not in path.relative_to(repo).parts:
            assert instructors not in path.read_text(encoding="utf-8", errors="replace"), path


def _assert_points_into(repo: Path, student: str, target: str, where: str) -> None:
    """A link into GitHub or Colab must name the student repository and a file that exists there."""
    owner_name = student.removeprefix("https://github.com/")
    colab_link = re.fullmatch(r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/main/(.+)", target)
    github_link = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?(?:/blob/main/(.+))?", target)
    for match in (colab_link, github_link):
        if match:
            assert match.group(1) == owner_name, f"{where}: {target} is not the student repository"
            if match.group(2):
                assert (repo / match.group(2).split("#")[0]).is_file(), f"{where}: {target} names a missing file"


def test_student_readme_has_badges_laptop_steps_and_the_self_check(built):
    repo = built[0]
    student, _ = _configured()
    readme = (repo / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    colab_targets = [t for t in targets if t.startswith("https://colab.research.google.com/github/")]
    notebooks = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*.ipynb"))
    assert sorted(t.split("/blob/main/")[1] for t in colab_targets) == notebooks  # one badge per notebook
    for target in targets:
        if target.startswith("http"):
            _assert_points_into(repo, student, target, "README.md")
        else:
            assert (repo / target).exists(), f"README.md links to a missing {target}"
    assert f"git clone {student}.git" in readme and f"cd {student.rsplit('/', 1)[1]}" in readme
    assert "environment.yml" in readme and (repo / "environment.yml").is_file()
    assert "self-check" in readme.lower() and "hidden tests" in readme.lower()
    for path in re.findall(r"`((?:lectures|assignments|source_lib)/)`", readme):
        assert (repo / path).is_dir()


def _copy_course(dest: Path) -> Path:
    """A copy of the course's inputs of student-repo (the tests change the copy, never the course)."""
    for folder in ("lectures", "assignments", "solutions", "source_lib"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for file in ("pyproject.toml", "environment.yml", "LICENSE"):
        shutil.copy2(ROOT / file, dest / file)
    return dest


def _a_solution_line(name: str) -> str:
    """A long line of a master's solution that the release does not show."""
    release = "\n".join(c.source for c in nbformat.read(ROOT / "assignments" / name / f"{name}.ipynb", as_version=4).cells)
    master = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    for cell in master.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            for line in solution_text(cell.source).splitlines():
                if len(line.strip()) >= 30 and line.strip() not in release:
                    return line
    raise AssertionError("no solution line found")


@pytest.mark.parametrize("attack", ["marker-free solution line in a lecture", "master copied over its release"])
def test_student_repo_refuses_to_build_when_a_solution_would_leak(attack, tmp_path):
    course = _copy_course(tmp_path / "course")
    name = NAMES[0]
    if attack.startswith("marker-free"):  # an instructor pastes a worked solution into a lecture's code
        lecture = sorted((course / "lectures").glob("*.ipynb"))[0]
        nb = nbformat.read(lecture, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(_a_solution_line(name).strip()))
        nbformat.write(nb, lecture)
    else:  # the master itself lands in assignments/ (a copy instead of `make release`)
        shutil.copy2(course / "solutions" / name / f"{name}.ipynb", course / "assignments" / name / f"{name}.ipynb")
    repo = tmp_path / "student_repo"
    with pytest.raises(RuntimeError, match="refusing to build"):
        student_repo(course, repo, wheel=False, log=lambda m: None)
    assert not repo.exists(), "nothing may be written, let alone committed"


# --- the student setup cell, run for real (pip included) in a Python without source_lib ---------


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A venv without source_lib whose pip is ours (a .pth names our site-packages as a plain
    path entry: pip imports from it, our editable source_lib is not installed there)."""
    base = tmp_path_factory.mktemp("bare")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
    python = base / "venv" / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "our_pip.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('source_lib'), u.find_spec('pip') is not None)"],
                           capture_output=True, text=True, cwd=base, check=True).stdout.split()
    assert probe == ["None", "True"]
    return python


def _run_setup_cell(python, cwd, env_url=None):
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_LIB_REPOSITORY"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", GIT_TERMINAL_PROMPT="0")  # nothing may go online
    if env_url:
        env["SOURCE_LIB_REPOSITORY"] = env_url
    return subprocess.run([str(python), "-c", colab.student_setup_cell_source()], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _paragraph(stderr: str) -> str:
    line = [l for l in stderr.splitlines() if l.startswith("RuntimeError: ")]
    assert len(line) == 1, stderr[-2000:]
    return line[0].removeprefix("RuntimeError: ")


def test_setup_cell_is_a_no_op_where_source_lib_is_installed(tmp_path):
    done = subprocess.run([sys.executable, "-c", colab.student_setup_cell_source("file:///nowhere")], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "SOURCE_LIB_REPOSITORY": "file:///nowhere"})
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_setup_cell_failure_is_one_paragraph_naming_the_url_and_the_remedy(bare_python, tmp_path):
    url = (tmp_path / "no-such-repository").as_uri()
    done = _run_setup_cell(bare_python, tmp_path, env_url=url)
    assert done.returncode != 0
    text = _paragraph(done.stderr)
    assert "Could not install source_lib" in text and f"source_lib @ git+{url}" in text
    assert f"Check that {url} opens" in text and "SOURCE_LIB_REPOSITORY" in text
    assert "source_lib-*.whl" in text and "upload it next to this notebook" in text
    assert "Traceback" in done.stderr and "CalledProcessError" not in done.stderr  # `from None`: one error


def test_setup_cell_installs_a_wheel_next_to_the_notebook_when_no_url_is_set(bare_python, tmp_path):
    wheel = tmp_path / "source_lib-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"not a zip: this wheel is broken on purpose, so pip fails offline")
    done = _run_setup_cell(bare_python, tmp_path)
    text = _paragraph(done.stderr)
    assert f"`pip install {wheel.name}` failed" in text  # the wheel was chosen over the repository
    assert colab.student_repository_url() in text  # and the message still names where else to look
    # an explicit URL wins over the wheel
    url = (tmp_path / "mirror").as_uri()
    assert f"source_lib @ git+{url}" in _paragraph(_run_setup_cell(bare_python, tmp_path, env_url=url).stderr)


def test_the_student_repository_url_is_written_only_in_pyproject():
    student, _ = _configured()
    assert colab.student_repository_url() == student
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    holders = [f for f in files if Path(ROOT, f).is_file() and not f.endswith(".ipynb")
               and re.search(re.escape(student) + r"(?![\w-])", Path(ROOT, f).read_text(encoding="utf-8", errors="ignore"))]
    assert holders == ["pyproject.toml"]


# --- make answers ---------------------------------------------------------------------------


def _hidden_lines(master) -> set[str]:
    hidden, shown = set(), set()
    for cell in master.cells:
        inside = False
        for line in cell.source.splitlines():
            if HIDDEN.search(line):
                inside = "BEGIN" in line
                continue
            (hidden if inside else shown).add(line.strip())
    return {line for line in hidden - shown if len(line) >= 12}


@pytest.mark.parametrize("name", NAMES)
def test_answers_contain_the_solutions_and_no_hidden_test(name, tmp_path):
    notebook, page = answers(ROOT, name, tmp_path / name, execute=False, log=lambda m: None)
    master = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    nb = nbformat.read(notebook, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    html = html_text(page.read_text(encoding="utf-8"))
    solutions = [(c.cell_type, solution_text(c.source)) for c in master.cells
                 if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(solutions) >= 3 and "markdown" in {kind for kind, _ in solutions}
    for kind, solution in solutions:  # every solution and model answer, whole; the page shows the code verbatim
        assert solution in text
        if kind == "code":
            assert all(line in html for line in solution.splitlines() if line.strip()), solution[:80]
    assert any(c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade") for c in master.cells)
    hidden = _hidden_lines(master)
    assert len(hidden) >= 3
    assert [line for line in hidden if line in text or line in html] == []
    assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in html
    assert not [c for c in nb.cells if c.cell_type == "code" and "# YOUR CODE HERE" in c.source]
    assert not [c for c in nb.cells if c.source.strip() == "YOUR ANSWER HERE"]
    assert not any("nbgrader" in c.metadata for c in nb.cells)
    assert nb.cells[0].source == colab.student_setup_cell_source()
