"""The Colab path, offline: what a student gets, run in an environment like Colab's.

One module-scoped setup builds the student repository into a temp dir (``make student-repo``'s
code) and a fresh venv with Colab's preinstalled versions (``tests/colab_pins.txt``, which says
where they come from): no nbgrader, no Jupyter server, no ``source_lib``. The venv's build starts
in the background when the session's tests are collected, and this module runs last
(tests/conftest.py), so its download overlaps the rest of the suite. Each lecture and each
released assignment is then copied alone into an empty directory and executed there by nbclient
with a kernel of that venv, the way Colab opens one notebook from GitHub (the three lectures at
the same time, each in its own hard-linked copy of the venv). Its setup cell really
runs ``pip install "source_lib @ git+file://<student repo>"`` (the URL from the
``SOURCE_LIB_REPOSITORY`` override), or installs the wheel placed next to the notebook. Before each
notebook ``source_lib`` is uninstalled again: every Colab session starts without it.

Needs PyPI (or pip's cache) for the pinned packages; nothing else leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from conftest import COLAB_VENV, assert_lecture_ran_clean, close_thread_event_loop

ROOT = Path(__file__).resolve().parents[1]
PINS = Path(__file__).with_name("colab_pins.txt")
LECTURES = sorted(p.name for p in (ROOT / "lectures").glob("*.ipynb"))
ASSIGNMENTS = sorted(p.parent.name for p in (ROOT / "assignments").glob("*/*.ipynb") if p.stem == p.parent.name)
SECRET_REGION = re.compile(r"#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)")
SUMMARY = re.compile(r"(\d+)\s*/\s*(\d+) questions? pass")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _pip_env() -> dict:
    """The environment pip runs in: this machine's pip configuration files (local mirrors that
    Colab does not have, whose warnings would land in the notebooks) are not read."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # Colab does not set it; source_lib must quiet TensorFlow itself
    return env


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """The student repository and source_lib's wheel, built as `make student-repo` builds them."""
    from instructor.student_repo import build_wheel, student_repo

    base = tmp_path_factory.mktemp("colab")
    repo, commit = student_repo(ROOT, base / "student_repo", wheel=False, log=lambda m: None)
    assert commit is not None
    wheel = build_wheel(repo, base / "wheel")
    return repo, wheel


