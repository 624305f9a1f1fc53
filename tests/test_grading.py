"""The grading pipeline survives a class of real students (issue 6, section 4).

One temporary course directory and ONE autograde run of the smallest assignment
(ps1_activation_derivatives) for a whole class: a perfect and a partial submission, the
untouched release, and one student for each way a submission breaks. Expected scores come from
the rubric (the points in the master's metadata) and which questions each student broke, never
from the grader's own output.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "instructor"))

import course  # noqa: E402
import submissions as S  # noqa: E402

pytestmark = pytest.mark.slow

A = "ps1_activation_derivatives"
TIMEOUT = 20  # per cell; the solution's slowest cell takes ~2 s

# student -> the tests that student must lose (everything else must score full points)
LOST = {
    "perfect": [],
    "partial": ["test_mish", "test_derivative_table"],  # PARTIAL_BLANK: mish and the table left blank
    "blank": "all",
    "deleted_test": [],  # nbgrader puts the test back, the code is right
    "retyped": [],  # the solution code runs as an ordinary cell
    "markdown": [],  # nbgrader turns the solution cell back into code
    "import_error": ["test_sigmoid", "test_derivative_table"],  # sigmoid's cell fails; the table needs it
    "infinite_loop": ["test_mish", "test_derivative_table"],  # mish's cell is interrupted
    "kernel_crash": ["test_relu6", "test_softplus", "test_swish", "test_mish", "test_derivative_table"],
    "invalid_json": "all",
}
# student -> words its feedback must contain (the failure, named)
NAMED = {
    "deleted_test": "was missing from the submission",
    "retyped": "lost its nbgrader metadata",
    "markdown": "was turned into markdown",
    "import_error": "ModuleNotFoundError",
    "infinite_loop": "ran past the time limit",
    "kernel_crash": "killed the Python kernel",
    "invalid_json": "not a valid Jupyter",
}


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    c = course.scratch_course(tmp_path_factory.mktemp("course") / "course", [A])
    course.release(c, [A], log=lambda m: None)
    full = S.filled(c, A)
    S.write(full, c, "perfect", A)
    S.write(S.filled(c, A, skip=S.PARTIAL_BLANK[A]), c, "partial", A)
    S.write(S.blank(c, A), c, "blank", A)
    S.write(S.delete_cell(full, "test_relu"), c, "deleted_test", A)
    S.write(S.retype_cell(full, "tanh"), c, "retyped", A)
    S.write(S.to_markdown(full, "elu"), c, "markdown", A)
    S.write(S.prepend(full, "sigmoid", "import numpy_helpers_from_my_laptop"), c, "import_error", A)
    S.write(S.prepend(full, "mish", "while True:\n    pass"), c, "infinite_loop", A)
    S.write(S.prepend(full, "relu6", "import os\nos._exit(1)"), c, "kernel_crash", A)
    S.write(full, c, "invalid_json", A, invalid_json=True)
    before = _hashes(c / "submitted")
    notes = course.autograde(c, [A], timeout=TIMEOUT, log=lambda m: None)
    after_autograde = _hashes(c / "submitted")
    pages = course.feedback(c, [A], log=lambda m: None)
    paths = course.grades(c, [A], out_dir=c / "grades", log=lambda m: None)
    totals, questions = course.collect_grades(c, [A])
    return dict(course=c, notes=notes, before=before, after_autograde=after_autograde,
                after=_hashes(c / "submitted"), pages=pages, paths=paths, totals=totals, questions=questions)


def _rubric() -> dict[str, float]:
    """Points of each auto-graded test cell, read from the master (the instructor's rubric)."""
    master = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in master.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def test_autograde_finishes_for_the_whole_class(graded):
    assert {s for (_, s) in graded["notes"]} == set(LOST)
    assert {r["student"] for r in graded["totals"]} == set(LOST)
    # nbgrader graded every notebook it could open; only the invalid JSON could not be
    assert [s for (_, s), n in graded["notes"].items() if not n["graded"]] == ["invalid_json"]


def test_each_student_gets_exactly_what_they_earned(graded):
    rubric = _rubric()
    got = {(q["student"], q["question"]): q["score"] for q in graded["questions"] if q["graded_by"] == "auto"}
    for student, lost in LOST.items():
        lost = set(rubric) if lost == "all" else set(lost)
        for question, points in rubric.items():
            want = 0.0 if question in lost else points
            assert got[(student, question)] == want, (student, question)
        row = next(r for r in graded["totals"] if r["student"] == student)
        assert row["auto_score"] == sum(p for q, p in rubric.items() if q not in lost), student


def test_untouched_release_scores_zero_including_the_review_question(graded):
    row = next(r for r in graded["totals"] if r["student"] == "blank")
    assert row["score"] == 0 and not row["needs_manual_grade"]


def test_answered_review_question_waits_for_manual_grading(graded):
    manual = [q for q in graded["questions"] if q["graded_by"] == "manual" and q["student"] == "perfect"]
    assert len(manual) == 1 and manual[0]["question"] == "review_question"
    assert manual[0]["needs_manual_grade"] and manual[0]["max_score"] > 0


def test_no_submitted_file_is_modified_or_lost(graded):
    assert len(graded["before"]) == len(LOST)
    assert graded["after_autograde"] == graded["before"]
    assert graded["after"] == graded["before"]


def test_every_failure_is_named_in_the_feedback(graded):
    c = graded["course"]
    for student, words in NAMED.items():
        page = c / "feedback" / student / A / f"{A}.html"
        assert page.exists(), student
        assert words in page.read_text(encoding="utf-8"), (student, words)
    # a student without problems gets nbgrader's page alone, with no notes block
    perfect = (c / "feedback" / "perfect" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "course-autograde-notes" not in perfect


def test_self_check_cell_reports_per_question(graded):
    c = graded["course"]

    def self_check_text(student):
        nb = nbformat.read(c / "autograded" / student / A / f"{A}.ipynb", as_version=4)
        cell = next(x for x in nb.cells if x.metadata.get("nbgrader", {}).get("grade_id") == "self_check")
        return "".join(o.get("text", "") for o in cell.outputs)

    assert "11/11 questions pass their visible tests (24/24 automatic points)" in self_check_text("perfect")
    blank = self_check_text("blank")
    assert blank.count("not done yet") == 11 and "0/11 questions" in blank
    partial = self_check_text("partial")
    assert "9/11 questions" in partial and "18/24" in partial


def test_grades_csv_and_plot(graded):
    with open(graded["paths"]["grades_csv"], newline="", encoding="utf-8") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(LOST)
    assert float(rows["perfect"]["auto_score"]) == float(rows["perfect"]["max_auto_score"]) == sum(_rubric().values())
    assert "not a valid notebook" in rows["invalid_json"]["note"]
    png = graded["paths"]["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
