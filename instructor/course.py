"""The instructor's verbs, thin wrappers over nbgrader (``make release`` etc. call them).

    python instructor/course.py release          # solutions/ -> assignments/ (nbgrader generate_assignment)
    python instructor/course.py autograde        # every submission in submitted/ (nbgrader autograde)
    python instructor/course.py feedback         # feedback/<student>/<assignment>/*.html
    python instructor/course.py grades           # build/grades/grades.csv, questions.csv, grades.png
    python instructor/course.py student-bundle   # build/student_bundle/ and build/student_bundle.zip

Options: ``--course DIR`` (default: the repository root), ``--assignment NAME`` (repeatable),
``--timeout SECONDS`` (autograde: per-cell limit, overrides nbgrader_config.py).

Everything that grades goes through nbgrader (``NbGraderAPI``). This module adds what a class
of real students needs around it: each submission is autograded on its own, so one broken
notebook never stops the others; whatever went wrong (invalid JSON, a timeout, a dead kernel,
a deleted or retyped cell, an exception) is recorded in ``autograded/.course/`` and named at
the top of that student's feedback; and the grades are exported with a plot.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import re
import shutil
import sys
import time
import warnings
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# nbgrader runs the `alembic` executable when it creates a gradebook: make the one installed
# beside this Python findable even when the virtual environment is not activated (make, cron).
if str(Path(sys.executable).parent) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("ps1_activation_derivatives", "ps2_losses", "ps3_vanishing_gradient")
NOTES_DIR = Path("autograded") / ".course"  # hidden from nbgrader's autograded/<student> globs


# --- nbgrader ---------------------------------------------------------------------------------


def course_api(course: Path | str = ROOT, timeout: float | None = None):
    """An ``NbGraderAPI`` for the course directory ``course``, configured by its nbgrader_config.py."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config, PyFileConfigLoader

    course = Path(course).resolve()
    config = Config()
    config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    config.CourseDirectory.root = str(course)
    if timeout is not None:
        config.Execute.timeout = int(timeout)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def assignments_in(course: Path, names=None) -> list[str]:
    """The assignments to work on: ``names`` if given, else every folder of solutions/."""
    if names:
        return list(names)
    return sorted(p.name for p in (Path(course) / "solutions").iterdir() if p.is_dir())


