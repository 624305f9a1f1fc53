"""The grading pipeline survives a class of real students (issue 6, section 4).

One temporary course directory and ONE autograde run of the smallest assignment
(ps1_activation_derivatives) for a whole class: a perfect and a partial submission, the
untouched release, one student for each way a submission breaks, and the red team's sneaky
ones (an input transformer, monkeypatched checks, TensorFlow autodiff, a reader of the course
directory, a would-be vandal of the gradebook and of another student's file, a loop that ignores the
interrupt). Expected scores come from the rubric (the points in the master's metadata) and
which questions each student broke, never from the grader's own output.
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

from instructor import course  # noqa: E402
from instructor import submissions as S  # noqa: E402
from nbhelpers import code_notebook, hidden_lines  # noqa: E402  (tests/nbhelpers.py)

pytestmark = pytest.mark.slow

A = "ps1_activation_derivatives"
TIMEOUT = 15  # per cell; the solution's slowest cell (importing TensorFlow) takes ~3 s

# student -> the tests that student must lose (everything else must score full points)
LOST = {
    "perfect": [],
    "partial": ["test_mish", "test_derivative_table"],  # PARTIAL_BLANK: mish and the table left blank
    "blank": "all",
    "deleted_test": [],  # nbgrader puts the test back, the code is right
    "retyped": [],  # the solution code runs as an ordinary cell
    "markdown": [],  # nbgrader turns the solution cell back into code
    "import_error": ["test_sigmoid", "test_derivative_table"],  # sigmoid's cell fails; the table needs it
    "infinite_loop": ["test_mish", "test_derivative_table"],  # mish's cell is interrupted
    "kernel_crash": ["test_relu6", "test_softplus", "test_swish", "test_mish", "test_derivative_table"],
    "invalid_json": "all",
    # a loop under signal.signal(SIGINT, SIG_IGN): the interrupt does nothing, the kernel hangs
    "nosigint": ["test_mish", "test_derivative_table"],
    "no_visible_checks": [],  # deleted the read-only helper cell: the grader puts it back
    "clipped": ["test_sigmoid"],  # right on the visible range, wrong where only hidden tests look
    "reader": "all",  # finds no course directory from the kernel's working directory
    # the sandbox hides the course directory: its first line fails, so sigmoid is never defined
    "g_vandal": ["test_sigmoid", "test_derivative_table"],
}
# the red team's students: the grader must flag these for manual review (and nobody else)
FLAGGED = {"transformer", "monkey", "autodiff", "reader", "g_vandal", "nosigint",
           "kernel_crash"}  # kernel_crash imports os
NOT_FLAGGED = set(LOST) - FLAGGED
STUDENTS = set(LOST) | FLAGGED
# student -> words its feedback must contain (the failure, named)
NAMED = {
    "deleted_test": "was missing from the submission",
    "retyped": "lost its nbgrader metadata",
    "markdown": "was turned into markdown",
    "import_error": "ModuleNotFoundError",
    "infinite_loop": "ran past the time limit",
    "kernel_crash": "killed the Python kernel",
    "invalid_json": "not a valid Jupyter",
    "nosigint": "hung the kernel",
    "no_visible_checks": "read-only cell &#x27;visible_checks&#x27; was missing",
}

TRANSFORMER = ("get_ipython().input_transformers_cleanup.append("
               "lambda lines: ['pass\\n'] if any('_test_' in l for l in lines) else lines)")
MONKEY = """import numpy as np, numpy.testing
np.testing.assert_allclose = lambda *a, **k: None
def _self_check(): print("11/11 questions pass their visible tests (24/24 automatic points).")
sigmoid = sigmoid_prime = lambda x: np.zeros_like(np.asarray(x, dtype=float))"""
AUTODIFF = """from source_lib import activations as _A
sigmoid = lambda x: _A.gradient_profile(_A.sigmoid, np.asarray(x, dtype=float))[0]
sigmoid_prime = lambda x: _A.gradient_profile(_A.sigmoid, np.asarray(x, dtype=float))[1]"""
# walks up from the kernel's working directory to the course and runs the master's solutions
READER = """import os, json, glob
print("cwd:", os.getcwd())
_root = os.getcwd()
while _root != "/" and not os.path.isdir(os.path.join(_root, "solutions")):
    _root = os.path.dirname(_root)
