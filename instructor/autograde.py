"""``autograde``: every submission graded on its own task, and a note of what went wrong in each.

Each (student, assignment) is one task (instructor/worker.py), run one after another, on a local
pool of ``jobs`` worker processes, or on a Dask cluster (instructor/pool.py). Before fanning out,
the gradebook gets every student (instructor/gradebook.py); afterwards each task touches only its
own submission's rows and its own note. A re-run skips a submission whose files, assignment
version and sandbox status are unchanged since it was graded (unless ``force``).
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

from .coursedir import ROOT, assignments_in, course_api, gradebook_url, submitted_students


def invalid_notebooks(folder: Path) -> list[str]:
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


def cell_problems(course: Path, name: str, student: str, log_text: str) -> list[str]:
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


def autograde(course=ROOT, names=None, students=None, timeout=None, log=print, protected=None,
              jobs: int = 1, force: bool = False, scheduler: str | None = None, progress: bool | None = None) -> dict:
    """Autograde every submission (or ``students``) of each assignment, each as its own task.

    Returns ``{(assignment, student): note}`` where ``note`` is the dict also saved in
    ``autograded/.course/<assignment>/<student>.json``: ``graded`` (nbgrader produced a graded
    notebook that stands), ``problems`` (list of plain-English lines), ``flags`` (code for manual
    review, instructor/integrity.py), ``tampering``, ``seconds``, ``cpu_seconds``, ``sandboxed``
    and what an incremental re-run compares (instructor/worker.py).

    Args:
        jobs: tasks at once on this machine (1: in this process; more: a local Dask cluster).
        force: grade again even a submission that is unchanged since it was last graded.
        scheduler: ``tcp://host:8786``, a Dask cluster's scheduler (needs a PostgreSQL gradebook).
        progress: show a progress bar (default: when stderr is a terminal).
        protected: unused (the sandbox, instructor/sandbox.py, keeps the course directory out of
            the kernel's reach); kept for old callers.

    Ctrl-C stops the run; every grade stored so far stays, and the next run grades the rest.
    """
    from tqdm import tqdm

    from . import gradebook, pool, reference_cache, worker

    course = Path(course).resolve()
    db_url = gradebook_url(course)
    if scheduler and db_url.startswith("sqlite"):
        raise ValueError("--scheduler needs a gradebook every worker can reach: set GRADEBOOK_URL=postgresql://... "
                         "(a SQLite file on a shared disk is not safe for many machines)")
    run_id = uuid.uuid4().hex[:12]
    sandbox_on = worker.sandboxed(course_api(course, timeout=timeout, db_url=db_url))
    tasks, notes, kept = [], {}, []
    for name in assignments_in(course, names):
        version = worker.tree_sha256(course / "solutions" / name, course / "nbgrader_config.py")
        submitted = submitted_students(course, name)
        for student in [s for s in students if s in submitted] if students else submitted:
            task = worker.Task(str(course), name, student, db_url, timeout, run_id,
                               worker.tree_sha256(course / "submitted" / student / name), version)
            old = None if force else worker.read_note(course, name, student)
            if old and _unchanged(course, old, task, sandbox_on):
                notes[(name, student)] = old
                kept.append(task)
            else:
                tasks.append(task)
    gradebook.prepare(course, {t.student for t in tasks}, db_url)
    for name in dict.fromkeys(t.assignment for t in tasks):  # the hidden tests' references, once
        reference_cache.ensure(course, name, log=log)
    tasks = longest_first(course, tasks)
    if kept:
        log(f"autograde: {len(kept)} submission(s) unchanged since they were graded, kept (--force grades them again)")
    totals = {n: sum(t.assignment == n for t in tasks) for n in dict.fromkeys(t.assignment for t in tasks)}
    done = dict.fromkeys(totals, 0)
    failures = 0
    bar = tqdm(total=len(tasks), desc="autograde", unit="submission", file=sys.stderr, dynamic_ncols=True,
               disable=None if progress is None else not progress)  # None: only on a terminal

    def say(line: str) -> None:  # a log line above the bar, never through it
        with tqdm.external_write_mode(file=sys.stderr):
            log(line)

    try:
        for task, note, error in pool.run(tasks, worker.grade, jobs=jobs, scheduler=scheduler) if tasks else ():
            if error is not None:
                note = _failed_note(task, error)
                worker.write_note(course, note)
            notes[(task.assignment, task.student)] = note
            done[task.assignment] += 1
            failures += not note["graded"]
            _log_note(say, note, done[task.assignment], totals[task.assignment])
            bar.set_postfix(failed=failures, refresh=False)
            bar.update()
    except KeyboardInterrupt:
        # Ctrl-C reaches only this process and its workers (which ignore it): each kernel has a
        # session of its own, so no cell was interrupted, and every note a worker wrote stands
        graded = sum(done.values())
        log(f"autograde: interrupted; {graded} graded in this run and stored, {len(tasks) - graded} left "
            "(run autograde again to grade them)")
        raise
    finally:
        bar.close()
    return dict(sorted(notes.items()))


def longest_first(course: Path, tasks: list) -> list:
    """``tasks`` with the assignments whose notebooks do the most work first (by the master's own
    run, :func:`instructor.reference_cache.master_seconds`), each assignment's in the order given.

    The longest tasks start first and the short ones come last, so that no worker sits idle
    for long while another finishes the class's last, long task (the "longest processing time
    first" rule). Dask keeps the order: ``Client.map`` gives its tasks priorities in it.

    Reference: https://en.wikipedia.org/wiki/Longest-processing-time-first_scheduling
    """
    from . import reference_cache

    cost = {name: reference_cache.master_seconds(course, name) or 0.0 for name in {t.assignment for t in tasks}}
    return sorted(tasks, key=lambda t: -cost[t.assignment])


def default_jobs() -> int:
    """The CPUs this process may use (the default of ``--jobs``)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _unchanged(course: Path, note: dict, task, sandbox_on: bool) -> bool:
    """Whether ``note`` still stands for ``task``: same files, same assignment, same sandbox status."""
    if note.get("submission_sha256") != task.submission_sha256 or note.get("assignment_version") != task.assignment_version:
        return False
    if note.get("sandboxed") != sandbox_on:
        return False
    graded_copy = course / "autograded" / task.student / task.assignment
    return not note.get("graded") or graded_copy.is_dir()


def _failed_note(task, error: BaseException) -> dict:
    """The note of a task the grader itself could not finish (its worker kept dying, or a bug)."""
    reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
    return {"assignment": task.assignment, "student": task.student, "graded": False,
            "problems": [f"the grader could not finish this submission ({reason}); ask the instructor to re-run it"],
            "flags": [], "tampering": [], "seconds": 0.0, "cpu_seconds": 0.0, "sandboxed": None,
            "submission_sha256": task.submission_sha256, "assignment_version": task.assignment_version,
            "run_id": None}


def _log_note(log, note: dict, i: int, total: int) -> None:
    """One line per student (and up to six lines of what went wrong)."""
    from . import integrity

    if note["tampering"]:
        flag = "TAMPERING, scored 0"
    elif note["graded"]:
        flag = "ok" if not note["problems"] else "graded, with problems"
    else:
        flag = "NOT GRADED"
    if note["flags"]:
        flag += f", FLAGGED for manual review ({len(note['flags'])})"
    if note.get("sandboxed") is False:
        flag += ", graded unsandboxed"
    name, student = note["assignment"], note["student"]
    log(f"autograde {name} [{i}/{total}] {student}: {flag} ({note['seconds']:.1f} s)")
    lines = note["tampering"] + [f"flag: {integrity.describe(f)}" for f in note["flags"]] + note["problems"]
    for p in lines[:6]:
        log(f"    - {p}")
    if len(lines) > 6:
        log(f"    - ... and {len(lines) - 6} more (autograded/.course/{name}/{student}.json)")