def start_colab_venv(base: Path) -> subprocess.Popen:
    """Start building the Colab-like venv in ``base / "venv"`` and return the running build.

    ``python -m venv``, then ``pip install -r tests/colab_pins.txt`` with :func:`_pip_env`: Colab's
    ~1 GB of wheels (TensorFlow's the largest), downloaded and unpacked; measured on the shared
    2-core machine, 222 s of wall for 101 CPU-s, the rest waiting on the network and the disk.
    tests/conftest.py starts it when the selected tests are known and one needs it, before the
    first test runs, so that it overlaps the tests that run before this module's; the
    :func:`colab_python` fixture waits for it. Its output goes to ``base / "pip.log"``.

    Args:
        base: an empty directory of the session's temporary tree.

    Returns:
        The build's process (a shell in a session of its own, so that it can be killed whole).
    """
    venv = base / "venv"
    script = (f"{shlex.quote(sys.executable)} -m venv {shlex.quote(str(venv))} && "
              f"{shlex.quote(str(venv / 'bin' / 'python'))} -m pip install -q -r {shlex.quote(str(PINS))}")
    with open(base / "pip.log", "wb") as log:
        return subprocess.Popen(["/bin/sh", "-c", script], env=_pip_env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture(scope="module")
def colab_python(request, tmp_path_factory):
    """A fresh venv with Colab's pinned packages and a kernelspec for it; returns (python, kernel dir)."""
    build = request.config.stash.get(COLAB_VENV, None)  # started at collection (tests/conftest.py)
    if build is None:  # under pytest-xdist: built by the worker that runs these tests, when it needs it
        base = tmp_path_factory.mktemp("colab_venv")
        build = request.config.stash[COLAB_VENV] = (start_colab_venv(base), base)
    proc, base = build
    proc.wait()
    log = (base / "pip.log").read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0, f"building the venv with Colab's pins failed:\n{log[-6000:]}"
    python = base / "venv" / "bin" / "python"
    frozen = subprocess.run([str(python), "-m", "pip", "freeze"], env=_pip_env(), capture_output=True,
                            text=True, check=True).stdout.lower()
    for pin in PINS.read_text().splitlines():
        if pin and not pin.startswith("#") and not pin.startswith(("pip==", "setuptools==", "wheel==")):
            name, version = pin.lower().split("==")
            assert re.search(rf"^{re.escape(name).replace('_', '[-_]')}=={re.escape(version)}$", frozen, re.M), pin
    for absent in ("nbgrader", "jupyter_server", "jupyter-server", "notebook", "jupyterlab", "source-lib", "source_lib"):
        assert not re.search(rf"^{absent}==", frozen, re.M), f"{absent} must not be in the Colab-like venv"
    kernels = base / "kernels"
    (kernels / "colab").mkdir(parents=True)
    (kernels / "colab" / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python"}))
    return python, kernels


def _run(colab_python, nb, workdir: Path, url: str | None, allow_errors=False, timeout=600):
    """Execute ``nb`` alone in ``workdir`` with the Colab-like kernel, ``source_lib`` uninstalled
    first; ``url`` is the setup cell's SOURCE_LIB_REPOSITORY (None: unset)."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    python, kernels = colab_python
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "source_lib"], env=_pip_env(),
                   capture_output=True, check=True)
    env = _pip_env()
    env.pop("SOURCE_LIB_REPOSITORY", None)
    # ipykernel forwards what the kernel's process writes to fd 2 (TensorFlow's C++ log, pip's
    # warnings from the setup cell) into the notebook, as Colab shows it, only outside pytest
    env.pop("PYTEST_CURRENT_TEST", None)
    if url:
        env["SOURCE_LIB_REPOSITORY"] = url
    km = KernelManager(kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    try:  # the kernel's environment is env (passed, not set in os.environ: lectures run in threads at once)
        NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors,
                       resources={"metadata": {"path": str(workdir)}}).execute(env=env)
    finally:  # nbclient shuts down only a kernel manager it made itself
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


def _alone(src: Path, workdir: Path) -> nbformat.NotebookNode:
    workdir.mkdir(parents=True)
    shutil.copy2(src, workdir / src.name)
    return nbformat.read(workdir / src.name, as_version=4)


def _outputs(nb, kind=None):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind is None or o.output_type == kind]


def _installed(colab_python) -> bool:
    python, _ = colab_python
    return subprocess.run([str(python), "-m", "pip", "show", "-q", "source_lib"], env=_pip_env(),
                          capture_output=True).returncode == 0


def _clone(colab_python, tag: str) -> tuple[Path, Path]:
    """A copy of the Colab-like venv and a kernelspec for it: (python, kernel dir).

    Hard links (``cp -al``): a second or two and no disk. A notebook's run changes only
    source_lib's own files in it (uninstalled, then installed by the setup cell, as new files),
    so neither the original nor another copy sees them.
    """
    python, kernels = colab_python
    base = kernels.parent
    venv = base / f"venv-{tag}"
    subprocess.run(["cp", "-al", str(python.parents[1]), str(venv)], check=True)
    spec = base / f"kernels-{tag}"
    (spec / "colab").mkdir(parents=True)
    argv = json.loads((kernels / "colab" / "kernel.json").read_text())["argv"]
    (spec / "colab" / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), *argv[1:]], "display_name": "Colab-like", "language": "python"}))
    return venv / "bin" / "python", spec


_LECTURE_RUNS: dict = {}  # lecture name -> Future of (executed notebook, source_lib installed after it)


def _lecture_run(name, repo, colab, workdir):
    """One lecture in a pool thread (:func:`_lecture`)."""
    try:
        nb = _run(colab, _alone(repo / "lectures" / name, workdir), workdir, url=repo.resolve().as_uri())
    finally:
        close_thread_event_loop()
    return nb, _installed(colab)


def _lecture(request, name, student, colab_python, tmp_path_factory):
    """``name`` run from the student repository once per session.

    The first call starts every lecture the session's selected tests run, at the same time, each
    in its own copy of the Colab-like venv (:func:`_clone`: each a fresh Colab session, as one
    after the other in the one venv were), and waits for ``name``'s. A lecture's kernel keeps
    about one core busy, so together they take much less wall time than one by one.
    """
    if name not in _LECTURE_RUNS:
        wanted = {name} | {item.callspec.params["name"] for item in request.session.items
                           if getattr(item, "function", None) is test_lecture_runs_clean_from_the_student_repository}
        wanted -= set(_LECTURE_RUNS)
        repo, _ = student
        pool = ThreadPoolExecutor(len(wanted), thread_name_prefix="colab-lecture")
        for lecture in sorted(wanted):
            tag = Path(lecture).stem
            colab = _clone(colab_python, tag)
            _LECTURE_RUNS[lecture] = pool.submit(_lecture_run, lecture, repo, colab,
                                                 tmp_path_factory.mktemp(f"lecture-{tag}") / "content")
        pool.shutdown(wait=False)
    return _LECTURE_RUNS[name].result()


@pytest.mark.parametrize("name", LECTURES)
def test_lecture_runs_clean_from_the_student_repository(name, student, colab_python, request, tmp_path_factory):
    nb, installed = _lecture(request, name, student, colab_python, tmp_path_factory)
    assert installed, "the setup cell did not install source_lib"
    # the checks of tests/test_lectures.py's run, here with Colab's versions: no error, no red text
    # (stderr, fd 2 included), its figures, the device report, the MNIST line, no NaN
    assert_lecture_ran_clean(nb, name)


def _self_check(nb) -> tuple[int, int]:
    text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []) if o.output_type == "stream")
    found = SUMMARY.findall(text)
    assert found, f"the last cell printed no self-check summary:\n{text[-1500:]}"
    passed, total = map(int, found[-1])
    return passed, total


def _perfect(release_nb, name):
    """The student copy with every solution cell answered from the master (nbgrader's markers out)."""
    from instructor.submissions import solution_text

    master = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: solution_text(c.source) for c in master.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    filled = 0
    for cell in release_nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source, filled = answers[gid], filled + 1
    assert filled >= 3
    return release_nb


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_assignment_self_check_blank_from_the_wheel_and_perfect_from_git(name, student, colab_python, tmp_path):
    repo, wheel = student
    release = repo / "assignments" / name / f"{name}.ipynb"

    # blank, with the wheel uploaded next to it and no URL override: the setup cell installs the wheel
    blank_dir = tmp_path / "blank"
    blank = _alone(release, blank_dir)
    shutil.copy2(wheel, blank_dir / wheel.name)
    blank = _run(colab_python, blank, blank_dir, url=None, allow_errors=True)
    assert not any(o.ename == "RuntimeError" for o in _outputs(blank, "error")), "the setup cell failed"
    assert _installed(colab_python), "the setup cell did not install the wheel"
    passed, total = _self_check(blank)
    assert (passed, total) == (0, total) and total >= 3

    # perfect, from the student repository through git+file://
    perfect = _run(colab_python, _perfect(_alone(release, tmp_path / "perfect"), name), tmp_path / "perfect",
                   url=repo.resolve().as_uri())
    assert _outputs(perfect, "error") == []
    assert _self_check(perfect) == (total, total)


def test_student_repository_has_no_solution_or_hidden_test_text(student):
    """Checked independently of the builder's own leak check: every long line of the masters'
    solution and hidden-test regions (less the library's own code, which a hidden test may share),
    searched in every file and in the whole git history."""
    repo, wheel = student
    solution, hidden, public = set(), set(), set()
    for master in (ROOT / "solutions").glob("*/*.ipynb"):
        for cell in nbformat.read(master, as_version=4).cells:
            inside = None
            for line in cell.source.splitlines():
                match = SECRET_REGION.search(line)
                if match:
                    inside = (hidden if "HIDDEN" in line else solution) if match.group(1) == "BEGIN" else None
                    continue
                (public if inside is None else inside).add(line.strip())
    library = {line.strip() for p in (ROOT / "source_lib").rglob("*.py") for line in p.read_text().splitlines()}
    secret = {s for s in (solution | (hidden - library)) - public if len(s) >= 30}
    assert len(secret) > 50
    history = subprocess.run(["git", "-C", str(repo), "log", "-p", "--all"], capture_output=True, text=True,
                             check=True).stdout
    files = [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.relative_to(repo).parts]
    texts = {str(p.relative_to(repo)): p.read_text(encoding="utf-8", errors="replace") for p in files}
    texts["git history"] = history
    for where, text in texts.items():
        if where.endswith(".ipynb"):
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, where
        assert [s for s in secret if s in text or json.dumps(s)[1:-1] in text] == [], where
    assert not (repo / "solutions").exists() and not (repo / "instructor").exists()