def scratch_course(dest: Path | str, names=None, source: Path | str = ROOT) -> Path:
    """A fresh course directory at ``dest`` with this course's config and masters (and no state):
    for the demo, the tests and the benchmark, so they never touch the real gradebook."""
    dest, source = Path(dest), Path(source)
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "instructor").mkdir(parents=True)
    shutil.copy2(source / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copy2(source / "instructor" / "robust_execute.py", dest / "instructor" / "robust_execute.py")
    for name in assignments_in(source, names):
        shutil.copytree(source / "solutions" / name, dest / "solutions" / name)
    return dest


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")


def release(course=ROOT, names=None, log=print) -> list[Path]:
    """``nbgrader generate_assignment`` for each assignment; returns the release notebooks."""
    course = Path(course)
    api = course_api(course)
    written = []
    for name in assignments_in(course, names):
        log(f"release  {name}")
        _check(api.generate_assignment(name, force=True, create=True), f"generate_assignment {name}")
        written += sorted((course / "assignments" / name).glob("*.ipynb"))
    return written


# --- autograde --------------------------------------------------------------------------------


def submitted_students(course: Path, name: str) -> list[str]:
    return sorted(p.parent.name for p in (Path(course) / "submitted").glob(f"*/{name}") if p.is_dir())


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
    review, instructor/integrity.py), ``tampering`` (what the submission changed outside its own
    results, instructor/guard.py) and ``seconds``.

    Around each submission, :class:`guard.CourseGuard` snapshots the gradebook and checks the
    protected files (``protected``: default :func:`guard.default_protected`). A submission that
    changed anything else is undone (files and gradebook restored) and scores 0 for that
    assignment: its autograded copy is removed, and the note says what it did.
    """
    import guard as guard_mod
    import integrity

    course = Path(course).resolve()
    api = course_api(course, timeout=timeout)
    notes = {}
    guard = guard_mod.CourseGuard(course, protected)
    try:
        for name in assignments_in(course, names):
            who = students or submitted_students(course, name)
            for i, student in enumerate(who, 1):
                notes[(name, student)] = note = _autograde_one(course, api, guard, integrity, name, student)
                if note["tampering"]:
                    flag = "TAMPERING, scored 0"
                elif note["graded"]:
                    flag = "ok" if not note["problems"] else "graded, with problems"
                else:
                    flag = "NOT GRADED"
                if note["flags"]:
                    flag += f", FLAGGED for manual review ({len(note['flags'])})"
                log(f"autograde {name} [{i}/{len(who)}] {student}: {flag} ({note['seconds']:.1f} s)")
                lines = note["tampering"] + [f"flag: {integrity.describe(f)}" for f in note["flags"]] + note["problems"]
                for p in lines[:6]:
                    log(f"    - {p}")
                if len(lines) > 6:
                    log(f"    - ... and {len(lines) - 6} more (autograded/.course/{name}/{student}.json)")
    finally:
        guard.close()
    return notes


def _autograde_one(course: Path, api, guard, integrity, name: str, student: str) -> dict:
    start = time.perf_counter()
    folder = course / "submitted" / student / name
    invalid = _invalid_notebooks(folder)
    flags = integrity.check_submission(folder, course / "assignments" / name)
    guard.begin()
    with warnings.catch_warnings():
        # nbgrader's gradebook makes SQLAlchemy warn about its own session handling (harmless)
        warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session")
        result = api.autograde(name, student, force=True, create=True)
    own = course / "autograded" / student / name
    tampering = guard.verify(name, student, allowed=[own])
    graded = bool(result.get("success")) and not tampering
    problems = list(invalid)
    if tampering:
        shutil.rmtree(own, ignore_errors=True)
        guard.verify(name, student, allowed=[own])  # forget the removed copy
        tampering = [f"tampering: {t}" for t in tampering]
        problems.append("this submission changed files or grades outside its own results while it ran; "
                        "everything was put back and it scores 0 until the instructor has looked at it")
    elif graded:
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
        "tampering": tampering,
        "seconds": round(time.perf_counter() - start, 2),
    }
    out = course / NOTES_DIR / name / f"{student}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(note, indent=1, ensure_ascii=False), encoding="utf-8")
    guard.accept(out)
    return note


def load_notes(course: Path, name: str) -> dict[str, dict]:
    folder = Path(course) / NOTES_DIR / name
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


# --- feedback ---------------------------------------------------------------------------------

_NOTES_HTML = """<div id="course-autograde-notes" style="border:2px solid #c0392b;padding:0.8em 1.2em;\
margin:1em auto;max-width:60em;font-family:sans-serif;background:#fdf2f2">
<h2 style="margin-top:0">What went wrong while grading ({student}, {assignment})</h2>
<ul>{items}</ul>
<p>Each problem above cost only the points of the tests it broke; everything else was graded as usual.</p>
</div>"""

_FLAGS_HTML = """<div id="course-integrity-flags" style="border:2px solid #d68910;padding:0.8em 1.2em;\
margin:1em auto;max-width:60em;font-family:sans-serif;background:#fef5e7">
<h2 style="margin-top:0">FLAGGED for manual review ({student}, {assignment})</h2>
<p>Your code does things that can change how the tests behave, or uses what this assignment asks
you not to use. The automatic score below stands for now; your instructor will read these cells
and may change it.</p>
<ul>{items}</ul>
</div>"""

_NOT_GRADED_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Feedback: {assignment} ({student})</title></head>
<body style="font-family:sans-serif;max-width:60em;margin:2em auto">
<h1>Feedback: {assignment}</h1>
<p><b>Student:</b> {student}. <b>Score: 0 / {max_score:g}</b>.</p>
<p>Your submitted file <code>{notebook}</code> could not be graded: {reason}.</p>
<ul>{items}</ul>
<p>{advice}</p>
</body></html>"""
_INVALID_REASON = "it is <b>not a valid Jupyter notebook</b> (not valid JSON) and nbgrader could not open it, so no test ran"
_INVALID_ADVICE = ("This usually happens when the file was edited in a text editor, truncated during upload, or "
                   "saved under the wrong name. Open it in Jupyter or Colab: if it does not open, download your "
                   "notebook again (File &rarr; Download &rarr; .ipynb) and resubmit it, or ask the instructor.")
