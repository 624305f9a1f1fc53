"""End to end for ps2_losses and ps3_vanishing_gradient (ps1 is in test_grading.py), through the trusted grader
(test cells run in the grader process):
the solution scores full automatic points, the untouched release scores 0, a partial
submission scores exactly the points of the questions it answered, a student who left one function
unfinished loses only the questions that need it (each test cell grades its own question: its
references are computed in the cell, never through the student's other functions), and an attacker
(finite differences, self-consistent fakes, all-zero functions with np.testing / CHECKS / self_check
monkeypatched) scores 0 on exactly the attacked questions. One temporary course directory and
one autograde run for both assignments."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

from instructor import course  # noqa: E402
from instructor import submissions as S  # noqa: E402

pytestmark = pytest.mark.slow

# ps1 is graded end to end in test_grading.py; its rubric entries below serve a run of all three (NAMES += ps1)
NAMES = ["ps2_losses", "ps3_vanishing_gradient"]
# the tests the partial student must lose: those of the solution cells in PARTIAL_BLANK
PARTIAL_LOST = {
    "ps1_activation_derivatives": {"test_mish", "test_derivative_table"},
    "ps2_losses": {"test_other_losses", "test_slowdown"},
    "ps3_vanishing_gradient": {"test_remedies", "test_noise_schedule"},
}

# one function left as released (its stub), everything else answered: (solution cell, function), and the tests that
# must score 0. Rubric logic: a test cell loses its points only if its own question's answer is missing or the
# student's own data for it (a table computed with that function) cannot exist.
UNFINISHED = {
    "ps1_activation_derivatives": ("elu", "elu_prime"),
    "ps2_losses": ("deltas", "delta_mse_sigmoid"),
    "ps3_vanishing_gradient": ("init_network", "init_network"),
}
UNFINISHED_LOST = {
    # the table evaluates every derivative
    "ps1_activation_derivatives": {"test_elu", "test_derivative_table"},
    # test_delta_ce_sigmoid no longer divides by delta_mse_sigmoid, and test_slowdown trains with its own gradients
    "ps2_losses": {"test_delta_mse_sigmoid"},
    # test_backprop_speeds draws its networks in the test cell; speed_table and remedies are the student's numbers
    # at initialisation, drawn with init_network, so they are never computed
    "ps3_vanishing_gradient": {"test_init_network", "test_nielsen_table", "test_remedies"},
}

# solution cell -> what a sloppy or sneaky student typed there, and the tests that must score 0
ATTACKS = {"ps2_losses": {
    "other_losses": '''import numpy.testing
def msle(y, p):
    return np.zeros(len(y))
mae = mape = kl_divergence = hinge = msle
np.testing.assert_allclose = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
CHECKS = {}
check_other_losses = _close = lambda *args, **kwargs: None
def self_check():
    print("8/8 questions pass their visible tests (20/20 automatic points).")''',
    # dC/dz by central differences of the student's own (correct) losses
    "deltas": '''def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(np.asarray(z) >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _numeric(loss, f, z, y, h=1e-6):
    z = np.asarray(z, dtype=float)
    g = np.zeros_like(z)
    for j in range(z.shape[-1]):
        up, down = z.copy(), z.copy()
        up[..., j] += h
        down[..., j] -= h
        g[..., j] = (loss(y, f(up)) - loss(y, f(down))) / (2 * h)
    return g


def delta_mse_linear(z, y):
    return _numeric(half_mse, lambda v: v, z, y)


def delta_mse_sigmoid(z, y):
    return _numeric(half_mse, sigmoid, z, y)


def delta_ce_sigmoid(z, y):
    return _numeric(binary_cross_entropy, sigmoid, z, y)


def delta_ll_softmax(z, y):
    return _numeric(log_likelihood, softmax, z, y)''',
    "saturation": '''sigma_prime_at_start = {"w=0.6, b=0.9": 0.1491, "w=2, b=2": 0.0177}''',
}}
ATTACKS_LOST = {"ps2_losses": {"test_other_losses", "test_delta_mse_linear", "test_delta_mse_sigmoid",
                               "test_delta_ce_sigmoid", "test_delta_ll_softmax", "test_saturation"}}
ATTACKS["ps3_vanishing_gradient"] = {
    # self-consistent fakes: made-up speeds, and the table and remedies computed from them
    "backprop_speeds": '''def backprop_speeds(weights, biases, x, y, activation="sigmoid", residual=False):
    base = 0.5 if residual or activation != "sigmoid" else 0.2
    n = len(weights) - 1
    return np.array([0.3 * base ** (n - 1 - l) for l in range(n)])''',
    "noise_schedule": '''import numpy.testing
def noise_variance(t, eta=1.0, gamma=0.55):
    return np.zeros(np.shape(t))


def add_gradient_noise(grads, t, rng, eta=1.0, gamma=0.55):
    return [g.copy() for g in grads]


np.testing.assert_allclose = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
CHECKS = {}
check_noise = lambda *args, **kwargs: None
def self_check():
    print("5/5 questions pass their visible tests (17/17 automatic points).")''',
}
ATTACKS["ps1_activation_derivatives"] = {
    # f' by central differences: wrong at the kink (0.5 at x = 0); the table's min and max stay right
    "relu": '''def relu(x):
    return np.maximum(np.asarray(x, dtype=float), 0.0)


def relu_prime(x):
    x = np.asarray(x, dtype=float)
    return (relu(x + 1e-6) - relu(x - 1e-6)) / 2e-6''',
    # the naive formula: right on [-10, 10], overflow at large x
    "mish": '''def mish(x):
    x = np.asarray(x, dtype=float)
    return x * np.tanh(np.log(1 + np.exp(x)))


def mish_prime(x):
    x = np.asarray(x, dtype=float)
    t, s = np.tanh(np.log(1 + np.exp(x))), 1 / (1 + np.exp(-x))
    return t + x * s * (1 - t * t)''',
}
ATTACKS_LOST["ps1_activation_derivatives"] = {"test_relu", "test_mish"}
ATTACKS_LOST["ps3_vanishing_gradient"] = {"test_backprop_speeds", "test_nielsen_table", "test_remedies", "test_noise_schedule"}


def _attacked(c, name):
    nb = S.filled(c, name)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ATTACKS[name]:
            cell.source = ATTACKS[name][gid]
    return nb


def _function_source(source, name):
    """The source lines of the top-level function ``name`` in a cell's source."""
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return "".join(source.splitlines(keepends=True)[node.lineno - 1:node.end_lineno])


