"""Grade cells are decided in the grader process (instructor/trusted.py, issue 10 section 2).

The fast tests check the wire (JSON both ways, arrays byte for byte with dtype and shape,
nothing but plain data accepted, malformed answers refused), the free names of a test, and the
static flags. The slow ones run TrustedExecute on small masters through a real sandboxed kernel
(arrays of every allowed kind both ways; a channel the student breaks costs only that test),
and grade a small class through the real pipeline (scratch course, release, submitted/,
autograde, feedback, collect_grades): every in-kernel attack on blank work scores 0, the same
attacks beside correct work cost nothing, honest but unusual work gets full marks unflagged,
and no feedback page shows a hidden test. Expected scores come from the master's rubric, never from the grader's output.
"""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from instructor import course
from instructor import integrity
from instructor import submissions as S
from instructor import trusted as T
from instructor import wire as W

from nbhelpers import code_notebook, hidden_lines  # tests/nbhelpers.py

ROOT = Path(__file__).resolve().parents[1]
A = "ps1_activation_derivatives"
TIMEOUT = 120  # per cell, as nbgrader_config.py (ps3's imports cell loads TensorFlow and MNIST)


# --- the wire, the names, the flags (no kernel) --------------------------------------------------


def _round_trip(x):
    return W.from_wire(json.loads(json.dumps(W.to_wire(x))), lambda ref: ref)


@pytest.mark.parametrize("value", [
    0, -3, 2**70, 1.5, float("inf"), True, None, "text", [1, [2.0]], (1, (2, "a")), {1: "a", (2, 3): [None]},
    np.float32(1.25), np.int8(-4), np.bool_(True),
    np.linspace(-1, 1, 6, dtype=np.float16).reshape(2, 3), np.arange(4, dtype=np.int64), np.array([1 + 2j]),
    np.array([True, False]), np.array(["ab", "c"]), np.zeros((0, 3)),
])
def test_plain_data_crosses_the_wire_with_type_dtype_and_shape(value):
    back = _round_trip(value)
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)
    else:
        assert back == value or (back != back and value != value)


def _arrays() -> dict:
    """Arrays whose bytes must cross the wire unchanged: every allowed kind and width, 0-d, empty,
    non-contiguous and big-endian ones, NaN payloads and longdouble (the same code runs in the
    kernel: tests below)."""
    import numpy as np
    nan = np.frombuffer(bytes.fromhex("0100000000f87f7f" "ffffffffffffffff"), dtype="<f8")  # two NaN payloads
    grid = np.arange(24, dtype=np.float64).reshape(4, 6) / 7
    return {
        "f2": np.linspace(-2, 2, 7, dtype=np.float16), "f4": (np.arange(5, dtype=np.float32) / 3),
        "f8": grid, "f8_nan_inf": np.concatenate([nan, [np.inf, -np.inf, -0.0, 5e-324]]),
        "longdouble": np.array([1, 3], dtype=np.longdouble) / 3,
        "i1": np.array([-128, 0, 127], dtype=np.int8), "u2": np.array([0, 65535], dtype=np.uint16),
        "i8": np.array([-2**63, 2**63 - 1], dtype=np.int64), "u8": np.array([2**64 - 1], dtype=np.uint64),
        "bool": np.array([[True, False], [False, True]]), "c8": np.array([1 + 2j, -0.5j], dtype=np.complex64),
        "c16": np.exp(1j * np.arange(3)), "zero_d": np.array(2.5), "zero_d_int": np.array(7, dtype=np.int16),
        "empty": np.zeros((0, 3)), "empty_2": np.ones((2, 0, 4), dtype=np.int32),
        "sliced": grid[::2, 1::3], "transposed": grid.T, "fortran": np.asfortranarray(grid),
        "reversed": grid[::-1, ::-1], "big_f8": np.arange(5, dtype=">f8") / 3, "big_i4": np.arange(-2, 3, dtype=">i4"),
        "big_c16": np.array([1 - 1j, 2.5j], dtype=">c16"), "big_sliced": (np.arange(12, dtype=">f4") / 7)[::3],
    }


ARRAYS_SOURCE = __import__("inspect").getsource(_arrays)


