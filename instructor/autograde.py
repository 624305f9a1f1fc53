"""``autograde``: every submission graded on its own, and a note of what went wrong in each."""

from __future__ import annotations

import json
import re
import time
import warnings
from pathlib import Path

from .coursedir import NOTES_DIR, ROOT, assignments_in, course_api, submitted_students


def _invalid_notebooks(folder: Path) -> list[str]:
    """Notebooks in ``folder`` that cannot be read as notebooks at all, with the reason."""
    import nbformat

    bad = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nbformat.read(path, as_version=4)
        except Exception as exc:  # nbformat.reader.NotJSONError, UnicodeDecodeError, ...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            bad.append(f"{path.name} is not a valid notebook (not readable as JSON/nbformat: {reason})")
    return bad


def _cell_problems(course: Path, name: str, student: str, log_text: str) -> list[str]:
    """What went wrong in a submission that nbgrader did grade, cell by cell.

    Compares the submission with the release (cells deleted, retyped, edited, turned into
    markdown) and reads the autograded notebook's error outputs (exceptions, timeouts, a dead
    kernel). A solution cell that merely raises ``NotImplementedError`` (not done) is not listed:
    the failing tests after it are.
    """
    import nbformat
    from nbgrader import utils

    problems = []
    for line in log_text.splitlines():
        m = re.search(r"Missing grade cell (\S+) encountered", line)
        if m:
            problems.append(f"cell '{m.group(1)}' was missing from the submission; nbgrader put the original back")
        m = re.search(r"Missing read-only cell (\S+) encountered", line)
        if m:
            problems.append(f"read-only cell '{m.group(1)}' was missing from the submission; the grader put it back")
        m = re.search(r"Attribute 'cell_type' for cell (\S+) has changed! \(should be: (.*?), got: (.*?)\)", line)
        if m:
            problems.append(f"cell '{m.group(1)}' was turned into {m.group(3)} (it must be {m.group(2)}); nbgrader changed it back")
    for path in sorted((course / "autograded" / student / name).glob("*.ipynb")):
        release_nb = nbformat.read(course / "assignments" / name / path.name, as_version=4)
        submitted_nb = nbformat.read(course / "submitted" / student / name / path.name, as_version=4)
        submitted = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in submitted_nb.cells}
        for cell in release_nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid is None:
                continue
            if gid not in submitted:
                if utils.is_solution(cell) and not utils.is_grade(cell):
                    problems.append(f"solution cell '{gid}' lost its nbgrader metadata (deleted, or retyped into "
                                    "a new cell): whatever code you typed instead ran as an ordinary cell")
            elif utils.is_locked(cell) and submitted[gid].source != cell.source:
                problems.append(f"read-only cell '{gid}' was edited; nbgrader restored the original")
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if any(o.get("ename") == "CellTimeoutError" for o in errors):
                errors = [o for o in errors if o.get("ename") != "KeyboardInterrupt"]
            for out in errors:
                if out.get("ename") == "NotImplementedError" and not utils.is_grade(cell):
                    continue
                evalue = str(out.get("evalue", "")).strip().splitlines()
                detail = f"{out.get('ename')}: {evalue[0][:200]}" if evalue else out.get("ename")
                kind = {
                    "CellTimeoutError": "ran past the time limit (an infinite loop?) and was interrupted",
                    "KernelDied": "killed the Python kernel",
                    "KernelHung": "ran past the time limit and hung the kernel (it ignored the interrupt)",
                    "GradingError": "stopped the grader",
                    "NotRun": "was not run",
                }.get(out.get("ename"), "failed" if utils.is_grade(cell) else "raised an error")
                problems.append(f"'{gid}' {kind}: {detail}")
    return problems


def autograde(course=ROOT, names=None, students=None, timeout=None, log=print, protected=None) -> dict:
    """Autograde every submission (or ``students``) of each assignment, one at a time.

    Returns ``{(assignment, student): note}`` where ``note`` is the dict also saved in
    ``autograded/.course/<assignment>/<student>.json``: ``graded`` (nbgrader produced a graded
    notebook that stands), ``problems`` (list of plain-English lines), ``flags`` (code for manual
    review, instructor/integrity.py), ``tampering`` (always empty: the sandbox,
    instructor/sandbox.py, keeps the course directory out of the kernel's reach; ``protected``
    is unused and kept for old callers) and ``seconds``.
    """
    from . import integrity

    course = Path(course).resolve()
    api = course_api(course, timeout=timeout)
    notes = {}
    for name in assignments_in(course, names):
        who = students or submitted_students(course, name)
        for i, student in enumerate(who, 1):
            notes[(name, student)] = note = _autograde_one(course, api, integrity, name, student)
            if note["graded"]:
                flag = "ok" if not note["problems"] else "graded, with problems"
            else:
                flag = "NOT GRADED"
            if note["flags"]:
                flag += f", FLAGGED for manual review ({len(note['flags'])})"
            log(f"autograde {name} [{i}/{len(who)}] {student}: {flag} ({note['seconds']:.1f} s)")
            lines = [f"flag: {integrity.describe(f)}" for f in note["flags"]] + note["problems"]
            for p in lines[:6]:
                log(f"    - {p}")
            if len(lines) > 6:
                log(f"    - ... and {len(lines) - 6} more (autograded/.course/{name}/{student}.json)")
    return notes


def _autograde_one(course: Path, api, integrity, name: str, student: str) -> dict:
    start = time.perf_counter()
    folder = course / "submitted" / student / name
    invalid = _invalid_notebooks(folder)
    flags = integrity.check_submission(folder, course / "assignments" / name)
    with warnings.catch_warnings():
        # nbgrader's gradebook makes SQLAlchemy warn about its own session handling (harmless)
        warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session")
        result = api.autograde(name, student, force=True, create=True)
    graded = bool(result.get("success"))
    problems = list(invalid)
    if graded:
        problems += _cell_problems(course, name, student, result.get("log", ""))
    elif not invalid:
        tail = (result.get("error") or result.get("log") or "").strip().splitlines()[-1:]
        problems.append("nbgrader could not grade this submission: " + (tail[0] if tail else "unknown error"))
    note = {
        "assignment": name,
        "student": student,
        "graded": graded,
        "problems": problems,
        "flags": flags,
        "tampering": [],
        "seconds": round(time.perf_counter() - start, 2),
    }
    out = course / NOTES_DIR / name / f"{student}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(note, indent=1, ensure_ascii=False), encoding="utf-8")
    return note
