"""``python -m instructor VERB``: the instructor's verbs over nbgrader.

    python -m instructor release          # solutions/ -> assignments/ (nbgrader generate_assignment); the hidden tests' references
    python -m instructor autograde        # every submission in submitted/ (nbgrader autograde)
    python -m instructor feedback         # feedback/<student>/<assignment>/*.html
    python -m instructor grades           # build/grades/grades.csv, questions.csv, grades.png
    python -m instructor student-bundle   # build/student_bundle/ and build/student_bundle.zip
    python -m instructor student-repo     # build/student_repo/ (git, one commit per release), the wheel
    python -m instructor answers --assignment NAME   # build/answers/NAME/: model answers, HTML and notebook
    python -m instructor lectures         # build/lectures/*.html

Options: ``--course DIR`` (default: the repository root), ``--assignment NAME`` (repeatable),
``--timeout SECONDS`` (autograde: per-cell limit, overrides nbgrader_config.py), ``--no-sandbox``
(autograde: grade where bubblewrap cannot run; every grade is then marked as unsandboxed).
Autograde at scale: ``--jobs N`` (submissions at once; default: the CPUs), ``--force`` (grade
unchanged submissions again), ``--scheduler tcp://host:8786`` (a Dask cluster's workers).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .coursedir import ROOT


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor", description=__doc__.split("\n\n")[0])
    parser.add_argument("verb", choices=["release", "autograde", "feedback", "grades", "student-bundle", "lectures",
                                          "student-repo", "answers"])
    parser.add_argument("--course", default=str(ROOT), help="course directory (default: the repository)")
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--student", action="append",
                        help="autograde, feedback: only this student's submission (repeatable)")
    parser.add_argument("--timeout", type=float, help="autograde: seconds per cell (overrides the config)")
    parser.add_argument("--jobs", type=int, default=0, help="autograde: submissions at once (default: the CPUs)")
    parser.add_argument("--force", action="store_true", help="autograde: grade unchanged submissions again")
    parser.add_argument("--scheduler", help="autograde: a Dask scheduler, tcp://host:8786 (PostgreSQL gradebook)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="autograde: run the students' code WITHOUT the bubblewrap sandbox (every grade is marked)")
    args = parser.parse_args(argv)
    course = Path(args.course)
    if args.verb == "release":
        from .release import release

        release(course, args.assignment)
    elif args.verb == "autograde":
        from .autograde import autograde, default_jobs

        if not (course / "submitted").is_dir():
            print(f"nothing to autograde: {course / 'submitted'} does not exist "
                  "(nbgrader collect, or copy files to submitted/<student>/<assignment>/)")
            return 0
        from . import sandbox

        if args.no_sandbox:
            os.environ[sandbox.NO_SANDBOX_ENV] = "1"  # read by RobustExecute, also in worker processes
            print("autograde WITHOUT the sandbox (--no-sandbox): every grade is marked as graded unsandboxed")
        else:
            refusal = sandbox.refusal(course)
            if refusal:
                print(refusal, file=sys.stderr)
                return 2
        try:
            autograde(course, args.assignment, students=args.student, timeout=args.timeout, jobs=args.jobs or default_jobs(),
                      force=args.force, scheduler=args.scheduler)
        except KeyboardInterrupt:
            return 130  # the grades stored so far stay; the next run grades the rest
    elif args.verb == "feedback":
        from .feedback import feedback

        feedback(course, args.assignment, students=args.student)
    elif args.verb == "grades":
        from .grades import grades

        grades(course, args.assignment)
    elif args.verb == "student-bundle":
        from .bundle import student_bundle

        student_bundle(course)
    elif args.verb == "student-repo":
        from .student_repo import student_repo

        student_repo(course, args.assignment)
    elif args.verb == "answers":
        from .answers import answers

        if not args.assignment:
            parser.error("answers needs --assignment NAME (make answers ASSIGNMENT=NAME)")
        for name in args.assignment:
            answers(course, name)
    elif args.verb == "lectures":
        from .lectures import render_lectures

        render_lectures(course)
    return 0


if __name__ == "__main__":
    sys.exit(main())