_master = glob.glob(os.path.join(_root, "solutions", "ps1*", "*.ipynb"))[0]
def _steal(gid):
    for c in json.load(open(_master))["cells"]:
        if c["metadata"].get("nbgrader", {}).get("grade_id") == gid:
            exec("".join(c["source"]), globals())
_steal("sigmoid")"""
# knows the course directory (an absolute path: the residual risk): raises its own grade, zeroes
# an already graded student's, and overwrites a not yet graded student's submitted file
VANDAL = """import shutil
_root = {root!r}
from nbgrader.api import Gradebook
with Gradebook("sqlite:///" + _root + "/gradebook.db") as gb:
    for who, val in (("deleted_test", lambda g: 0.0), ("g_vandal", lambda g: g.max_score)):
        for nb in gb.find_submission("{a}", who).notebooks:
            for g in nb.grades:
                g.manual_score = val(g)
        gb.db.commit()
shutil.copy(_root + "/assignments/{a}/{a}.ipynb", _root + "/submitted/retyped/{a}/{a}.ipynb")
open(_root + "/submitted/zz_planted.txt", "w").write("x")"""
CLIPPED = """_s, _sp = sigmoid, sigmoid_prime
def sigmoid(x):
    return _s(np.clip(x, -20, 20))
def sigmoid_prime(x):
    return _sp(np.clip(x, -20, 20))"""


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    c = course.scratch_course(tmp_path_factory.mktemp("course") / "course", [A])
    course.release(c, [A], log=lambda m: None)
    full = S.filled(c, A)
    S.write(full, c, "perfect", A)
    S.write(S.filled(c, A, skip=S.PARTIAL_BLANK[A]), c, "partial", A)
    S.write(S.blank(c, A), c, "blank", A)
    S.write(S.delete_cell(full, "test_relu"), c, "deleted_test", A)
    S.write(S.retype_cell(full, "tanh"), c, "retyped", A)
    S.write(S.to_markdown(full, "elu"), c, "markdown", A)
    S.write(S.prepend(full, "sigmoid", "import numpy_helpers_from_my_laptop"), c, "import_error", A)
    S.write(S.prepend(full, "mish", "while True:\n    pass"), c, "infinite_loop", A)
    S.write(S.prepend(full, "relu6", "import os\nos._exit(1)"), c, "kernel_crash", A)
    S.write(full, c, "invalid_json", A, invalid_json=True)
    S.write(S.prepend(full, "mish", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
            c, "nosigint", A)
    S.write(S.delete_cell(full, "visible_checks"), c, "no_visible_checks", A)
    S.write(S.append(full, "sigmoid", CLIPPED), c, "clipped", A)
    blank = S.blank(c, A)
    S.write(S.prepend(blank, "sigmoid", TRANSFORMER), c, "transformer", A)
    S.write(S.replace_cell(blank, "sigmoid", MONKEY), c, "monkey", A)
    S.write(S.replace_cell(full, "sigmoid", AUTODIFF), c, "autodiff", A)
    reader = S.replace_cell(blank, "sigmoid", READER)
    for gid in ("tanh", "relu", "leaky_relu", "elu", "selu", "relu6", "softplus", "swish", "mish", "derivative_table"):
        reader = S.replace_cell(reader, gid, f"_steal({gid!r})")
    S.write(reader, c, "reader", A)
    S.write(S.prepend(full, "sigmoid", VANDAL.format(root=str(c.resolve()), a=A)), c, "g_vandal", A)
    before = _hashes(c / "submitted")
    notes = course.autograde(c, [A], timeout=TIMEOUT, log=lambda m: None, jobs=2)  # as `make autograde` on 2 CPUs
    after_autograde = _hashes(c / "submitted")
    pages = course.feedback(c, [A], log=lambda m: None)
    paths = course.grades(c, [A], out_dir=c / "grades", log=lambda m: None)
    totals, questions = course.collect_grades(c, [A])
    return dict(course=c, notes=notes, before=before, after_autograde=after_autograde,
                after=_hashes(c / "submitted"), pages=pages, paths=paths, totals=totals, questions=questions)


def _rubric() -> dict[str, float]:
    """Points of each auto-graded test cell, read from the master (the instructor's rubric)."""
    master = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in master.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def test_autograde_finishes_for_the_whole_class(graded):
    assert {s for (_, s) in graded["notes"]} == STUDENTS
    assert {r["student"] for r in graded["totals"]} == STUDENTS
    # nbgrader graded every notebook it could open; only the invalid JSON could not be
    assert sorted(s for (_, s), n in graded["notes"].items() if not n["graded"]) == ["invalid_json"]


def test_each_student_gets_exactly_what_they_earned(graded):
    rubric = _rubric()
    got = {(q["student"], q["question"]): q["score"] for q in graded["questions"] if q["graded_by"] == "auto"}
    for student, lost in LOST.items():
        lost = set(rubric) if lost == "all" else set(lost)
        for question, points in rubric.items():
            want = 0.0 if question in lost else points
            assert got[(student, question)] == want, (student, question)
        row = next(r for r in graded["totals"] if r["student"] == student)
        assert row["auto_score"] == sum(p for q, p in rubric.items() if q not in lost), student


def test_untouched_release_scores_zero_including_the_review_question(graded):
    row = next(r for r in graded["totals"] if r["student"] == "blank")
    assert row["score"] == 0 and not row["needs_manual_grade"]


def test_answered_review_question_waits_for_manual_grading(graded):
    master = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)
    hand_graded = {c.metadata.nbgrader["grade_id"] for c in master.cells
                   if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")}
    manual = [q for q in graded["questions"] if q["graded_by"] == "manual" and q["student"] == "perfect"]
    assert "review_question" in hand_graded and {q["question"] for q in manual} == hand_graded
    assert all(q["needs_manual_grade"] and q["max_score"] > 0 for q in manual)


def test_no_submitted_file_is_modified_or_lost(graded):
    assert len(graded["before"]) == len(STUDENTS)
    assert graded["after_autograde"] == graded["before"]
    assert graded["after"] == graded["before"]


def test_every_failure_is_named_in_the_feedback(graded):
    c = graded["course"]
    for student, words in NAMED.items():
        page = c / "feedback" / student / A / f"{A}.html"
        assert page.exists(), student
        assert words in page.read_text(encoding="utf-8"), (student, words)
    # a student without problems gets nbgrader's page alone, with no notes block
    perfect = (c / "feedback" / "perfect" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "course-autograde-notes" not in perfect


def test_autograded_notebooks_are_valid_and_every_cell_has_an_id(graded):
    """Cells the grader put back (a deleted test, a deleted read-only helper) get an id, which
    nbformat >= 4.5 requires (nbgrader's own OverwriteCells leaves it out)."""
    folder = graded["course"] / "autograded"
    books = sorted(folder.glob(f"*/{A}/{A}.ipynb"))
    assert {p.parts[-3] for p in books} >= {"perfect", "deleted_test", "no_visible_checks"}
    for path in books:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        ids = [c.get("id") for c in nb.cells]
        assert all(ids) and len(set(ids)) == len(ids), path


def test_self_check_cell_reports_per_question(graded):
    c = graded["course"]

    def self_check_text(student):
        nb = nbformat.read(c / "autograded" / student / A / f"{A}.ipynb", as_version=4)
        cell = next(x for x in nb.cells if x.metadata.get("nbgrader", {}).get("grade_id") == "self_check")
        return "".join(o.get("text", "") for o in cell.outputs)

    assert "11/11 questions pass their visible tests (24/24 automatic points)" in self_check_text("perfect")
    blank = self_check_text("blank")
    assert blank.count("not done yet") == 11 and "0/11 questions" in blank
    partial = self_check_text("partial")
    assert "9/11 questions" in partial and "18/24" in partial


def test_grades_csv_and_plot(graded):
    with open(graded["paths"]["grades_csv"], newline="", encoding="utf-8") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == STUDENTS
    assert float(rows["perfect"]["auto_score"]) == float(rows["perfect"]["max_auto_score"]) == sum(_rubric().values())
    assert "not a valid notebook" in rows["invalid_json"]["note"]
    png = graded["paths"]["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_vandal_cannot_reach_the_course(graded):
    """The vandal knows the course directory's absolute path, but the grading kernel's sandbox
    (instructor/sandbox.py, tested in tests/test_sandbox.py) does not show it: nothing it tried
    happened, and it loses only what its failing cell costs."""
    c, note = graded["course"], graded["notes"][(A, "g_vandal")]
    assert note["graded"] and note["tampering"] == []
    assert not (c / "submitted" / "zz_planted.txt").exists()
    nb = nbformat.read(c / "autograded" / "g_vandal" / A / f"{A}.ipynb", as_version=4)
    cell = next(x for x in nb.cells if x.metadata.get("nbgrader", {}).get("grade_id") == "sigmoid")
    assert [o for o in cell.outputs if o.get("output_type") == "error"], "the vandal's cell ran without an error"
    # the victims got what the rubric says (test_each_student_gets_exactly_what_they_earned, and
    # the retyped student's file is untouched: test_no_submitted_file_is_modified_or_lost), and the
    # gradebook holds no hand-given score at all: the vandal's manual_score writes never happened
    for q in graded["questions"]:
        assert q["score"] == q["auto_score"] or q["graded_by"] == "manual", q


def test_the_sneaky_ones_are_flagged_and_nobody_else(graded):
    flagged = {s for (_, s), n in graded["notes"].items() if n["flags"]}
    assert flagged == FLAGGED
    rows = {r["student"]: r for r in graded["totals"]}
    assert all(rows[s]["flagged"].startswith("FLAGGED") for s in FLAGGED)
    assert not any(rows[s]["flagged"] for s in NOT_FLAGGED)
    reasons = {s: " ".join(f["reason"] for f in graded["notes"][(A, s)]["flags"]) for s in FLAGGED}
    assert "input_transformers_cleanup" in reasons["transformer"] and "get_ipython" in reasons["transformer"]
    assert "attribute of the imported module 'np'" in reasons["monkey"] and "'_self_check'" in reasons["monkey"]
    assert "imports source_lib" in reasons["autodiff"]
    assert "exec" in reasons["reader"] and "open" in reasons["reader"]
    assert "nbgrader.api" in reasons["g_vandal"]
    c = graded["course"]
    page = (c / "feedback" / "monkey" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "FLAGGED for manual review" in page and "sigmoid, line 2" in page


def test_reader_finds_no_course_from_the_kernel(graded):
    c = graded["course"]
    nb = nbformat.read(c / "autograded" / "reader" / A / f"{A}.ipynb", as_version=4)
    cell = next(x for x in nb.cells if x.metadata.get("nbgrader", {}).get("grade_id") == "sigmoid")
    text = "".join(o.get("text", "") for o in cell.outputs)
    cwd = Path(text.split("cwd:", 1)[1].split()[0]).resolve()
    assert not cwd.is_relative_to(c.resolve()) and not (c.resolve()).is_relative_to(cwd)
    assert any(o.get("ename") == "IndexError" for o in cell.outputs)  # glob found no master


def test_feedback_shows_no_hidden_test(graded):
    import html as H
    import re

    master = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "assignments" / A / f"{A}.ipynb", as_version=4)
    hidden = hidden_lines(master, release)
    assert len(hidden) > 20
    for page in graded["pages"]:
        text = H.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        assert "HIDDEN TESTS" not in text, page
        leaked = [line for line in hidden if line in text]
        assert not leaked, (page, leaked[:3])
    # the student who fails only a hidden test still learns which function and where
    page = graded["course"] / "feedback" / "clipped" / A / f"{A}.html"
    text = H.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    assert re.search(r"sigmoid\([-\d.e]+\) = [-\d.e]+, expected", text) and "raised by a hidden test" in text


_nb = code_notebook


def test_integrity_flags_by_hand_written_cases():
    from instructor import integrity

    release = _nb("import numpy as np\nLIMIT = 3\nfig = None\ndef check(f):\n    return f(LIMIT)", "x = 1", locked=(0,))

    def reasons(*cells):
        return [f["reason"] for f in integrity.check_notebook(_nb(release.cells[0].source, *cells), release)]

    assert reasons("x = 1") == []  # a cell of the release, verbatim
    assert reasons("%matplotlib inline\nimport numpy as np\ny = np.tanh(2.0)\nplt_title = 'x'") == []
    assert reasons("class A:\n    def __init__(self):\n        self.v = 1") == []
    assert reasons("t = np.testing\nt.assert_allclose = print") == ["assigns to an attribute of the imported module 't'"]
    assert reasons("!ls") == ["uses IPython internals (get_ipython)"]
    assert reasons("def f(:") == ["cannot be parsed, so it could not be checked"]
    assert reasons("LIMIT = 100") == ["rebinds 'LIMIT', a helper of the read-only cells"]  # check() reads it
    assert reasons("def check(f):\n    return 1") == ["redefines 'check', a helper of the read-only cells"]
    assert reasons("fig = 2") == []  # nothing read-only reads it
    assert reasons("import keras") == ["imports keras (the assignment asks for your own NumPy code)"]
    assert reasons("import sys\nsys.modules['numpy'] = None") == ["uses '.modules' (interpreter internals)"]
    assert reasons("getattr(__builtins__, 'x')") == ["reaches the builtins (__builtins__)"]

    # the release's imports cell loads the frameworks for its tests; the student may not use them
    release = _nb("import numpy as np\nimport tensorflow as tf\nimport source_lib\n"
                  "from source_lib import vanishing as V\nfrom source_lib.data import load_mnist", locked=(0,))

    def used(cell):
        return [f["reason"].split(",")[0] for f in integrity.check_notebook(_nb(release.cells[0].source, cell), release)]

    assert used("def sigmoid_prime(x):\n    return source_lib.activations.gradient_profile('sigmoid', x)[1]") == \
        ["uses 'source_lib'"]
    assert used("with tf.GradientTape() as g:\n    pass") == ["uses 'tf'"]
    assert used("speeds = V.layer_speeds") == ["uses 'V'"]
    assert used("x, y, *_ = load_mnist(100, 10)\ntf_like = np.tanh(x)") == []  # a function given to use


@pytest.mark.parametrize("assignment", course.ASSIGNMENTS)
def test_no_master_is_flagged_and_autodiff_in_its_place_is(assignment):
    """The static flags have no false alarm on any master, and catch a framework used in place
    of the student's own code (the red team's bypass): one the release pre-imports, or, where it
    imports none (the NumPy assignments), one the student imports."""
    from instructor import integrity

    release = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
    full = S.filled(ROOT, assignment)
    assert integrity.check_notebook(full, release) == []
    frameworks = sorted(integrity.release_context(release)["frameworks"])
    cell = next(c for c in full.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    cell.source += f"\n_shortcut = {frameworks[0]}\n" if frameworks else "\nimport tensorflow as _shortcut\n"
    assert [f["cell"] for f in integrity.check_notebook(full, release)] == [cell.metadata.nbgrader.grade_id]


def test_log_filter_drops_tensorflow_lines_only():
    from nbformat.v4 import new_output
    from traitlets.config import PyFileConfigLoader
    from instructor import robust_execute

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert robust_execute.IgnorePatternLines in config.Autograde.autograde_preprocessors
    tf_line = "2026-01-01 10:00:00.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\n"
    mine = "/tmp/x.py:3: RuntimeWarning: overflow encountered in exp\n"
    cell = nbformat.v4.new_code_cell("x = 1")
    absl = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "I0000 00:00:1795736267.842385   17921 cudart_stub.cc:31] Could not find cuda drivers on your machine\n"
            "E0000 00:00:1795736269.790495   17921 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n")
    cell.outputs = [new_output("stream", name="stderr", text=tf_line + mine),
                    new_output("stream", name="stderr", text=tf_line + absl)]
    pp = robust_execute.IgnorePatternLines(config=config)
    cell, _ = pp.preprocess_cell(cell, {}, 0)
    assert [o["text"] for o in cell.outputs] == [mine]


def test_kernel_process_chatter_stays_out_of_the_grading_log(capfd, caplog, tmp_path):
    """The kernel's own stdout/stderr (ipykernel echoes what a cell writes on fd 2 there, e.g.
    TensorFlow's start-up lines) go to a temporary file, not to the instructor's terminal; the
    cell's output still reaches the notebook. When a kernel cannot start, its output is logged."""
    import logging

    from instructor import robust_execute

    marker = "I0000 00:00:1.5 fake.cc:1] chatter from the kernel"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import os, time\nos.write(2, b'{marker}\\n')\ntime.sleep(1)\nprint('mine')")])
    capfd.readouterr()
    # ipykernel captures fd 2 into the notebook only outside pytest (it checks PYTEST_CURRENT_TEST)
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        nb, _ = robust_execute.RobustExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    out, err = capfd.readouterr()
    texts = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "mine" in texts and marker in texts
    assert marker not in out + err and "IPKernelApp" not in out + err

    broken = robust_execute.RobustExecute(
        timeout=60, extra_arguments=["--IPKernelApp.kernel_class=no_such_module.Kernel"])
    with caplog.at_level(logging.ERROR), pytest.raises(Exception):
        broken.preprocess(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]),
                          {"metadata": {"path": str(tmp_path)}})
    assert "no_such_module.Kernel" in caplog.text


def test_notebook_time_budget_keeps_what_ran(tmp_path):
    import time

    from instructor import robust_execute

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in (
        "import os, subprocess\nprint(os.getcwd())\nprint(subprocess.Popen(['sleep', '300']).pid)",
        "import time\ntime.sleep(30)", "print('never')")])
    (tmp_path / "data.txt").write_text("x")
    tmp_path.chmod(0o755)  # as nbgrader's autograded/<student>/<assignment>: the sandboxed kernel's uid reads it
    start, start_wall = time.monotonic(), time.time()
    pp = robust_execute.RobustExecute(timeout=60, notebook_timeout=8)
    nb, _ = pp.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert time.monotonic() - start < 25
    cwd, sleeper = nb.cells[0].outputs[0]["text"].split()
    time.sleep(0.5)
    import psutil  # the sandbox's PID namespace numbers the sleeper its own way: look for it by what it runs

    left = [p for p in psutil.process_iter(["cmdline", "create_time", "status"])
            if p.info["cmdline"] == ["sleep", "300"] and p.info["create_time"] >= start_wall - 1
            and p.info["status"] != psutil.STATUS_ZOMBIE]
    assert not left, left
    assert not Path(cwd).resolve().is_relative_to(tmp_path.resolve())  # a fresh directory, not the notebook's
    assert "CellTimeoutError" in [o.get("ename") for o in nb.cells[1].outputs if o.output_type == "error"]
    assert [o.get("ename") for o in nb.cells[2].outputs] == ["NotRun"]
    assert "time budget (8 s)" in nb.cells[2].outputs[0]["evalue"]