def _same_bytes(a, b) -> bool:
    return (type(a) is type(b) is np.ndarray and a.dtype == b.dtype and a.dtype.str == b.dtype.str
            and a.shape == b.shape and a.tobytes() == b.tobytes())


@pytest.mark.parametrize("name", list(_arrays()))
def test_arrays_cross_the_wire_byte_for_byte(name):
    value = _arrays()[name]
    back = _round_trip(value)
    assert _same_bytes(back, value) and back.flags.writeable and back.flags.c_contiguous
    buffers = []
    wire = W.to_wire([value], buffers=buffers)  # the request's form: the bytes in a binary buffer
    assert wire == [{"A": [value.dtype.str, list(value.shape), 0]}] and buffers == [value.tobytes()]


@pytest.mark.parametrize("answer", [
    {"A": ["<f8", [2], "AAAAAAAA8D8="]},  # 8 bytes for two float64
    {"A": ["<f8", [1], "not base64!"]}, {"A": ["<f8", [1], [1.0]]},  # numbers only as bytes
    {"A": ["<U1", [1], "YQAAAA=="]}, {"A": ["|O", [1], "AAAAAAAAAAA="]}, {"A": ["<f8", [-1], ""]},
    {"A": ["<f8", [1]]}, {"N": ["<f8"]}, {"A": ["<f8", [2, 3.0], ""]},
])
def test_a_malformed_array_is_refused(answer):
    with pytest.raises(ValueError):
        W.from_wire(answer, lambda ref: ref)


def test_a_bool_array_holds_only_true_and_false():
    back = W.from_wire({"A": ["|b1", [3], "AAEC"]}, lambda ref: ref)  # the bytes 0, 1, 2
    assert back.dtype == bool and back.view(np.uint8).tolist() == [0, 1, 1]


def test_nan_and_a_generator_cross_the_wire():
    assert np.isnan(_round_trip(float("nan")))
    rng = np.random.default_rng(5)
    copy = _round_trip(rng)
    assert isinstance(copy, np.random.Generator) and copy.random() == rng.random()


@pytest.mark.parametrize("value", [lambda x: x, print, object(), np.array([object()]), {1, 2}, b"bytes"])
def test_a_test_may_send_nothing_but_plain_data(value):
    with pytest.raises(TypeError):
        W.to_wire(value)


@pytest.mark.parametrize("answer", [
    {"A": ["|O", [1], [1]]}, {"A": ["<f8", [2], [1.0]]}, {"A": ["<f8", [1], [[1.0]]]}, {"D": [[[1], 2]]},
    {"X": 1}, {"T": [1], "D": []}, {"N": ["<M8[s]", 1]}, {"G": ["os.system", {}]}, {"R": 3},
])
def test_a_malformed_answer_is_refused(answer):
    with pytest.raises(ValueError):
        W.from_wire(answer, lambda ref: ref)


def test_free_names_are_what_the_test_reads_from_the_notebook():
    source = ("import math\nfrom numpy import array as arr\nLIMIT = 3\n"
              "def _t():\n    local = sigmoid(arr([1.0]))\n    return [tanh(v) for v in local] + [len(rows), LIMIT, math.pi]\n"
              "class K:\n    attr = relu\n_t()")
    assert T.free_names(source) == {"sigmoid", "tanh", "rows", "relu"}


_nb = code_notebook  # tests/nbhelpers.py