_FAILED_REASON = "<b>nbgrader failed while grading it</b>"
_FAILED_ADVICE = ("The reason is above; it is also listed in the instructor's grade report (grades.csv). "
                  "Ask your instructor to look at your file.")
_TAMPER_REASON = ("<b>tampering</b>: while it ran, it changed files or grades outside its own results "
                  "(listed below). Everything was put back, and the submission scores 0 until the instructor "
                  "has reviewed it")
_TAMPER_ADVICE = "The grade report names this submission; your instructor will contact you."


def _items(problems) -> str:
    return "".join(f"<li>{html.escape(p)}</li>" for p in problems)


def feedback(course=ROOT, names=None, log=print) -> list[Path]:
    """``nbgrader generate_feedback``, plus the course's notes.

    A student whose grading had problems finds them listed at the top of the feedback page, and
    a FLAGGED submission the flags (cell, line, reason); a notebook nbgrader could not open, or a
    submission that tampered with the course, gets a feedback page written here instead.
    """
    import integrity

    course = Path(course)
    api = course_api(course)
    written = []
    for name in assignments_in(course, names):
        notes = load_notes(course, name)
        if any(n["graded"] for n in notes.values()):
            log(f"feedback {name}: nbgrader generate_feedback")
            _check(api.generate_feedback(name, force=True), f"generate_feedback {name}")
        max_score = _max_score(course, name)
        for student, note in notes.items():
            folder = course / "feedback" / student / name
            flags = [integrity.describe(f) for f in note.get("flags", [])]
            if note["graded"]:
                for page in sorted(folder.glob("*.html")):
                    blocks = ""
                    if flags:
                        blocks += _FLAGS_HTML.format(student=html.escape(student), assignment=name, items=_items(flags))
                    if note["problems"]:
                        blocks += _NOTES_HTML.format(student=html.escape(student), assignment=name,
                                                     items=_items(note["problems"]))
                    if blocks:
                        text = page.read_text(encoding="utf-8")
                        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + blocks, text, count=1)
                        page.write_text(text, encoding="utf-8")
                    written.append(page)
            else:
                if folder.exists():
                    shutil.rmtree(folder)  # an older page must not survive
                folder.mkdir(parents=True, exist_ok=True)
                for nb in sorted((course / "submitted" / student / name).glob("*.ipynb")) or [Path(f"{name}.ipynb")]:
                    page = folder / (nb.stem + ".html")
                    invalid = any("is not a valid notebook" in p for p in note["problems"])
                    reason, advice = ((_TAMPER_REASON, _TAMPER_ADVICE) if note.get("tampering") else
                                      (_INVALID_REASON, _INVALID_ADVICE) if invalid else (_FAILED_REASON, _FAILED_ADVICE))
                    items = note.get("tampering", []) + note["problems"] + [f"flagged: {f}" for f in flags]
                    page.write_text(
                        _NOT_GRADED_HTML.format(
                            assignment=name, student=html.escape(student), notebook=html.escape(nb.name),
                            max_score=max_score, items=_items(items), reason=reason, advice=advice,
                        ),
                        encoding="utf-8",
                    )
                    written.append(page)
                log(f"feedback {name}: {student} could not be graded; wrote {folder.relative_to(course)}")
    return written


# --- grades -----------------------------------------------------------------------------------


