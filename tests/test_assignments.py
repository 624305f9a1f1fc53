"""The three nbgrader assignments: structure of the masters, the committed release, and no leaks
of solutions or hidden tests into assignments/ or the student bundle (no kernels run here)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "instructor"))

import course  # noqa: E402
from source_lib import colab  # noqa: E402

NAMES = ["ps1_activation_derivatives", "ps2_losses", "ps3_vanishing_gradient"]
# the lecture's review questions ("Вопросы", the last slide), one per assignment
QUESTIONS = {
    "ps1_activation_derivatives": "Основное отличие сигмоидальной функции от ReLU",
    "ps2_losses": "Какие функции потерь предпочтительнее",
    "ps3_vanishing_gradient": "Что такое проблема «затухающего градиента»",
}
MARKER = re.compile(r"#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)")


def _nb(folder, name):
    return nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4)


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def _secret_lines(name) -> set[str]:
    """Lines of the master that students must never see: solutions and hidden tests."""
    secret, public = set(), set()
    for cell in _nb("solutions", name).cells:
        inside = False
        for line in cell.source.splitlines():
            if MARKER.search(line):
                inside = line.strip().split()[1] == "BEGIN"
                continue
            (secret if inside else public).add(line.strip())
        if cell.cell_type == "markdown" and _meta(cell).get("solution"):
            secret |= {line.strip() for line in cell.source.splitlines()}
    # a line that the master also shows outside the secret parts (a visible check) is not secret
    return {line for line in secret - public if len(line) >= 12}


def test_the_course_lists_every_assignment():
    assert course.assignments_in(ROOT) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_master_structure(name):
    nb = _nb("solutions", name)
    nbformat.validate(nb)
    graded = [c for c in nb.cells if _meta(c).get("grade")]
    tests = [c for c in graded if c.cell_type == "code"]
    manual = [c for c in graded if c.cell_type == "markdown"]
    assert all(_meta(c).get("points", 0) > 0 for c in graded), "points on every graded cell"
    assert len(tests) >= 5 and all("### BEGIN HIDDEN TESTS" in c.source for c in tests)
    assert all(_meta(c).get("locked") for c in tests)
    assert len(manual) == 1 and _meta(manual[0]).get("solution"), "one free-response cell, graded by hand"
    question = nb.cells[nb.cells.index(manual[0]) - 1].source
    assert QUESTIONS[name] in question
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    assert len(ids) == len(set(ids))
    # first the Colab setup cell, last the self-check that runs the visible tests
    assert nb.cells[0].source == colab.setup_cell_source()
    assert _meta(nb.cells[-1]).get("grade_id") == "self_check" and nb.cells[-1].source == "self_check()"
    checks = next(c for c in nb.cells if _meta(c).get("grade_id") == "visible_checks").source
    for cell in tests:  # every test cell runs its visible check, which the self-check also runs
        qid = _meta(cell)["grade_id"].removeprefix("test_")
        assert f'CHECKS["{qid}"][1]()' in cell.source and f'"{qid}"' in checks


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_have_no_outputs(name):
    for folder in ("solutions", "assignments"):
        for cell in _nb(folder, name).cells:
            assert not cell.get("outputs") and not cell.get("execution_count"), (folder, name)


@pytest.mark.parametrize("name", NAMES)
def test_release_carries_current_colab_cells(name):
    assert colab.check(ROOT / "assignments" / name / f"{name}.ipynb") == []


@pytest.mark.slow
def test_release_regenerates_to_the_committed_copy(tmp_path):
    """assignments/ is exactly what nbgrader generate_assignment makes of solutions/ today."""
    c = course.scratch_course(tmp_path / "course", NAMES)
    fresh = course.release(c, NAMES, log=lambda m: None)
    assert [p.relative_to(c) for p in fresh] == [p.relative_to(ROOT) for p in sorted(ROOT.glob("assignments/*/*.ipynb"))]
    for path in fresh:
        committed = json.loads((ROOT / path.relative_to(c)).read_text(encoding="utf-8"))
        assert json.loads(path.read_text(encoding="utf-8")) == committed, (
            f"{path.relative_to(c)} is stale: run `make release` and commit assignments/")


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_or_hidden_test_reaches_the_release(name):
    text = (ROOT / "assignments" / name / f"{name}.ipynb").read_text(encoding="utf-8")
    release = "\n".join(c.source for c in _nb("assignments", name).cells)
    assert not MARKER.search(text) and "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    secret = _secret_lines(name)
    assert len(secret) > 20
    assert [line for line in secret if line in release] == []
    assert release.count("raise NotImplementedError()") >= 3 and "YOUR ANSWER HERE" in release


@pytest.mark.slow
def test_student_bundle_has_no_solutions_or_hidden_tests(tmp_path):
    out = course.student_bundle(ROOT, tmp_path / "bundle", log=lambda m: None)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {f"assignments/{n}/{n}.ipynb" for n in NAMES} <= files
    assert "README.md" in files and "pyproject.toml" in files and "source_lib/__init__.py" in files
    assert not any(f.startswith(("solutions/", "instructor/", "tests/", "submitted/", "autograded/")) for f in files)
    assert not any(f.endswith("gradebook.db") for f in files)
    assert course.bundle_leaks(out) == []
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*")
                     if p.is_file() and p.suffix in {".ipynb", ".py", ".md"})
    for name in NAMES:  # long lines only: the library and the lectures may share short idioms
        assert [line for line in _secret_lines(name) if len(line) >= 25 and line in text] == [], name
    assert (tmp_path / "bundle.zip").stat().st_size > 10_000
