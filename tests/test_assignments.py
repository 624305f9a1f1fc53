"""The three nbgrader assignments: structure of the masters, the committed release, and no leaks
of solutions or hidden tests into assignments/ or the student bundle (no kernels run here)."""

from __future__ import annotations

import ast
import builtins
import json
import re
import symtable
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

from instructor import course  # noqa: E402
from source_lib import colab  # noqa: E402

NAMES = ["ps1_activation_derivatives", "ps2_losses", "ps3_vanishing_gradient"]
# the lecture's review questions ("Вопросы", the last slide), one per assignment
QUESTIONS = {
    "ps1_activation_derivatives": "Основное отличие сигмоидальной функции от ReLU",
    "ps2_losses": "Какие функции потерь предпочтительнее",
    "ps3_vanishing_gradient": "Что такое проблема «затухающего градиента»",
}
MARKER = re.compile(r"#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)")


def _nb(folder, name):
    return nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4)


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def _secret_lines(name) -> set[str]:
    """Lines of the master that students must never see: solutions and hidden tests."""
    secret, public = set(), set()
    for cell in _nb("solutions", name).cells:
        inside = False
        for line in cell.source.splitlines():
            if MARKER.search(line):
                inside = line.strip().split()[1] == "BEGIN"
                continue
            (secret if inside else public).add(line.strip())
        if cell.cell_type == "markdown" and _meta(cell).get("solution"):
            secret |= {line.strip() for line in cell.source.splitlines()}
    # a line that the master also shows outside the secret parts (a visible check) is not secret
    return {line for line in secret - public if len(line) >= 12}


def test_the_course_lists_every_assignment():
    assert course.assignments_in(ROOT) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_master_structure(name):
    nb = _nb("solutions", name)
    nbformat.validate(nb)
    graded = [c for c in nb.cells if _meta(c).get("grade")]
    tests = [c for c in graded if c.cell_type == "code"]
    manual = [c for c in graded if c.cell_type == "markdown"]
    assert all(_meta(c).get("points", 0) > 0 for c in graded), "points on every graded cell"
    assert len(tests) >= 5 and all("### BEGIN HIDDEN TESTS" in c.source for c in tests)
    assert all(_meta(c).get("locked") for c in tests)
    # free-response cells, graded by hand: the review question, and ps1's derivations (issue 14, item 1)
    assert all(_meta(c).get("solution") for c in manual)
    assert sorted(_meta(c)["grade_id"] for c in manual) == (
        ["derivations", "review_question"] if name == "ps1_activation_derivatives" else ["review_question"])
    review = next(c for c in manual if _meta(c)["grade_id"] == "review_question")
    assert QUESTIONS[name] in nb.cells[nb.cells.index(review) - 1].source
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    assert len(ids) == len(set(ids))
    # first the Colab setup cell, last the self-check (locked, informational), which runs the copy of the visible
    # tests kept in the collapsed visible_checks cell below the imports (issue 14, item 3: the first screen is the task)
    assert nb.cells[0].source == colab.setup_cell_source()
    last = nb.cells[-1]
    assert _meta(last).get("grade_id") == "self_check" and _meta(last).get("locked") and not _meta(last).get("grade")
    assert "NOT graded" in last.source and last.source.rstrip().endswith("_self_check()")
    assert "not graded" in nb.cells[-2].source and "by itself" in nb.cells[-2].source
    assert "run the self-check cell by itself" in nb.cells[2].source
    checks = next(c for c in nb.cells if _meta(c).get("grade_id") == "visible_checks")
    assert "def _self_check():" in checks.source and checks.metadata.get("jupyter", {}).get("source_hidden") is True
    assert nb.cells.index(checks) < nb.cells.index(tests[0])  # defined before any test cell can stop "Run all"
    for cell in tests:  # every test cell is one function, called at the end
        qid = _meta(cell)["grade_id"].removeprefix("test_")
        assert f"def _test_{qid}():" in cell.source and cell.source.rstrip().endswith(f"_test_{qid}()")
        assert f'"{qid}"' in checks.source  # the self-check covers every question