def _unfinished(c, name):
    """Everything answered from the master except one function, which keeps the release's stub."""
    gid, function = UNFINISHED[name]
    nb, release = S.filled(c, name), S.blank(c, name)
    stub = next(cell.source for cell in release.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == gid)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
            answered = _function_source(cell.source, function)
            cell.source = cell.source.replace(answered, _function_source(stub, function))
            assert "raise NotImplementedError()" in cell.source
    return nb


def _reuser(c):
    """ps3 answered in full, and a later cell reads what the informational Keras comparison computed."""
    nb = S.filled(c, "ps3_vanishing_gradient")
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "remedies":
            cell.source += "\nprint('Keras on the same network:', np.round(keras_speeds, 4))"
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    c = course.scratch_course(tmp_path_factory.mktemp("course") / "course", NAMES)
    course.release(c, NAMES, log=lambda m: None)
    for name in NAMES:
        S.write(S.filled(c, name), c, "solution", name)
        S.write(S.blank(c, name), c, "release", name)
        S.write(S.filled(c, name, skip=S.PARTIAL_BLANK[name]), c, "partial", name)
        S.write(_unfinished(c, name), c, "unfinished", name)
        S.write(_attacked(c, name), c, "attacker", name)
    S.write(_reuser(c), c, "reuser", "ps3_vanishing_gradient")
    # the config's per-cell limit: a grade cell that starts TensorFlow in the grader needs it on a loaded machine
    notes = course.autograde(c, NAMES, timeout=120, log=lambda m: None, jobs=2)  # as `make autograde` on 2 CPUs
    totals, questions = course.collect_grades(c, NAMES)
    return dict(course=c, notes=notes, totals=totals, questions=questions)


