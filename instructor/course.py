"""The instructor's verbs in one namespace, for scripts: ``from instructor import course``.

Run as a script, ``python instructor/course.py VERB ...`` is ``python -m instructor VERB ...``
(same verbs, same options): the entry point instructors scripted against before the package.
"""

import os
import sys

if __name__ == "__main__":
    # Run as a script, sys.path[0] is instructor/ itself; the package lives one level up.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from instructor.autograde import autograde  # noqa: E402
from instructor.bundle import LEAK_MARKERS, STUDENT_README, bundle_leaks, student_bundle  # noqa: E402
from instructor.coursedir import (  # noqa: E402
    ASSIGNMENTS,
    NOTES_DIR,
    ROOT,
    assignments_in,
    course_api,
    gradebook_url,
    load_notes,
    scratch_course,
    submitted_students,
)
from instructor.feedback import feedback  # noqa: E402
from instructor.grades import collect_grades, format_grade_table, grades, max_score, plot_grades  # noqa: E402
from instructor.lectures import render_lectures  # noqa: E402
from instructor.release import release  # noqa: E402

__all__ = [
    "ASSIGNMENTS", "LEAK_MARKERS", "NOTES_DIR", "ROOT", "STUDENT_README", "assignments_in", "autograde",
    "bundle_leaks", "collect_grades", "course_api", "feedback", "format_grade_table", "gradebook_url", "grades",
    "load_notes", "max_score", "plot_grades", "release", "render_lectures", "scratch_course", "student_bundle",
    "submitted_students",
]

if __name__ == "__main__":
    from instructor.__main__ import main

    sys.exit(main())