HONEST_CELLS = [
    "%timeit sigmoid(np.linspace(-5, 5, 100))",
    "%%timeit\nsigmoid(np.ones(3))",
    "%time y = np.tanh(3.0)",
    "%config InlineBackend.figure_format = 'retina'",
    "%load_ext autoreload\n%autoreload 2",
    "%matplotlib inline",
    "import os\nos.makedirs('figures', exist_ok=True)\nplt.plot([0, 1])\nplt.savefig(os.path.join('figures', 'd.png'))",
    "def helper(x):\n    return np.exp(-x)\nclass Act:\n    def __call__(self, x):\n        return helper(x)\nf = lambda x: 2 * x\nprint(f(2))",
    "out = np.asarray([1.0], dtype=np.float32)\nvals = [float(v) for v in out]",
]
EVASIVE_CELLS = {
    "b = len.__self__\nb.open('x')": "__self__",
    "import posix\nposix.system('ls')": "posix",
    "import _sqlite3": "_sqlite3",
    "import sys\nm = getattr(sys, 'modules')": "modules",
    "x = np.fromfile('/etc/passwd', dtype=np.uint8)": "fromfile",
    "m = __import__('o' + 's')": "__import__",
    "import importlib\nimportlib.import_module('os')": "importlib",
    "import builtins\nbuiltins.abs = abs": "builtins",
    "import os as o\no.kill(1, 9)": "os.kill",
    "from os import system": "os.system",
    "getattr(np, 'load')('x.npy')": "load",
    "%timeit exec('1')": "exec",
    "import operator\noperator.attrgetter('modules')(sys)": "operator",
    "f = (lambda: 0).__globals__": "__globals__",
    "%config IPKernelApp.exec_lines = ['x']": "get_ipython",
    "%load_ext my_extension": "get_ipython",
    "import _posixsubprocess": "_posixsubprocess",
    "a = getattr(x, name)": "getattr",
    "np.ones(3).tofile('x')": "tofile",
}


def test_honest_unusual_cells_are_not_flagged():
    release = _nb("import numpy as np\nimport matplotlib.pyplot as plt", locked=(0,))
    for cell in HONEST_CELLS:
        assert integrity.check_notebook(_nb(release.cells[0].source, cell), release) == [], cell


def test_evasive_spellings_are_flagged():
    release = _nb("import numpy as np\nimport sys", locked=(0,))
    for cell, word in EVASIVE_CELLS.items():
        reasons = " ".join(f["reason"] for f in integrity.check_notebook(_nb(release.cells[0].source, cell), release))
        assert word in reasons, (cell, reasons)


# --- a class through the real pipeline ------------------------------------------------------------

# Each attack is written into the first solution cell of BLANK work (it must score 0) or after
# the first test cell of CORRECT work (it must cost nothing).
PATCHES = """import numpy as np, math
np.testing.assert_allclose = lambda *a, **k: None
math.isfinite = lambda x: True
np.allclose = np.isclose = lambda *a, **k: True
"""
MONKEY = PATCHES + """import builtins
builtins.abs = lambda x: 0.0
builtins.all = builtins.any = lambda *a: True
def sigmoid(x): return np.zeros_like(np.asarray(x, dtype=float))
sigmoid_prime = sigmoid"""
SYS_MODULES = """import sys, types
fake = types.ModuleType("math")
fake.isfinite = lambda x: True
fake.fabs = lambda x: 0.0
sys.modules["math"] = fake
sys.modules["source_lib.checks"] = types.SimpleNamespace(check=lambda *a, **k: None, values=lambda *a, **k: [])
sys.modules["json"] = types.SimpleNamespace(dumps=lambda *a, **k: '{"ok": 0.5}', loads=__import__("json").loads)
import IPython.display
IPython.display.publish_display_data = lambda *a, **k: None  # the collector's answers"""
TRANSFORMER = """ip = get_ipython()
ip.input_transformers_cleanup.append(lambda lines: ['pass\\n'] if any('_test_' in l or 'instructor' in l for l in lines) else lines)
ip.ast_transformers.clear()"""
SETTRACE = """import sys
def _tracer(frame, event, arg):
    for k, v in list(frame.f_locals.items()):
        if k in ("bad", "ok") or isinstance(v, AssertionError):
            frame.f_locals[k] = [] if k == "bad" else True
    return _tracer
sys.settrace(_tracer)"""
HIDDEN_TRACEBACK = """ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip.set_custom_exc((BaseException,), lambda *a, **k: None)
import sys
sys.excepthook = lambda *a: None"""
# after a test cell: what the kernel's history holds, and the notebook files it finds from its
# working directory (absolute paths of the course are the sandbox's: tests/test_sandbox.py)
LEAK = """import glob
print("history:", _i, In, _ih, Out)
for path in glob.glob("*.ipynb") + glob.glob("../*.ipynb") + glob.glob("../../*/*.ipynb") + glob.glob("../../../*/*/*.ipynb"):
    print(path, open(path).read())"""