def test_hand_given_points_are_reported_apart_from_the_autograder(graded, tmp_path):
    import shutil

    from nbgrader.api import Gradebook

    c = tmp_path / "course"
    shutil.copytree(graded["course"], c, ignore=shutil.ignore_patterns("feedback", "grades"))
    with Gradebook(f"sqlite:///{c / 'gradebook.db'}") as gb:  # what an instructor does in formgrader
        gb.find_grade("test_sigmoid", A, A, "perfect").manual_score = 0.5
        gb.find_grade("review_question", A, A, "perfect").manual_score = 3
        gb.db.commit()
    row = next(r for r in course.collect_grades(c, [A])[0] if r["student"] == "perfect")
    full = sum(_rubric().values())
    assert row["auto_score"] == full
    assert row["manual_adjustment"] == 0.5 - _rubric()["test_sigmoid"]
    assert row["manual_score"] == 3 + row["manual_adjustment"]
    assert row["score"] == full + row["manual_score"]


def test_feedback_for_some_students_rewrites_only_their_pages(graded):
    """``feedback --student`` (the JupyterHub service, once per submission) leaves the class's other pages alone."""
    import time

    c = graded["course"]
    pages = sorted((c / "feedback").glob(f"*/{A}/*.html"))
    before = {p: p.stat().st_mtime_ns for p in pages}
    time.sleep(0.01)
    written = course.feedback(c, [A], log=lambda m: None, students=["perfect", "invalid_json"])
    assert {p.parent.parent.name for p in written} == {"perfect", "invalid_json"}
    changed = {p.parent.parent.name for p in pages if p.stat().st_mtime_ns != before[p]}
    assert changed == {"perfect", "invalid_json"}, changed
    assert "could not be graded" in (c / "feedback" / "invalid_json" / A / f"{A}.html").read_text()