def _rubric(name):
    master = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in master.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


@pytest.mark.parametrize("name", NAMES)
def test_scores_follow_the_rubric(graded, name):
    rubric = _rubric(name)
    assert PARTIAL_LOST[name] < set(rubric) and UNFINISHED_LOST[name] < set(rubric)
    got = {(q["student"], q["question"]): q["score"] for q in graded["questions"]
           if q["assignment"] == name and q["graded_by"] == "auto"}
    def why(student):
        return question, graded["notes"][(name, student)]["problems"]

    for question, points in rubric.items():
        assert got[("solution", question)] == points, why("solution")
        assert got[("release", question)] == 0, question
        assert got[("partial", question)] == (0 if question in PARTIAL_LOST[name] else points), why("partial")
        assert got[("unfinished", question)] == (0 if question in UNFINISHED_LOST[name] else points), why("unfinished")
        assert got[("attacker", question)] == (0 if question in ATTACKS_LOST[name] else points), why("attacker")
    rows = {r["student"]: r for r in graded["totals"] if r["assignment"] == name}
    assert rows["solution"]["auto_score"] == rows["solution"]["max_auto_score"] == sum(rubric.values())
    assert rows["release"]["score"] == 0
    assert rows["partial"]["auto_score"] == sum(p for q, p in rubric.items() if q not in PARTIAL_LOST[name])


@pytest.mark.parametrize("name", NAMES)
def test_solution_runs_clean(graded, name):
    """No error output anywhere in the graded solution, hidden tests included."""
    assert graded["notes"][(name, "solution")]["problems"] == []
    nb = nbformat.read(graded["course"] / "autograded" / "solution" / name / f"{name}.ipynb", as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    # no test cell prints to stderr (TensorFlow's start-up lines included)
    noisy = [c.metadata.nbgrader["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and any(o.get("name") == "stderr" for o in c.get("outputs", []))]
    assert noisy == []


@pytest.mark.parametrize("name", NAMES)
def test_the_attackers_self_check_is_not_fooled(graded, name):
    """The attacker redefined self_check to print full marks; the final, locked self-check cell runs its own copy."""
    nb = nbformat.read(graded["course"] / "autograded" / "attacker" / name / f"{name}.ipynb", as_version=4)
    report = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "informational (NOT graded)" in report
    assert "FAILED" in report and not any(f"({n}/{n} automatic points)" in report for n in (24, 20, 17))


def _cell(graded, student, name, gid):
    nb = nbformat.read(graded["course"] / "autograded" / student / name / f"{name}.ipynb", as_version=4)
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def test_the_informational_cell_is_left_out_when_nothing_needs_it(graded):
    """ps3's Keras comparison (tagged 'informational', the only cell that needs TensorFlow) is not run for a
    submission whose later cells never read what it computes: one stdout line says so."""
    from instructor import informational

    outputs = _cell(graded, "solution", "ps3_vanishing_gradient", "keras_comparison").outputs
    assert [o.get("text") for o in outputs] == [informational.NOTE]


def test_the_informational_cell_runs_when_a_later_cell_reads_it(graded):
    """Honest but unusual: a student who reuses keras_speeds later gets the comparison run, and full points."""
    name = "ps3_vanishing_gradient"
    text = "".join(o.get("text", "") for o in _cell(graded, "reuser", name, "keras_comparison").outputs)
    assert "relative diff" in text and "TensorFlow devices:" in text
    assert "Keras on the same network: [" in "".join(o.get("text", "") for o in _cell(graded, "reuser", name, "remedies").outputs)
    scores = {(q["student"], q["question"]): q["score"] for q in graded["questions"] if q["assignment"] == name}
    assert {q: s for (st, q), s in scores.items() if st == "reuser"} == {q: s for (st, q), s in scores.items() if st == "solution"}
    assert graded["notes"][(name, "reuser")]["problems"] == [] and graded["notes"][(name, "reuser")]["flags"] == []