HONEST = {
    "sigmoid": """def _stable(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

class Sigmoid:
    def __call__(self, x):
        return _stable(np.asarray(x, dtype=float))

sigmoid = Sigmoid()
sigmoid_prime = lambda x: sigmoid(x) * (1.0 - sigmoid(x))
print("sigmoid(0) =", sigmoid(0.0))""",
    "relu": """def relu(x):
    x = np.asarray(x)
    x = x if x.dtype.kind == "f" else x.astype(float)
    return np.maximum(x, np.zeros((), dtype=x.dtype))  # keeps float32 as float32

def relu_prime(x):
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=x.dtype if x.dtype.kind == "f" else float)
    flat, res = x.ravel(), out.ravel()
    for i in range(flat.size):  # a loop instead of np.where
        res[i] = 1.0 if flat[i] >= 0 else 0.0  # the course's convention: relu'(0) = 1
    return out""",
}
HONEST_EXTRA = ("%load_ext autoreload\n%autoreload 2\n%config InlineBackend.figure_format = 'retina'\n"
                "%timeit sigmoid(np.linspace(-5, 5, 100))\nimport os\nimport matplotlib.pyplot as plt\n"
                "os.makedirs('figures', exist_ok=True)\nplt.plot([0, 1], [0, 1])\nplt.savefig('figures/line.png')\n"
                "plt.close()\nprint('saved')")


def _master():
    return nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)


def _rubric(master) -> dict[str, float]:
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in master.cells
            if T.is_trusted_cell(c)}


def _ids(nb, kind):
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get(kind)
            and not (kind == "solution" and c.metadata.nbgrader.get("grade"))]


def _retype_all(nb):
    for gid in _ids(nb, "solution"):
        nb = S.retype_cell(nb, gid)
    return nb