def _release_lines(name) -> tuple[int, int]:
    """(code lines of the solution cells, code lines of the locked cells) of the released notebook."""
    student = locked = 0
    for cell in _nb("assignments", name).cells:
        if cell.cell_type == "code":
            lines = len(cell.source.splitlines())
            if _meta(cell).get("solution"):
                student += lines
            elif _meta(cell).get("locked"):
                locked += lines
    return student, locked


# locked lines of each release before issue 10 (the count: 142 student lines vs 1162 locked in ps1)
LOCKED_BEFORE = {"ps1_activation_derivatives": 1162, "ps2_losses": 1076, "ps3_vanishing_gradient": 614}


@pytest.mark.parametrize("name", NAMES)
def test_released_notebooks_shrink(name):
    """Issue 10: the test cells no longer repeat a 40-line helper, and the hidden tests stay in the masters. The
    release's locked code is at most a quarter of what it was, and in ps1 at most the student's own code."""
    student, locked = _release_lines(name)
    assert locked <= LOCKED_BEFORE[name] / 4, (name, student, locked)
    if name == "ps1_activation_derivatives":
        assert locked <= student, (student, locked)


@pytest.mark.parametrize("name", ["ps1_activation_derivatives", "ps2_losses"])
def test_numpy_assignments_start_no_tensorflow_in_the_kernel(name):
    """ps1 and ps2 ask for NumPy code: the imports cell loads numpy and matplotlib only, the self-check loads
    source_lib/checks.py alone (NumPy only), and the visible tests import nothing but numpy, math and
    source_lib.checks. TensorFlow references live in the hidden tests, which the trusted grader runs."""
    release = _nb("assignments", name)
    imports = next(c for c in release.cells if _meta(c).get("grade_id") == "imports")
    assert {n.names[0].name for n in ast.parse(imports.source).body if isinstance(n, ast.Import)} == {
        "numpy", "matplotlib.pyplot"}
    for cell in release.cells:
        if cell.cell_type != "code" or not _meta(cell).get("locked"):
            continue
        modules = set()
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                modules |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules.add(node.module)
        assert modules <= {"numpy", "matplotlib.pyplot", "math", "importlib.util", "source_lib.checks"}, (
            _meta(cell)["grade_id"], modules)


def _hints(nb):
    return [c for c in nb.cells if c.cell_type == "markdown" and "hint" in c.metadata.get("tags", [])]


