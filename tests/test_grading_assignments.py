"""End to end for ps2_losses and ps3_vanishing_gradient (ps1 is in test_grading.py):
the solution scores full automatic points, the untouched release scores 0, and a partial
submission scores exactly the points of the questions it answered. One temporary course
directory and one autograde run for both assignments."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "instructor"))

import course  # noqa: E402
import submissions as S  # noqa: E402

pytestmark = pytest.mark.slow

NAMES = ["ps2_losses", "ps3_vanishing_gradient"]
# the tests the partial student must lose: those of the solution cells in PARTIAL_BLANK
PARTIAL_LOST = {
    "ps2_losses": {"test_other_losses", "test_slowdown"},
    "ps3_vanishing_gradient": {"test_remedies", "test_noise_schedule"},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    c = course.scratch_course(tmp_path_factory.mktemp("course") / "course", NAMES)
    course.release(c, NAMES, log=lambda m: None)
    for name in NAMES:
        S.write(S.filled(c, name), c, "solution", name)
        S.write(S.blank(c, name), c, "release", name)
        S.write(S.filled(c, name, skip=S.PARTIAL_BLANK[name]), c, "partial", name)
    notes = course.autograde(c, NAMES, timeout=60, log=lambda m: None)
    totals, questions = course.collect_grades(c, NAMES)
    return dict(course=c, notes=notes, totals=totals, questions=questions)


def _rubric(name):
    master = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in master.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


@pytest.mark.parametrize("name", NAMES)
def test_scores_follow_the_rubric(graded, name):
    rubric = _rubric(name)
    assert PARTIAL_LOST[name] < set(rubric)
    got = {(q["student"], q["question"]): q["score"] for q in graded["questions"]
           if q["assignment"] == name and q["graded_by"] == "auto"}
    for question, points in rubric.items():
        assert got[("solution", question)] == points, question
        assert got[("release", question)] == 0, question
        assert got[("partial", question)] == (0 if question in PARTIAL_LOST[name] else points), question
    rows = {r["student"]: r for r in graded["totals"] if r["assignment"] == name}
    assert rows["solution"]["auto_score"] == rows["solution"]["max_auto_score"] == sum(rubric.values())
    assert rows["release"]["score"] == 0
    assert rows["partial"]["auto_score"] == sum(p for q, p in rubric.items() if q not in PARTIAL_LOST[name])


@pytest.mark.parametrize("name", NAMES)
def test_solution_runs_clean(graded, name):
    """No error output anywhere in the graded solution, hidden tests included."""
    assert graded["notes"][(name, "solution")]["problems"] == []
    nb = nbformat.read(graded["course"] / "autograded" / "solution" / name / f"{name}.ipynb", as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