def _max_score(course: Path, name: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        return float(gb.find_assignment(name).max_score)


def collect_grades(course=ROOT, names=None) -> tuple[list[dict], list[dict]]:
    """Grades from the gradebook: one row per (student, assignment) and one per question.

    Per (student, assignment): ``score`` (nbgrader's total, hand-given points included),
    ``auto_score`` (what the autograder gave the code cells: ``Grade.auto_score``, never a
    grader's override), ``manual_score`` (points given by hand: the free-response answers, and
    ``manual_adjustment``, the net change a grader made to automatic points by overriding them),
    ``flagged`` (instructor/integrity.py: code for manual review) and ``tampering``.
    A student who submitted but could not be graded at all (invalid notebook, tampering) gets a
    row with score 0 and the reason in ``note``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course)
    totals, questions = [], []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name in assignments_in(course, names):
            try:
                assignment = gb.find_assignment(name)
            except MissingEntry:
                continue
            notes = load_notes(course, name)
            for student in sorted(set(submitted_students(course, name)) | set(notes)):
                note = notes.get(student, {})
                flags = note.get("flags", [])
                row = dict(student=student, assignment=name, score=0.0, max_score=float(assignment.max_score),
                           auto_score=0.0, max_auto_score=0.0, manual_score=0.0, max_manual_score=0.0,
                           manual_adjustment=0.0, needs_manual_grade=False,
                           flagged=f"FLAGGED ({len(flags)})" if flags else "",
                           flags="; ".join(f"{f.get('cell')} line {f.get('line')}: {f.get('reason')}" for f in flags),
                           tampering="; ".join(note.get("tampering", [])),
                           problems=len(note.get("problems", [])), note="; ".join(note.get("problems", [])))
                try:
                    sub = gb.find_submission(name, student)
                except MissingEntry:
                    sub = None
                if sub is not None and note.get("graded", True):
                    row["score"] = float(sub.score)
                    row["needs_manual_grade"] = bool(sub.needs_manual_grade)
                    for nb in sub.notebooks:
                        for grade in nb.grades:
                            auto = grade.cell.cell_type == "code"
                            auto_points = float(grade.auto_score or 0.0)
                            questions.append(dict(
                                student=student, assignment=name, question=grade.name,
                                score=float(grade.score), auto_score=auto_points if auto else 0.0,
                                max_score=float(grade.max_score), graded_by="auto" if auto else "manual",
                                needs_manual_grade=bool(grade.needs_manual_grade),
                            ))
                            if auto:
                                row["auto_score"] += auto_points
                                row["max_auto_score"] += float(grade.max_score)
                                if grade.manual_score is not None:
                                    row["manual_adjustment"] += float(grade.manual_score) - auto_points
                            else:
                                row["manual_score"] += float(grade.score)
                                row["max_manual_score"] += float(grade.max_score)
                    row["manual_score"] += row["manual_adjustment"]
                else:
                    for cell in (c for nb in assignment.notebooks for c in nb.grade_cells):
                        auto = cell.cell_type == "code"
                        row["max_auto_score" if auto else "max_manual_score"] += float(cell.max_score)
                        questions.append(dict(student=student, assignment=name, question=cell.name, score=0.0,
                                              auto_score=0.0, max_score=float(cell.max_score),
                                              graded_by="auto" if auto else "manual", needs_manual_grade=False))
                totals.append(row)
    return totals, questions


def format_grade_table(totals: list[dict]) -> str:
    """Students as rows, assignments as columns (automatic points / automatic maximum)."""
    names = sorted({r["assignment"] for r in totals})
    students = sorted({r["student"] for r in totals})
    cell = {(r["student"], r["assignment"]): r for r in totals}
    short = {n: n.split("_")[0] for n in names}
    width = max([14] + [len(s) + 2 for s in students])
    lines = [f"{'student':<{width}}" + "".join(f"{short[n]:>16}" for n in names) + "   notes"]
    for s in students:
        parts, notes = [], []
        for n in names:
            r = cell.get((s, n))
            if r is None:
                parts.append(f"{'—':>16}")
                continue
            mark = "T" if r["tampering"] else ("F" if r["flagged"] else " ")
            parts.append(f"{r['auto_score']:>8g} / {r['max_auto_score']:<4g} {mark} ")
            if r["tampering"]:
                notes.append(f"{short[n]}: TAMPERING (scored 0)")
            elif r["flagged"]:
                notes.append(f"{short[n]}: {r['flagged']} for manual review")
            if r["problems"] and not r["tampering"]:
                notes.append(f"{short[n]}: {r['problems']} problem(s)")
            if r["manual_adjustment"]:
                notes.append(f"{short[n]}: {r['manual_adjustment']:+g} by hand")
        lines.append(f"{s:<{width}}" + "".join(parts) + "   " + ", ".join(notes))
    lines.append("(automatic points as the autograder gave them; F = FLAGGED for manual review, T = tampering; "
                 "the review question and any overrides are graded by hand in formgrader: grades.csv has them)")
    return "\n".join(lines)


def grades(course=ROOT, names=None, out_dir=None, log=print) -> dict[str, Path]:
    """Write grades.csv (per student and assignment), questions.csv and grades.png."""
    course = Path(course)
    out_dir = Path(out_dir) if out_dir else course / "build" / "grades"
    out_dir.mkdir(parents=True, exist_ok=True)
    totals, questions = collect_grades(course, names)
    paths = {"grades_csv": out_dir / "grades.csv", "questions_csv": out_dir / "questions.csv",
             "png": out_dir / "grades.png"}
    for path, rows in ((paths["grades_csv"], totals), (paths["questions_csv"], questions)):
        with open(path, "w", newline="", encoding="utf-8") as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    plot_grades(totals, questions, paths["png"])
    log(format_grade_table(totals))
    log(f"grades: wrote {', '.join(str(p.relative_to(course) if p.is_relative_to(course) else p) for p in paths.values())}")
    return paths


def plot_grades(totals, questions, path: Path) -> None:
    """Score histogram (percent of automatic points) and pass rate per auto-graded question."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r["assignment"] for r in totals})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 2]})
    percents = [[100 * r["auto_score"] / r["max_auto_score"] for r in totals
                 if r["assignment"] == n and r["max_auto_score"]] for n in names]
    axes[0].hist(percents, bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.001], label=names, stacked=True)
    axes[0].set_xlabel("automatic score, % of the maximum")
    axes[0].set_ylabel("submissions")
    axes[0].set_title("Score histogram")
    if names:
        axes[0].legend(fontsize=8)
    labels, rates, colors = [], [], []
    for k, n in enumerate(names):
        qs = [q for q in questions if q["assignment"] == n and q["graded_by"] == "auto"]
        for qname in dict.fromkeys(q["question"] for q in qs):
            rows = [q for q in qs if q["question"] == qname]
            labels.append(f"{n.split('_')[0]}:{qname.removeprefix('test_')}")
            rates.append(100 * sum(q["score"] >= q["max_score"] for q in rows) / len(rows))
            colors.append(f"C{k}")
    axes[1].bar(range(len(rates)), rates, color=colors)
    axes[1].set_xticks(range(len(rates)), labels, rotation=75, ha="right", fontsize=7)
    axes[1].set_ylim(0, 100)
    axes[1].set_ylabel("students with full points, %")
    axes[1].set_title("Pass rate per question")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- student bundle ---------------------------------------------------------------------------

