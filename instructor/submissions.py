"""Synthetic student submissions, built from the release and the masters.

The demo class (``make demo``), the grading tests and the benchmark all use these, so they stay
in step with the assignments: a "perfect" submission is the release with every solution cell
filled in from ``solutions/``; the others remove, break or damage parts of it the way real
students do.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

#: Solution cells the demo's "partial" student leaves as released (the rubric in the tests
#: says how many points that costs).
PARTIAL_BLANK = {
    "ps1_activation_derivatives": ["mish", "derivative_table"],
    "ps2_losses": ["other_losses", "slowdown"],
    "ps3_vanishing_gradient": ["remedies", "noise_schedule"],
}

_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$|^\s*=+\s*(BEGIN|END) MARK SCHEME\s*=+\s*$")


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _index(nb, grade_id: str) -> int:
    for i, cell in enumerate(nb.cells):
        if _grade_id(cell) == grade_id:
            return i
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def solution_text(source: str) -> str:
    """A master cell's source with the ``### BEGIN/END SOLUTION`` marker lines removed."""
    return "\n".join(line for line in source.splitlines() if not _MARKER.match(line))


def paths(course: Path, assignment: str) -> tuple[Path, Path]:
    """(release notebook, master notebook) of a one-notebook assignment."""
    course = Path(course)
    return (course / "assignments" / assignment / f"{assignment}.ipynb",
            course / "solutions" / assignment / f"{assignment}.ipynb")


def filled(course: Path, assignment: str, skip=()):
    """The release with every solution cell (except those in ``skip``) answered from the master."""
    release_path, master_path = paths(course, assignment)
    nb = nbformat.read(release_path, as_version=4)
    master = nbformat.read(master_path, as_version=4)
    answers = {_grade_id(c): solution_text(c.source) for c in master.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in answers and gid not in skip:
            cell.source = answers[gid]
    return nb


def blank(course: Path, assignment: str):
    """The untouched release."""
    return nbformat.read(paths(course, assignment)[0], as_version=4)


# --- damage, the way students do it ---------------------------------------------------------


def delete_cell(nb, grade_id: str):
    nb = copy.deepcopy(nb)
    del nb.cells[_index(nb, grade_id)]
    return nb


def retype_cell(nb, grade_id: str):
    """Delete a cell and type its code again into a new cell: same code, no nbgrader metadata."""
    nb = copy.deepcopy(nb)
    i = _index(nb, grade_id)
    nb.cells[i] = new_code_cell(nb.cells[i].source)
    return nb


def to_markdown(nb, grade_id: str):
    """Turn a code cell into a markdown cell (the "M" key in Jupyter)."""
    nb = copy.deepcopy(nb)
    cell = nb.cells[_index(nb, grade_id)]
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)
    return nb


def prepend(nb, grade_id: str, code: str):
    """Put ``code`` at the top of a cell (an import that fails, a loop, ``os._exit``)."""
    nb = copy.deepcopy(nb)
    cell = nb.cells[_index(nb, grade_id)]
    cell.source = code + "\n" + cell.source
    return nb


def append(nb, grade_id: str, code: str):
    """Put ``code`` at the end of a cell."""
    nb = copy.deepcopy(nb)
    cell = nb.cells[_index(nb, grade_id)]
    cell.source = cell.source + "\n" + code
    return nb


def replace_cell(nb, grade_id: str, code: str):
    """Replace a cell's source with ``code`` (its nbgrader metadata stays)."""
    nb = copy.deepcopy(nb)
    nb.cells[_index(nb, grade_id)].source = code
    return nb


def write(nb, course: Path, student: str, assignment: str, invalid_json: bool = False) -> Path:
    """Save ``nb`` as ``submitted/<student>/<assignment>/<assignment>.ipynb``.

    ``invalid_json=True`` writes the first half of the file only (a truncated upload).
    """
    path = Path(course) / "submitted" / student / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb)
    path.write_text(text[: len(text) // 2] if invalid_json else text, encoding="utf-8")
    return path


def demo_class(course: Path, assignment: str) -> dict[str, Path]:
    """The demo's four students: perfect, partial, blank and broken.

    "broken" filled in everything, but deleted a test cell, retyped a solution cell, turned a
    solution cell into markdown and left a failing import in another one.
    """
    solutions = [c for c in blank(course, assignment).cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    tests = [c for c in blank(course, assignment).cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
             and c.cell_type == "code"]
    broken = filled(course, assignment)
    broken = delete_cell(broken, _grade_id(tests[0]))
    broken = retype_cell(broken, _grade_id(solutions[1]))
    broken = to_markdown(broken, _grade_id(solutions[2]))
    broken = prepend(broken, _grade_id(solutions[0]), "import numpy_helpers_from_my_laptop  # not installed here")
    return {
        "perfect": write(filled(course, assignment), course, "perfect", assignment),
        "partial": write(filled(course, assignment, skip=PARTIAL_BLANK[assignment]), course, "partial", assignment),
        "blank": write(blank(course, assignment), course, "blank", assignment),
        "broken": write(broken, course, "broken", assignment),
    }