def _grade(c, assignments):
    protected = [c / p for p in ("submitted", "solutions", "assignments")]
    notes = course.autograde(c, assignments, timeout=TIMEOUT, log=lambda m: None, protected=protected)
    totals, questions = course.collect_grades(c, assignments)
    return notes, {(q["student"], q["question"]): q["score"] for q in questions if q["graded_by"] == "auto"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    c = course.scratch_course(tmp_path_factory.mktemp("trusted") / "course", [A])
    course.release(c, [A], log=lambda m: None)
    full, blank = S.filled(c, A), S.blank(c, A)
    first_solution, first_test = _ids(blank, "solution")[0], _ids(blank, "grade")[0]
    # attacks that would raise a score go together (any one that worked would score), and so do
    # those that cut the grader's channel (the data never arrives)
    students = {
        "perfect": full, "blank": blank,
        "subverter": S.prepend(S.prepend(S.replace_cell(blank, first_solution, MONKEY), "tanh", SETTRACE),
                               "relu", HIDDEN_TRACEBACK),
        "channel_cutter": S.prepend(S.prepend(blank, first_solution, TRANSFORMER), "tanh", SYS_MODULES),
        "attacks_beside_work": S.prepend(S.prepend(S.prepend(full, "tanh", SETTRACE), "relu", HIDDEN_TRACEBACK),
                                         "elu", PATCHES),
        "misnamed": full,
        "honest": S.append(full, "mish", HONEST_EXTRA),
        "retyped_all": _retype_all(full),
    }
    leak = students["attacks_beside_work"]  # and, after the first test, a look at the history and the files
    k = next(i for i, cell in enumerate(leak.cells) if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == first_test)
    leak.cells.insert(k + 1, nbformat.v4.new_code_cell(LEAK))
    k = next(i for i, cell in enumerate(full.cells) if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == first_test)
    misnamed = students["misnamed"] = copy.deepcopy(full)  # the first test finds no sigmoid_prime
    misnamed.cells.insert(k + 1, nbformat.v4.new_code_cell("sigmoid_prime = _kept"))
    misnamed.cells.insert(k, nbformat.v4.new_code_cell("_kept = sigmoid_prime\ndel sigmoid_prime"))
    for gid, code in HONEST.items():
        students["honest"] = S.replace_cell(students["honest"], gid, code)
    for name, nb in students.items():
        S.write(nb, c, name, A)
    notes, scores = _grade(c, [A])
    pages = course.feedback(c, [A], log=lambda m: None)
    return dict(course=c, notes=notes, scores=scores, pages=pages, students=set(students))


# student -> the questions that student loses ("all": every one)
LOST = {"perfect": [], "attacks_beside_work": [], "honest": [], "retyped_all": [], "misnamed": ["test_sigmoid"],
        "blank": "all", "subverter": "all", "channel_cutter": "all"}


@pytest.mark.slow
def test_in_kernel_attacks_score_exactly_the_work_done(graded):
    rubric = _rubric(_master())
    assert set(LOST) == graded["students"]
    for student, lost in LOST.items():
        lost = set(rubric) if lost == "all" else set(lost)
        assert graded["notes"][(A, student)]["graded"], (student, graded["notes"][(A, student)])
        for question, points in rubric.items():
            want = 0.0 if question in lost else points
            assert graded["scores"][(student, question)] == want, (student, question)


@pytest.mark.slow
def test_honest_unusual_work_is_not_flagged(graded):
    for student in ("perfect", "honest", "retyped_all"):
        assert graded["notes"][(A, student)]["flags"] == [], student


@pytest.mark.slow
def test_no_feedback_page_shows_a_hidden_test(graded):
    hidden = hidden_lines(_master(), S.blank(graded["course"], A))
    assert len(hidden) > 10
    assert len(graded["pages"]) == len(graded["students"])
    for page in graded["pages"]:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        assert "HIDDEN TESTS" not in text, page
        assert not [line for line in hidden if line in text], page
    leak = graded["course"] / "feedback" / "attacks_beside_work" / A / f"{A}.html"
    assert "history:" in leak.read_text(encoding="utf-8")  # the leaking cell ran, and found nothing


@pytest.mark.slow
def test_what_failed_is_named_in_the_feedback(graded):
    page = (graded["course"] / "feedback" / "misnamed" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "sigmoid_prime is not defined" in page
    page = (graded["course"] / "feedback" / "blank" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "NotImplementedError" in page and "raised by your code" in page


@pytest.mark.slow
@pytest.mark.parametrize("assignment, beside_perfect", [("ps2_losses", True), ("ps3_vanishing_gradient", False)])
def test_every_solution_cell_retyped_scores_what_the_cells_deserve(tmp_path, assignment, beside_perfect):
    """nbgrader 0.9.6 raised KeyError on such a notebook (its whole grade lost); now the retyped
    code runs as ordinary cells and scores what the same code scores in its own cells: full
    marks (ps3), or exactly what the perfect submission scores in the same run (ps2, whose
    test_slowdown hands grader-side functions to train_neuron until H4b's rewrite lands; the
    trusted grader refuses to send functions, instructor/trusted.py)."""
    c = course.scratch_course(tmp_path / "course", [assignment])
    course.release(c, [assignment], log=lambda m: None)
    full = S.filled(c, assignment)
    rubric = _rubric(nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4))
    S.write(_retype_all(full), c, "retyped_all", assignment)
    if beside_perfect:
        S.write(full, c, "perfect", assignment)
    notes, scores = _grade(c, [assignment])
    assert notes[(assignment, "retyped_all")]["graded"]
    for q, points in rubric.items():
        assert scores[("retyped_all", q)] == (scores[("perfect", q)] if beside_perfect else points), q
    assert sum(scores[("retyped_all", q)] for q in rubric) > 0


# --- the wire through a real (sandboxed) kernel: TrustedExecute on a small master -----------------


def _grade_cell(gid, source):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": gid, "points": 1,
                                 "schema_version": 3}
    return cell


def _trusted_outputs(tmp_path, student: list, tests: dict, timeout: int = 60) -> dict:
    """``{grade_id: outputs}`` of TrustedExecute on a notebook of ``student`` cells (a str is
    the student's code, a 1-tuple the grade cell of that id) whose master holds ``tests``."""
    from traitlets.config import Config
    from instructor.trusted import TrustedExecute

    (tmp_path / "source" / "a").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[_grade_cell(g, src) for g, src in tests.items()]),
                   tmp_path / "source" / "a" / "nb.ipynb")
    cells = [_grade_cell(c[0], "# the student's copy of the test") if isinstance(c, tuple)
             else nbformat.v4.new_code_cell(c) for c in student]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                         "display_name": "Python 3"}})
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    config.CourseDirectory.source_directory = "source"
    config.Execute.timeout = timeout
    TrustedExecute(config=config).preprocess(nb, {"nbgrader": {"assignment": "a", "notebook": "nb"},
                                                  "metadata": {"path": str(tmp_path)}})
    assert nb.metadata["autograde"]["sandboxed"]
    return {c.metadata["nbgrader"]["grade_id"]: c.outputs for c in nb.cells if "nbgrader" in c.metadata}


