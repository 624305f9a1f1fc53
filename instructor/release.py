"""``release``: nbgrader generate_assignment, solutions/ -> assignments/."""

from __future__ import annotations

from pathlib import Path

from .coursedir import ROOT, assignments_in, check_result, course_api


def release(course=ROOT, names=None, log=print) -> list[Path]:
    """``nbgrader generate_assignment`` for each assignment; returns the release notebooks."""
    course = Path(course)
    api = course_api(course)
    written = []
    for name in assignments_in(course, names):
        log(f"release  {name}")
        check_result(api.generate_assignment(name, force=True, create=True), f"generate_assignment {name}")
        written += sorted((course / "assignments" / name).glob("*.ipynb"))
    return written
