"""``feedback``: nbgrader generate_feedback, plus the course's notes at the top of each page."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from .coursedir import ROOT, assignments_in, check_result, course_api, load_notes
from .grades import max_score


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

_UNSANDBOXED_HTML = """<div id="course-unsandboxed" style="border:2px solid #7f8c8d;padding:0.5em 1.2em;\
margin:1em auto;max-width:60em;font-family:sans-serif;background:#f4f6f6">
<p style="margin:0"><b>Graded unsandboxed</b>: the grader ran this notebook without its sandbox
(<code>--no-sandbox</code>); your instructor knows.</p>
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


def feedback(course=ROOT, names=None, log=print, students=None) -> list[Path]:
    """``nbgrader generate_feedback``, plus the course's notes.

    A student whose grading had problems finds them listed at the top of the feedback page, and
    a FLAGGED submission the flags (cell, line, reason); a notebook nbgrader could not open, or a
    submission that tampered with the course, gets a feedback page written here instead.

    Args:
        students: only these students' pages (the JupyterHub service writes one student's
            feedback per submission; the whole class's would make a class of N cost N^2).
    """
    from . import integrity

    course = Path(course)
    api = course_api(course)
    written = []
    for name in assignments_in(course, names):
        notes = load_notes(course, name)
        if students is not None:
            notes = {s: n for s, n in notes.items() if s in set(students)}
        if students is None and any(n["graded"] for n in notes.values()):
            log(f"feedback {name}: nbgrader generate_feedback")
            check_result(api.generate_feedback(name, force=True), f"generate_feedback {name}")
        for student in [s for s, n in notes.items() if n["graded"]] if students is not None else []:
            log(f"feedback {name}: nbgrader generate_feedback --student {student}")
            check_result(api.generate_feedback(name, student_id=student, force=True),
                         f"generate_feedback {name} --student {student}")
        top = max_score(course, name)
        for student, note in notes.items():
            folder = course / "feedback" / student / name
            flags = [integrity.describe(f) for f in note.get("flags", [])]
            if note["graded"]:
                for page in sorted(folder.glob("*.html")):
                    blocks = _UNSANDBOXED_HTML if note.get("sandboxed") is False else ""
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
                    if note.get("sandboxed") is False:
                        items.append("graded unsandboxed (--no-sandbox)")
                    page.write_text(
                        _NOT_GRADED_HTML.format(
                            assignment=name, student=html.escape(student), notebook=html.escape(nb.name),
                            max_score=top, items=_items(items), reason=reason, advice=advice,
                        ),
                        encoding="utf-8",
                    )
                    written.append(page)
                log(f"feedback {name}: {student} could not be graded; wrote {folder.relative_to(course)}")
    return written