def _errors(outputs) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]


def _result(outputs):
    return [o.data["text/plain"] for o in outputs if o.output_type == "execute_result"]


STUDENT_WIRE = ARRAYS_SOURCE + '''
def echo(x):
    return x

def describe(x):  # what the kernel received: dtype, shape and bytes
    return [x.dtype.str, list(x.shape), x.tobytes().hex(), x.flags.writeable]

def make(name):
    return _arrays()[name]

def make_object():
    return np.array([1, "a"], dtype=object)
'''
TEST_WIRE = ARRAYS_SOURCE + '''
import numpy as np
def _same(a, b, padded=False):  # padded: x87 long doubles computed apart differ in their 6 padding bytes
    return (type(a) is type(b) is np.ndarray and a.dtype.str == b.dtype.str and a.shape == b.shape
            and (a.tobytes() == b.tobytes() or padded and np.array_equal(a, b)))
for name, a in _arrays().items():
    assert _same(echo(a), a), ("echo", name)
    assert describe(a) == [a.dtype.str, list(a.shape), a.tobytes().hex(), True], ("describe", name)
    assert _same(make(name), a, padded=a.dtype == np.longdouble), ("make", name)
    assert _same(echo([a, {"k": (a, 1)}])[1]["k"][0], a), ("nested", name)
try:
    echo(np.array([object()]))
    raise AssertionError("an object array was sent")
except TypeError as e:
    assert "dtype object" in str(e), e
try:
    make_object()
    raise AssertionError("an object array came back")
except TypeError as e:
    assert "dtype object" in str(e), e
"exact"
'''


@pytest.mark.slow
def test_arrays_cross_a_real_kernel_byte_for_byte(tmp_path):
    outputs = _trusted_outputs(tmp_path, ["import numpy as np\n" + STUDENT_WIRE, ("wire",)], {"wire": TEST_WIRE})
    assert _errors(outputs["wire"]) == [] and _result(outputs["wire"]) == ["'exact'"]


# a student's function that breaks the channel during one test; the cell after that test mends
# what the collector's reinstallation does not (the kernel's stdin socket, its session's recv)
STUDENT_SABOTAGE = '''
import IPython.display
from IPython import get_ipython

def f(x):
    return 2 * x

def cut():  # deletes the collector (the loop that runs keeps its own; the next test installs it again)
    del globals()["__instructor_trusted__"]

def _done(*args, **kwargs):  # the session's recv, as if the grader had said "done"
    return [], {"content": {"value": "done"}}

def no_stdin():  # from now on, each read of the collector's ends its loop at once
    get_ipython().kernel.session.recv = _done

def no_raw_input():  # the kernel's raw_input ends at once: the collector does not use it
    k = get_ipython().kernel
    type(k)._saved_raw_input, type(k).raw_input = type(k).raw_input, lambda self, prompt="": "done"

def mute():  # the collector's answers go nowhere: its next input request fails
    k = get_ipython().kernel
    k._saved_stdin, k.stdin_socket = k.stdin_socket, None

def huge():  # 48.8 MB of float64: base64 over MAX_RESULT_CHARS
    return np.zeros(6_100_000)

def flood(x):  # floods the outputs with text and with answers of the old channel (display data)
    print("noise\\n" * 100_000)
    for _ in range(200):
        IPython.display.publish_display_data({"application/x-instructor-trusted": '{"ok": 0}'})
        IPython.display.publish_display_data({"text/plain": "x" * 1000})
    return 3 * x
'''
MEND = '''k = get_ipython().kernel
vars(k.session).pop("recv", None)
if hasattr(type(k), "_saved_raw_input"):
    type(k).raw_input = type(k)._saved_raw_input
    del type(k)._saved_raw_input
if hasattr(k, "_saved_stdin"):
    k.stdin_socket = k._saved_stdin
    del k._saved_stdin
'''


