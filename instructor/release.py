"""``release``: nbgrader generate_assignment, solutions/ -> assignments/, and the hidden tests'
references computed once from each master (instructor/reference_cache.py)."""

from __future__ import annotations

from pathlib import Path

from .coursedir import ROOT, assignments_in, check_result, course_api


def release(course=ROOT, names=None, log=print, references: bool = True) -> list[Path]:
    """``nbgrader generate_assignment`` for each assignment; returns the release notebooks.

    Args:
        references: also compute each assignment's reference file from its master (autograde
            does it before grading when the file is missing or stale).
    """
    from . import reference_cache

    course = Path(course)
    api = course_api(course)
    written = []
    for name in assignments_in(course, names):
        log(f"release  {name}")
        check_result(api.generate_assignment(name, force=True, create=True), f"generate_assignment {name}")
        written += sorted((course / "assignments" / name).glob("*.ipynb"))
        if references:
            reference_cache.ensure(course, name, log=log)
    return written