def test_ps1_gives_f_only_and_records_opened_hints():
    """Issue 14, item 1: no f' formula in the release outside the collapsed hint cells (one per activation, shipped
    with jupyter.source_hidden = true, so that opening one shows in the saved notebook's metadata); the derivations
    are a hand-graded answer."""
    from source_lib import checks

    name = "ps1_activation_derivatives"
    release = _nb("assignments", name)
    hints = _hints(release)
    assert [c.get("id") for c in hints] == [f"hint-{a.replace('_', '-')}" for a in (
        "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "relu6", "softplus", "swish", "mish")]
    assert all(c.metadata["jupyter"]["source_hidden"] is True and "<details>" in c.source for c in hints)
    formulas = [line.strip() for c in hints for line in c.source.splitlines() if line.startswith("$")]
    assert len(formulas) == 10
    text = "\n".join(c.source for c in release.cells if c not in hints)
    assert [f for f in formulas if f in text] == []
    for needle in (r"\sigma(x)\,(1-\sigma(x))", r"1-\tanh^2", "sigma(x) * (1 - sigma(x))", "1 - tanh(x)**2"):
        assert needle not in text, needle
    assert checks.hints_opened(release) == []
    opened = json.loads(json.dumps(release))  # a student expanded two hints in JupyterLab and saved
    for cell in opened["cells"]:
        if cell.get("id") in ("hint-mish", "hint-elu"):
            cell["metadata"]["jupyter"] = {}
    assert checks.hints_opened(opened) == ["elu", "mish"]
    assert "derivations" in {_meta(c).get("grade_id") for c in release.cells}


def _globals_used(source: str) -> set[str]:
    """Global names a cell's functions read (symtable: neither local nor enclosing)."""
    names = set()

    def walk(table):
        for child in table.get_children():
            names.update(s.get_name() for s in child.get_symbols()
                         if s.is_referenced() and s.is_global() and not s.is_local())
            walk(child)

    walk(symtable.symtable(source, "cell", "exec"))
    return names


def _bound_at_top(source: str) -> set[str]:
    """Names a cell binds at module level other than by import (functions, classes, variables)."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


@pytest.mark.parametrize("name", NAMES)
def test_test_cells_trust_only_the_students_own_names(name):
    """Every test cell (and the self-check's copy of the visible tests) imports what it needs inside its own function:
    the only globals it reads are the student's functions and data (and the parameter cell's values), which the
    trusted grader fetches from the kernel by name (issue 10's contract). So a student who rebinds np, CHECKS,
    check, self_check... changes no verdict."""
    nb = _nb("solutions", name)
    student = set()
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade_id") == "imports" or not meta):
            student |= _bound_at_top(cell.source)
    checks = next(c for c in nb.cells if _meta(c).get("grade_id") == "visible_checks")
    assert not student & ({"np", "CHECKS", "self_check"} | _bound_at_top(checks.source))
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type == "code" and (meta.get("grade") or meta.get("grade_id") == "visible_checks"):
            # np included: a test cell imports what it needs; builtins are the grader's own under trusted grading
            used = _globals_used(cell.source) - set(dir(builtins))
            assert used and used <= student, (meta["grade_id"], sorted(used - student))
            tree = ast.parse(cell.source)
            want = ["FunctionDef"] if meta["grade_id"] == "visible_checks" else ["FunctionDef", "Expr"]
            assert [type(n).__name__ for n in tree.body] == want, meta["grade_id"]
            assert "np.testing" not in cell.source and "CHECKS" not in cell.source
    last = nb.cells[-1]
    assert [ast.unparse(n) for n in ast.parse(last.source).body] == ["_self_check()"]


# A test cell may read another question's answer only where listed here, and only as an extra reference: ps3's table
# and remedies are recomputed on section 1's recipe drawn in the cell AND on the student's init_network's networks
# (either matches; an init_network that fails is skipped), so a correct init_network in another draw order counts.
CROSS_QUESTION = {
    ("ps3_vanishing_gradient", "test_nielsen_table"): {"init_network"},
    ("ps3_vanishing_gradient", "test_remedies"): {"init_network"},
}


@pytest.mark.parametrize("name", NAMES)
def test_each_test_cell_grades_only_its_own_question(name):
    """A test cell reads only its own question's names (the names its solution cell binds, or the one function it is
    named after, e.g. test_delta_ce_sigmoid -> delta_ce_sigmoid) and the parameter cell's values; its references are
    computed inside it (NumPy float64, TensorFlow autodiff, Keras, source_lib), never through the student's other
    functions. So an unfinished or wrong answer costs only its own question's points."""
    nb = _nb("solutions", name)
    cells = {_meta(c)["grade_id"]: c for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")}
    parameters = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and not _meta(cell) and cell.get("id") != "colab-setup":
            parameters |= _bound_at_top(cell.source)
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        question = meta["grade_id"].removeprefix("test_")
        own = _bound_at_top(cells[question].source) if question in cells else {question}
        allowed = own | parameters | CROSS_QUESTION.get((name, meta["grade_id"]), set()) | set(dir(builtins))
        assert _globals_used(cell.source) <= allowed, (meta["grade_id"], sorted(_globals_used(cell.source) - allowed))


FORBIDDEN_MODULES = {"tensorflow", "keras", "torch", "jax", "source_lib", "os", "subprocess"}
FORBIDDEN_CALLS = {"get_ipython", "exec", "eval", "open", "setattr", "__import__", "compile", "globals"}


@pytest.mark.parametrize("name", NAMES)
def test_solution_cells_keep_the_pipelines_contract(name):
    """The master's solution cells do nothing the grading pipeline flags in a student's solution cell."""
    for cell in _nb("solutions", name).cells:
        if cell.cell_type != "code" or not _meta(cell).get("solution"):
            continue
        tree = ast.parse(cell.source)
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases = {a.asname or a.name.split(".")[0]: a.name for a in node.names}
                modules |= set(aliases)
                assert not {v.split(".")[0] for v in aliases.values()} & FORBIDDEN_MODULES, cell.source
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in FORBIDDEN_MODULES, cell.source
                modules |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Name):
                assert node.id not in FORBIDDEN_CALLS, (name, node.id)
        modules |= {"np", "plt", "numpy", "math"}
        for node in ast.walk(tree):  # no assignment to an attribute of an imported module
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for sub in ast.walk(t):
                        if isinstance(sub, ast.Attribute):
                            root = sub
                            while isinstance(root, ast.Attribute):
                                root = root.value
                            assert not (isinstance(root, ast.Name) and root.id in modules), (name, ast.unparse(t))


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_have_no_outputs(name):
    for folder in ("solutions", "assignments"):
        for cell in _nb(folder, name).cells:
            assert not cell.get("outputs") and not cell.get("execution_count"), (folder, name)


@pytest.mark.parametrize("name", NAMES)
def test_release_carries_current_colab_cells(name):
    assert colab.check(ROOT / "assignments" / name / f"{name}.ipynb") == []


@pytest.mark.slow
def test_release_regenerates_to_the_committed_copy(tmp_path):
    """assignments/ is exactly what nbgrader generate_assignment makes of solutions/ today."""
    c = course.scratch_course(tmp_path / "course", NAMES)
    fresh = course.release(c, NAMES, log=lambda m: None, references=False)  # the notebooks only
    assert [p.relative_to(c) for p in fresh] == [p.relative_to(ROOT) for p in sorted(ROOT.glob("assignments/*/*.ipynb"))]
    for path in fresh:
        committed = json.loads((ROOT / path.relative_to(c)).read_text(encoding="utf-8"))
        assert json.loads(path.read_text(encoding="utf-8")) == committed, (
            f"{path.relative_to(c)} is stale: run `make release` and commit assignments/")


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_or_hidden_test_reaches_the_release(name):
    text = (ROOT / "assignments" / name / f"{name}.ipynb").read_text(encoding="utf-8")
    release = "\n".join(c.source for c in _nb("assignments", name).cells)
    assert not MARKER.search(text) and "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    secret = _secret_lines(name)
    assert len(secret) > 20
    assert [line for line in secret if line in release] == []
    assert release.count("raise NotImplementedError()") >= 3 and "YOUR ANSWER HERE" in release


@pytest.mark.slow
def test_student_bundle_has_no_solutions_or_hidden_tests(tmp_path):
    out = course.student_bundle(ROOT, tmp_path / "bundle", log=lambda m: None)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {f"assignments/{n}/{n}.ipynb" for n in NAMES} <= files
    assert "README.md" in files and "pyproject.toml" in files and "source_lib/__init__.py" in files
    assert not any(f.startswith(("solutions/", "instructor/", "tests/", "submitted/", "autograded/")) for f in files)
    assert not any(f.endswith("gradebook.db") for f in files)
    assert course.bundle_leaks(out) == []
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*")
                     if p.is_file() and p.suffix in {".ipynb", ".py", ".md"})
    for name in NAMES:  # long lines only: the library and the lectures may share short idioms
        assert [line for line in _secret_lines(name) if len(line) >= 25 and line in text] == [], name
    assert (tmp_path / "bundle.zip").stat().st_size > 10_000


# --- sloppy and sneaky submissions: the master's tests, run without nbgrader (nbclient) --------------

PS1_ATTACKS = {  # solution cell -> what a sloppy or sneaky student typed there
    # f' by central differences of a correct f
    "sigmoid": '''def sigmoid(x):
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def sigmoid_prime(x):
    h = 1e-6
    return (sigmoid(x + h) - sigmoid(x - h)) / (2 * h)''',
    # all-zero functions, with the grader's helpers and numpy's checks monkeypatched
    "tanh": '''import numpy.testing
def tanh(x):
    return np.zeros(np.shape(x))


def tanh_prime(x):
    return np.zeros(np.shape(x))


np.testing.assert_allclose = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
CHECKS = {}
check_pair = check_table = lambda *args, **kwargs: None
def self_check():
    print("11/11 questions pass their visible tests (24/24 automatic points).")''',
    # the ReLU family by finite differences: wrong at the kinks
    "relu": '''def relu(x):
    return np.maximum(np.asarray(x, dtype=float), 0.0)


def relu_prime(x):
    return (relu(np.asarray(x) + 1e-6) - relu(np.asarray(x) - 1e-6)) / 2e-6''',
    # alpha ignored in f'
    "leaky_relu": '''def leaky_relu(x, alpha=0.2):
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, x, alpha * x)


def leaky_relu_prime(x, alpha=0.2):
    return np.where(np.asarray(x) >= 0, 1.0, 0.2)''',
    # naive exp: overflow warnings at -1e4
    "elu": '''def elu(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, alpha * (np.exp(x) - 1))


def elu_prime(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, 1.0, alpha * np.exp(x))''',
    # f'(6) = 1: the notebook's convention is [0, 6)
    "relu6": '''def relu6(x):
    return np.clip(np.asarray(x, dtype=float), 0.0, 6.0)


def relu6_prime(x):
    x = np.asarray(x, dtype=float)
    return np.where((x >= 0) & (x <= 6), 1.0, 0.0)''',
    # naive log(1 + exp(x)): overflow
    "softplus": '''def softplus(x):
    x = np.asarray(x, dtype=float)
    return np.log(1 + np.exp(x))


def softplus_prime(x):
    x = np.asarray(x, dtype=float)
    return 1 / (1 + np.exp(-x))''',
    # zeros, and the builtins the tests might use rebound
    "mish": '''def mish(x):
    return np.zeros(np.shape(x))


def mish_prime(x):
    return np.zeros(np.shape(x))


abs = lambda v: 0.0
all = any = lambda *args: True
len = lambda v: 0
def print(*args, **kwargs):
    pass''',
}
# tests that must fail; the others (selu, swish: master code) must pass
PS1_ATTACKS_FAIL = {"test_sigmoid", "test_tanh", "test_relu", "test_leaky_relu", "test_elu", "test_relu6", "test_softplus",
        "test_mish", "test_derivative_table"}


@pytest.mark.slow
def test_ps1_tests_resist_sloppy_and_sneaky_code(tmp_path):
    """The master with some solution cells replaced by attacks: finite-difference f', the kinks' conventions,
    an ignored alpha, overflow, and all-zero functions with np.testing / the visible helpers / CHECKS /
    self_check / builtins rebound. Exactly the attacked questions fail; the master's selu and swish pass;
    no test cell prints to stderr; the self-check is not fooled, and its lines name what failed."""
    from nbclient import NotebookClient

    name = "ps1_activation_derivatives"
    nb = _nb("solutions", name)
    for cell in nb.cells:
        if _meta(cell).get("grade_id") in PS1_ATTACKS:
            cell.source = PS1_ATTACKS[_meta(cell)["grade_id"]]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    tests = [c for c in nb.cells if _meta(c).get("grade") and c.cell_type == "code"]
    failed = {_meta(c)["grade_id"] for c in tests if any(o.output_type == "error" for o in c.outputs)}
    assert failed == PS1_ATTACKS_FAIL
    assert [_meta(c)["grade_id"] for c in tests if any(o.get("name") == "stderr" for o in c.outputs)] == []
    report = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "informational (NOT graded)" in report
    # visible tests only: the finite-difference sigmoid' and the ignored alpha pass them, as do selu and swish
    status = {line.split()[0]: line.split()[3] for line in report.splitlines() if line.startswith("  ")}
    assert [q for q, s in status.items() if s == "ok"] == ["sigmoid", "leaky_relu", "selu", "swish"]
    assert report.rstrip().endswith("4/11 questions pass their visible tests (8/24 automatic points).")
    lines = {line.split()[0]: line for line in report.splitlines() if line.startswith("  ")}
    assert "relu_prime(0.0) = 0.5, expected 1.0" in lines["relu"]  # the kink, named with the input
    assert "elu(750.0): overflow encountered in exp" in lines["elu"]  # np.where evaluates exp(x) at every x
    assert "softplus(750.0): overflow encountered in exp" in lines["softplus"]


# --- the messages a failing check prints (source_lib.checks; issue 14, item 2) ---------------------------------


def test_a_failing_check_names_the_function_the_input_and_both_values():
    import numpy as np
    from source_lib import checks

    def mish(x):  # the naive form: exp overflows at large x
        x = np.asarray(x, dtype=float)
        return x * np.tanh(np.log(1 + np.exp(x)))

    def sigmoid(x):
        return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))

    def sigmoid_prime(x):  # right below 2.5, wrong above
        return sigmoid(x) * (1 - sigmoid(x)) + 0.01 * (np.asarray(x) > 2.5)

    def half_mse(y, a):
        return np.sum((np.asarray(y) - np.asarray(a)) ** 2, axis=-1)  # the factor 1/2 forgotten

    def delta(z, y):
        return np.asarray(z) - np.asarray(y) + (np.asarray(z) > 1.5)

    with pytest.raises(AssertionError) as e:
        checks.values(mish, checks.EXTREMES)
    assert str(e.value).startswith("mish(750.0): overflow encountered in exp")
    with pytest.raises(AssertionError) as e:
        checks.check(sigmoid_prime, checks.GRID, checks.slope(sigmoid, checks.GRID), atol=1e-5, why="the slope of your sigmoid")
    x = checks.GRID[checks.GRID > 2.5][0]
    assert str(e.value).startswith(f"sigmoid_prime({float(x)!r}) = ") and "(the slope of your sigmoid)" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(AssertionError) as e:  # one loss per sample: the sample's input rows, not "(value 0)"
        checks.check(half_mse, ([[0.0, 1.0], [1.0, 0.0]], [[0.2, 0.7], [0.6, 0.3]]), [0.065, 0.125])
    assert str(e.value).startswith("half_mse([0.0, 1.0], [0.2, 0.7]) = 0.13") and "expected 0.065" in str(e.value)
    with pytest.raises(AssertionError) as e:  # one value per output: the sample's rows and the output's column
        checks.check(delta, ([[1.0, 2.0]], [[0.0, 0.0]]), [[1.0, 2.0]])
    assert str(e.value).startswith("delta([1.0, 2.0], [0.0, 0.0])[1] = 3.0, expected 2.0")


def test_the_self_check_reports_a_syntax_error_with_where(capsys):
    """A solution cell with a syntax error defines nothing: the self-check says so, and where, instead of
    "not defined yet" (IPython's history of the cells run)."""
    from IPython.testing.globalipapp import start_ipython

    from source_lib import checks

    shell = start_ipython()
    shell.run_cell("def tanh(x):\n    return np.tanh(x\n\ndef tanh_prime(x):\n    return 1 - tanh(x) ** 2", store_history=True)
    try:
        checks.report({"tanh": (2, lambda: eval("tanh", {})), "relu": (2, lambda: relu)})  # noqa: F821
    finally:
        shell.user_ns["_ih"].clear()
    out = capsys.readouterr().out
    tanh = next(line for line in out.splitlines() if line.strip().startswith("tanh"))
    assert "SYNTAX ERROR in the cell that defines tanh, line 2" in tanh
    relu = next(line for line in out.splitlines() if line.strip().startswith("relu"))
    assert "not defined yet" in relu and "0/2 questions pass" in out
