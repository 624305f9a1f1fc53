"""``grades``: the gradebook exported as grades.csv, questions.csv and a plot."""

from __future__ import annotations

import csv
from pathlib import Path

from .coursedir import ROOT, assignments_in, load_notes, submitted_students
from .gradebook import open_gradebook


def max_score(course: Path, name: str) -> float:
    with open_gradebook(course) as gb:
        return float(gb.find_assignment(name).max_score)


def collect_grades(course=ROOT, names=None) -> tuple[list[dict], list[dict]]:
    """Grades from the gradebook: one row per (student, assignment) and one per question.

    Per (student, assignment): ``score`` (nbgrader's total, hand-given points included),
    ``auto_score`` (what the autograder gave the code cells: ``Grade.auto_score``, never a
    grader's override), ``manual_score`` (points given by hand: the free-response answers, and
    ``manual_adjustment``, the net change a grader made to automatic points by overriding them),
    ``flagged`` (instructor/integrity.py: code for manual review), ``tampering`` and, last,
    ``sandboxed`` (``no`` for a submission graded with ``--no-sandbox``, also said in ``note``).
    A student who submitted but could not be graded at all (invalid notebook, tampering) gets a
    row with score 0 and the reason in ``note``.
    """
    from nbgrader.api import MissingEntry

    course = Path(course)
    totals, questions = [], []
    with open_gradebook(course) as gb:
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
                           problems=len(note.get("problems", [])), note="; ".join(note.get("problems", [])),
                           sandboxed={True: "yes", False: "no"}.get(note.get("sandboxed"), ""))
                if note.get("sandboxed") is False:
                    row["note"] = "; ".join(["graded unsandboxed"] + note.get("problems", []))
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
            if r.get("sandboxed") == "no":
                notes.append(f"{short[n]}: graded unsandboxed")
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
    from matplotlib.ticker import MaxNLocator

    names = sorted({r["assignment"] for r in totals})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 2]})
    percents = [[100 * r["auto_score"] / r["max_auto_score"] for r in totals
                 if r["assignment"] == n and r["max_auto_score"]] for n in names]
    axes[0].hist(percents, bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.001], label=names, stacked=True)
    axes[0].set_xlabel("automatic score, % of the maximum")
    axes[0].set_ylabel("submissions")
    axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 1.25 submissions
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
