"""``make demo``'s grading cycle: release, autograde a demo class of four, grade table, feedback, plot.

The class lives in a scratch course directory (build/demo_course), so the demo never touches the
instructor's real gradebook or submissions. Its four students, for every assignment:

* perfect  - every solution cell answered (the masters' solutions);
* partial  - a few questions left as released (instructor/submissions.py: PARTIAL_BLANK);
* blank    - the untouched release;
* broken   - answered, but with a deleted test cell, a retyped solution cell, a solution cell
             turned into markdown and an import that fails.

Outputs: build/demo/grades.csv, questions.csv, grades.png and build/demo_course/feedback/.

    python -m instructor.demo [--assignment NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import course, submissions
from .autograde import default_jobs

ROOT = course.ROOT


def run(names=None, workdir: Path = ROOT / "build", log=print, jobs: int | None = None) -> dict:
    start = time.perf_counter()
    demo_course = course.scratch_course(Path(workdir) / "demo_course", names)
    names = course.assignments_in(demo_course, names)
    log(f"[1/5] release: nbgrader generate_assignment into {demo_course}/assignments")
    course.release(demo_course, names, log=lambda m: log("      " + m))
    log("[2/5] demo class of four (perfect, partial, blank, broken) in submitted/")
    for name in names:
        submissions.demo_class(demo_course, name)
    jobs = jobs or default_jobs()
    log(f"[3/5] autograde (nbgrader autograde, each submission its own task, {jobs} at a time)")
    course.autograde(demo_course, names, log=lambda m: log("      " + m), jobs=jobs)
    log("[4/5] feedback (nbgrader generate_feedback, plus the notes on what went wrong)")
    pages = course.feedback(demo_course, names, log=lambda m: log("      " + m))
    log(f"      {len(pages)} feedback pages in {demo_course / 'feedback'}")
    log("[5/5] grades\n")
    out = Path(workdir) / "demo"
    paths = course.grades(demo_course, names, out_dir=out, log=log)
    lectures = sorted((ROOT / "build" / "lectures").glob("*.html"))
    if lectures:
        log(f"lecture HTML: {', '.join(str(p.relative_to(ROOT)) for p in lectures)}")
    log(f"demo finished in {time.perf_counter() - start:.0f} s; grade plot: {paths['png']}")
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="the demo grading cycle")
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--jobs", type=int, help="submissions graded at once (default: the CPUs)")
    args = parser.parse_args(argv)
    run(args.assignment, jobs=args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