@pytest.mark.slow
def test_a_broken_channel_costs_only_the_test_it_breaks(tmp_path):
    ok = "assert f(2) == 4\n'ok'"
    tests = {"before": ok, "cut": "cut()\nf(1)", "after_cut": ok, "no_raw_input": "no_raw_input()\nf(1)",
             "after_no_raw_input": ok, "no_stdin": "no_stdin()\nf(1)",
             "broken_by_no_stdin": ok, "after_no_stdin": ok, "mute": "mute()\nf(1)", "after_mute": ok,
             "flood": "assert flood(2) == 6\n'ok'", "after_flood": ok, "huge": "huge()", "after_huge": ok}
    student = ["import numpy as np\n" + STUDENT_SABOTAGE]
    for gid in tests:
        student += [(gid,)] + ([MEND] if gid in ("after_no_raw_input", "broken_by_no_stdin", "mute") else [])
        if gid == "cut":
            student.append("globals().pop('__instructor_trusted__', None)")  # and between tests
    outputs = _trusted_outputs(tmp_path, student, tests)
    for gid in ("before", "after_cut", "after_no_raw_input", "after_no_stdin", "after_mute", "flood", "after_flood",
                "after_huge"):
        assert _errors(outputs[gid]) == [] and _result(outputs[gid]) == ["'ok'"], (gid, outputs[gid])
    for gid in ("cut", "no_raw_input"):  # the collector's loop runs on: deleting its name, or the kernel's
        assert _errors(outputs[gid]) == [] and _result(outputs[gid]) == ["2"], (gid, outputs[gid])  # raw_input
    for gid in ("no_stdin", "broken_by_no_stdin", "mute"):
        errors = _errors(outputs[gid])
        assert len(errors) == 1 and errors[0].startswith("NoAnswer: the grader"), (gid, errors)
    assert _errors(outputs["huge"]) == ["ResultTooLarge: the result is larger than the grader accepts (48800000 bytes of arrays)"]


@pytest.mark.slow
def test_a_kernel_without_ipykernel_7s_names_is_served_through_its_raw_input(tmp_path, monkeypatch):
    # another ipykernel (an AttributeError where the collector reads the kernel's names) gets the
    # kernel's raw_input: it grades the same, and a replaced raw_input now breaks the next test
    from instructor import collector, trusted

    head = "    def reader(self, kernel):\n"
    assert head in collector.AGENT
    agent = collector.AGENT.replace(head, head + "        raise AttributeError('_get_shell_context_var')\n", 1)
    monkeypatch.setattr(trusted, "SERVE", collector.serve_source(agent))
    ok = "assert f(2) == 4\n'ok'"
    tests = {"before": ok, "no_raw_input": "no_raw_input()\nf(1)", "broken": ok}
    outputs = _trusted_outputs(tmp_path, ["import numpy as np\n" + STUDENT_SABOTAGE] + [(g,) for g in tests], tests)
    assert _errors(outputs["before"]) == [] and _result(outputs["before"]) == ["'ok'"], outputs["before"]
    assert _errors(outputs["no_raw_input"]) == [] and _result(outputs["no_raw_input"]) == ["2"], outputs["no_raw_input"]
    errors = _errors(outputs["broken"])
    assert len(errors) == 1 and errors[0].startswith("NoAnswer: the grader"), errors