STUDENT_README = """# Neural networks in practice, lecture 1: student kit

Основы практического использования нейронных сетей. Лекция 1: функции активации, функции потерь,
затухающий градиент.

## What is here
- `lectures/` — the lecture notebooks: read them, run them, change them.
- `assignments/` — three graded assignments (nbgrader):
  `ps1_activation_derivatives`, `ps2_losses`, `ps3_vanishing_gradient`.
- `source_lib/` — the small library every notebook imports.

## How to work
- **Colab**: open a notebook with its "Open in Colab" badge; the first (setup) cell installs
  `source_lib`. Save a copy to your Drive before you start.
- **JupyterHub**: fetch the assignment in the Assignments tab; `source_lib` is installed.
- **Laptop**: `python -m venv .venv && .venv/bin/pip install -e '.[course]'`, then `.venv/bin/jupyter lab`.

In each assignment write your code where it says `# YOUR CODE HERE` (delete the
`raise NotImplementedError()`), and your answer where it says `YOUR ANSWER HERE`. Do not delete,
move or retype the test cells: they are read-only and the grader restores them anyway.
The last cell is a **self-check**: run it to see, question by question, whether your code passes
the visible tests. The grader also runs hidden tests (extreme inputs, other random points), so
passing the self-check is necessary but not sufficient. A review question at the end of each
assignment is graded by hand.

Submit the `.ipynb` file itself (JupyterHub: the Submit button). Keep the file name.
"""

BUNDLE_EXCLUDE = re.compile(r"(__pycache__|\.pyc$|\.ipynb_checkpoints|\.egg-info)")