# a student's functions that use the kernel's stdin channel, the grader's channel, themselves
STUDENT_STDIN = '''
import builtins, getpass, json, signal, time
from IPython import get_ipython

def f(x):
    return 2 * x

def ask():  # honest code that asks for input: it fails as in any cell the grader runs
    return input("your name? ")

def ask_password():
    return getpass.getpass("password? ")

def _stdin_on():
    k = get_ipython().kernel
    k._allow_stdin = True
    return k

def forge(n):  # an answer of its own to request n, through the kernel's raw_input (stdin turned back on)
    got = _stdin_on().raw_input(json.dumps({"n": n, "ok": 99}))
    return [n, got]

def forge_many():  # many input requests, whatever the grader replies
    k = _stdin_on()
    return [k.raw_input("not an answer %d" % i) for i in range(50)]

def replace_input(x):  # builtins.input is the student's to replace: it must not matter
    builtins.input = lambda prompt="": json.dumps({"n": 2, "ok": 99})
    return 2 * x

def spin():  # past the time limit: interrupted
    while True:
        pass

def ignore_sigint():  # past the time limit, and deaf to the interrupt: the kernel hangs
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass

def crash():
    import os
    os._exit(1)
'''


@pytest.mark.slow
def test_the_students_use_of_stdin_costs_only_its_own_test(tmp_path):
    ok = "assert f(2) == 4\n'ok'"
    after_spin = ("try:\n    spin()\nexcept Exception as e:\n    assert getattr(e, 'ename', '') == 'TimeoutError', e\n"
                  "assert f(3) == 6\n'ok'")  # the loop starts again for the calls after a time limit
    tests = {"ask": "ask()", "after_ask": ok, "password": "ask_password()", "forge": "forge(2)",
             "forge_wrong": "forge(7)", "after_forge": ok,
             "forge_many": "forge_many()", "after_forge_many": ok, "replace": "assert replace_input(1) == 2\n" + ok,
             "after_replace": ok, "spin": "spin()", "after_spin": after_spin, "hang": "ignore_sigint()",
             "after_hang": ok}
    student = ["import numpy as np\n" + STUDENT_STDIN, "builtins.input = lambda prompt='': '{\"n\": 1, \"ok\": 0}'"]
    student += [(gid,) for gid in tests]
    outputs = _trusted_outputs(tmp_path, student, tests, timeout=3)
    for gid in ("after_ask", "after_forge", "after_forge_many", "replace", "after_replace", "after_spin"):
        assert _errors(outputs[gid]) == [] and _result(outputs[gid]) == ["'ok'"], (gid, outputs[gid])
    no_stdin = "raw_input was called, but this frontend does not support input requests."
    assert _errors(outputs["ask"]) == [f"StdinNotImplementedError: {no_stdin}"]
    assert _errors(outputs["password"]) == [
        "StdinNotImplementedError: getpass was called, but this frontend does not support input requests."]
    # a well-formed answer to the call being made (resolve was request 1) is taken: what the
    # student's own function could have returned; any other costs that call
    assert _errors(outputs["forge"]) == [] and _result(outputs["forge"]) == ["99"], outputs["forge"]
    for gid in ("forge_wrong", "forge_many"):
        errors = _errors(outputs[gid])
        assert len(errors) == 1 and errors[0].startswith("NoAnswer: the grader got something else"), (gid, errors)
    assert _errors(outputs["spin"]) == ["TimeoutError: your code ran past this test's time limit and was interrupted"]
    assert [e.split(":")[0] for e in _errors(outputs["hang"])] == ["KernelHung"]
    assert [e.split(":")[0] for e in _errors(outputs["after_hang"])] == ["NotRun"]


@pytest.mark.slow
def test_a_kernel_that_dies_during_a_call_keeps_the_tests_before(tmp_path):
    ok = "assert f(2) == 4\n'ok'"
    tests = {"before": ok, "crash": "crash()", "after": ok}
    outputs = _trusted_outputs(tmp_path, ["import numpy as np\n" + STUDENT_STDIN] + [(gid,) for gid in tests], tests)
    assert _errors(outputs["before"]) == [] and _result(outputs["before"]) == ["'ok'"]
    assert [e.split(":")[0] for e in _errors(outputs["crash"])] == ["KernelDied"]
    assert [e.split(":")[0] for e in _errors(outputs["after"])] == ["NotRun"]