def student_bundle(course=ROOT, out_dir=None, log=print) -> Path:
    """Copy what students get (lectures, assignments, source_lib, packaging, a README) and zip it."""
    course = Path(course)
    out_dir = Path(out_dir) if out_dir else course / "build" / "student_bundle"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for folder in ("lectures", "assignments", "source_lib"):
        if (course / folder).is_dir():
            shutil.copytree(course / folder, out_dir / folder,
                            ignore=lambda d, names: [n for n in names if BUNDLE_EXCLUDE.search(n)])
    for file in ("pyproject.toml", "environment.yml", "LICENSE"):
        if (course / file).exists():
            shutil.copy2(course / file, out_dir / file)
    (out_dir / "README.md").write_text(STUDENT_README, encoding="utf-8")
    leaks = bundle_leaks(out_dir)
    if leaks:
        raise RuntimeError("the student bundle would leak instructor material:\n" + "\n".join(leaks))
    archive = out_dir.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(out_dir.rglob("*")):
            if path.is_file():
                zf.write(path, Path(out_dir.name) / path.relative_to(out_dir))
    log(f"student-bundle: {out_dir} ({sum(1 for p in out_dir.rglob('*') if p.is_file())} files) and {archive.name}")
    return out_dir


def render_lectures(course=ROOT, out_dir=None, log=print, timeout: int = 600) -> list[Path]:
    """Execute each lecture notebook in a fresh kernel and render it to HTML (``build/lectures``).

    The published pages leave out TensorFlow's and jupyter's start-up chatter on stderr (absl
    ``I0000`` lines, "failed call to cuInit" on a machine without a GPU): the lines that
    :data:`robust_execute.KERNEL_NOISE` matches, the filter of the feedback pages. The kernel
    process's own output goes to a temporary file and is shown only if a notebook fails.
    """
    import subprocess
    import tempfile

    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    from robust_execute import KERNEL_NOISE, IgnorePatternLines, kernel_log_tail

    course = Path(course)
    out_dir = Path(out_dir) if out_dir else course / "build" / "lectures"
    out_dir.mkdir(parents=True, exist_ok=True)
    quiet = IgnorePatternLines(pattern=KERNEL_NOISE)
    written = []
    for path in sorted((course / "lectures").glob("*.ipynb")):
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        with tempfile.TemporaryFile() as kernel_log:
            try:
                client.execute(stdout=kernel_log, stderr=subprocess.STDOUT)
            except Exception:
                log(f"{path.name} failed; the kernel process's own output:\n{kernel_log_tail(kernel_log) or '(none)'}")
                raise
        for index, cell in enumerate(nb.cells):
            quiet.preprocess_cell(cell, {}, index)
        html, _ = HTMLExporter().from_notebook_node(nb)
        target = out_dir / f"{path.stem}.html"
        target.write_text(html, encoding="utf-8")
        written.append(target)
        log(f"lectures  {path.name} -> {target.relative_to(course) if target.is_relative_to(course) else target}"
            f" ({time.perf_counter() - start:.0f} s)")
    return written


LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME")


def bundle_leaks(folder: Path) -> list[str]:
    """Files under ``folder`` that carry nbgrader solution/hidden-test markers."""
    leaks = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix in {".ipynb", ".py", ".md", ".txt", ".json"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            leaks += [f"{path}: contains '{m}'" for m in LEAK_MARKERS if m in text]
    return leaks


# --- command line -----------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("verb", choices=["release", "autograde", "feedback", "grades", "student-bundle", "lectures"])
    parser.add_argument("--course", default=str(ROOT), help="course directory (default: the repository)")
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--timeout", type=float, help="autograde: seconds per cell (overrides the config)")
    args = parser.parse_args(argv)
    course = Path(args.course)
    if args.verb == "release":
        release(course, args.assignment)
    elif args.verb == "autograde":
        if not (course / "submitted").is_dir():
            print(f"nothing to autograde: {course / 'submitted'} does not exist "
                  "(nbgrader collect, or copy files to submitted/<student>/<assignment>/)")
            return 0
        autograde(course, args.assignment, timeout=args.timeout)
    elif args.verb == "feedback":
        feedback(course, args.assignment)
    elif args.verb == "grades":
        grades(course, args.assignment)
    elif args.verb == "student-bundle":
        student_bundle(course)
    elif args.verb == "lectures":
        render_lectures(course)
    return 0


if __name__ == "__main__":
    sys.exit(main())
