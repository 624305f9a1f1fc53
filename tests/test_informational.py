"""instructor/informational.py: which read-only cells the grader may leave out, decided statically.

The rule under test: a master cell tagged 'informational' is skipped only if no later cell (of the
submission or of the master, whose hidden tests the grader runs) may read a global name it binds;
anything the analysis cannot see through (a parse error, globals(), eval, sys.modules, magics) keeps
it running. The end-to-end cases (ps3's Keras comparison skipped, and run for a student who reuses
its result) are in test_grading_assignments.py.
"""

from pathlib import Path

import nbformat
import pytest

from instructor import informational as I
from instructor import submissions as S

ROOT = Path(__file__).resolve().parents[1]
PS3 = "ps3_vanishing_gradient"


@pytest.mark.parametrize("source, reads", [
    ("x = cmp", {"cmp"}),
    ("def f():\n    return cmp", {"cmp"}),  # a function's global is read when it is called
    ("def f():\n    cmp = 1\n    return cmp", set()),  # a local of the same name is not
    ("class A:\n    v = cmp", {"cmp"}),
    ("[cmp for cmp in range(3)]", {"range"}),  # the comprehension's own variable
    ("[x for x in cmp]", {"cmp"}),
    ("cmp = 2\nprint(cmp)", {"cmp", "print"}),  # assigned, but maybe read first: counted
    ("def f(a=cmp):\n    return a", {"cmp"}),
])
def test_facts_finds_every_global_a_cell_may_read(source, reads):
    assert I.facts(source).reads == reads


@pytest.mark.parametrize("source", [
    "def f(:",  # cannot be parsed
    "print(globals()['cmp'])",
    "eval('cmp')",
    "import sys\nsys.modules['__main__'].cmp",
    "vars()['cmp']",
    "%who",  # IPython magics become get_ipython() calls
    "!echo $cmp",
])
def test_facts_gives_up_on_what_it_cannot_see_through(source):
    assert I.facts(source) is None


def _submission():
    return nbformat.read(ROOT / "assignments" / PS3 / f"{PS3}.ipynb", as_version=4)


def _index(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


MASTER = str(ROOT / "solutions" / PS3 / f"{PS3}.ipynb")


def test_ps3_keras_comparison_is_the_only_tagged_cell_and_it_may_be_skipped():
    tagged, _, _ = I.tagged_cells(MASTER)
    assert set(tagged) == {"keras_comparison"}
    nb = _submission()
    assert I.skip_reason(nb, _index(nb, "keras_comparison"), MASTER)
    assert "import tensorflow" in nb.cells[_index(nb, "keras_comparison")].source
    # no other code cell of the release imports TensorFlow: skipping this one keeps it out of the kernel
    others = [c.source for i, c in enumerate(nb.cells) if c.cell_type == "code" and i != _index(nb, "keras_comparison")]
    assert not any("import tensorflow" in s or "from source_lib import vanishing" in s for s in others)


@pytest.mark.parametrize("later", [
    "print(keras_speeds)",
    "def report():\n    return your_speeds",
    "x = tf.constant(1.0)",  # the student relies on the comparison's TensorFlow import
    "print(globals().get('keras_model'))",
    "%whos",
])
def test_a_later_cell_that_may_read_it_keeps_it_running(later):
    nb = _submission()
    gid = "remedies"
    nb.cells[_index(nb, gid)].source += "\n" + later
    assert I.skip_reason(nb, _index(nb, "keras_comparison"), MASTER) is None


def test_only_the_masters_exact_cell_is_skipped():
    nb = _submission()
    i = _index(nb, "keras_comparison")
    nb.cells[i].source += "\nprint('edited')"  # nbgrader's OverwriteCells would put the master's back first
    assert I.skip_reason(nb, i, MASTER) is None
    untagged = _submission()
    assert I.skip_reason(untagged, _index(untagged, "imports"), MASTER) is None
    assert I.skip_reason(untagged, _index(untagged, "keras_comparison"), None) is None  # no master: run everything


def test_a_hidden_test_reading_the_cells_names_keeps_it_running(tmp_path):
    """The master's later cells count too: the grader runs the master's (hidden) tests, not the submission's."""
    master = nbformat.read(MASTER, as_version=4)
    test = next(c for c in master.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_remedies")
    test.source = test.source.replace("### END HIDDEN TESTS", "assert keras_speeds is not None\n    ### END HIDDEN TESTS")
    assert "keras_speeds" in I.facts(test.source).reads  # parsed, and read
    path = tmp_path / "master.ipynb"
    nbformat.write(master, path)
    nb = _submission()
    assert I.skip_reason(nb, _index(nb, "keras_comparison"), str(path)) is None


# --- attacks: honest submissions whose grade a wrongly skipped cell would change, sneaky ones that try to use it ---


def _answered(*edits):
    """ps3 answered from the master, with ``(how, grade_id, code)`` edits: instructor.submissions' helpers, or
    ``"insert"``, a new cell of the student's after that one."""
    nb = S.filled(ROOT, PS3)
    for how, gid, code in edits:
        if how == "insert":
            nb.cells.insert(_index(nb, gid) + 1, nbformat.v4.new_code_cell(code))
        else:
            nb = getattr(S, how)(nb, gid, code)
    return nb


def _skipped(nb):
    return I.skip_reason(nb, _index(nb, "keras_comparison"), MASTER)


def test_the_answered_notebook_skips_it():
    assert _skipped(_answered())


@pytest.mark.parametrize("edits", [
    # a helper written early (def, lambda, method, generator) and called after the comparison
    [("insert", "init_network", "def agreement():\n    return max(abs(your_speeds - keras_speeds) / keras_speeds)"),
     ("prepend", "remedies", "print(agreement())")],
    [("insert", "init_network", "agreement = lambda: keras_speeds / your_speeds"), ("prepend", "remedies", "print(agreement())")],
    [("insert", "init_network", "class Report:\n    def show(self):\n        return keras_model.summary()"),
     ("append", "remedies", "Report().show()")],
    [("insert", "init_network", "late = (keras_speeds[i] for i in range(4))"), ("append", "remedies", "print(list(late))")],
    [("insert", "init_network", "def last_bias():\n    return b"), ("append", "remedies", "print(last_bias())")],  # its loop's b
    [("prepend", "remedies", "del keras_model  # free the comparison's model before the long loop")],
    # init_network redone, before the comparison, with the TensorFlow that the comparison imports: called after it
    [("insert", "nielsen_table", "_first = init_network\n\ndef init_network(sizes, seed):\n"
                                    "    weights, biases = _first(sizes, seed)\n"
                                    "    return [tf.constant(w).numpy() for w in weights], biases")],
    # an object made early from a class or a factory that reads it
    [("insert", "init_network", "class Tracker:\n    def report(self):\n        return keras_speeds"),
     ("insert", "backprop_speeds", "tracker = Tracker()"), ("append", "remedies", "print(tracker.report())")],
    [("insert", "init_network", "def make():\n    return lambda: keras_speeds"), ("insert", "backprop_speeds", "late = make()"),
     ("append", "remedies", "print(late())")],
])
def test_a_later_cell_that_reaches_its_names_through_a_function_or_del_keeps_it_running(edits):
    """A later cell that calls a function defined anywhere in the notebook may read what the function reads:
    skipped, the comparison would leave the NameError that costs the remedies question its points."""
    assert _skipped(_answered(*edits)) is None


@pytest.mark.parametrize("source", [
    "print(sorted(n for n in dir() if n.startswith('keras')))",
    "import __main__\nprint(__main__.keras_speeds)",
    "import __main__ as m\nprint(m.keras_speeds)",
    "from __main__ import keras_speeds as k",
    "from IPython import get_ipython as g\nprint(g().user_ns['keras_speeds'])",
    "import inspect\nprint(inspect.currentframe().f_globals['keras_speeds'])",
    "import sys\nprint(sys._getframe(0).f_locals['keras_speeds'])",
    "def f():\n    pass\nprint(f.__globals__['keras_speeds'])",
    "import importlib\nprint(importlib.import_module('__main__').keras_speeds)",
    "import builtins\nbuiltins.print = lambda *a: None",
    "setattr(backprop_speeds, 'calls', 0)",
    "from source_lib.vanishing import *",
    "print(_ii)",  # IPython's history: a left-out cell has no execution count, so these shift
    "print(_i15, _15)",
    "x = _",
])
def test_reading_the_namespace_or_the_history_in_other_ways_gives_up(source):
    assert I.facts(source) is None
    assert _skipped(_answered(("append", "remedies", source))) is None


@pytest.mark.parametrize("edits", [
    # a counter or a log that backprop_speeds fills, the comparison's call included
    [("append", "backprop_speeds", "calls = 0\n_backprop = backprop_speeds\ndef backprop_speeds(*args, **kwargs):\n"
                                   "    global calls\n    calls += 1\n    return _backprop(*args, **kwargs)"),
     ("append", "remedies", "print(calls, 'calls')")],
    [("append", "backprop_speeds", "_memo = {}\n_backprop = backprop_speeds\ndef backprop_speeds(w, b, x, y, **kw):\n"
                                   "    key = (len(w), tuple(sorted(kw.items())))\n    if key not in _memo:\n"
                                   "        _memo[key] = _backprop(w, b, x, y, **kw)\n    return _memo[key]")],
    # the same cache, out of sight of the global names: a mutable default, a closure, a function attribute
    [("append", "backprop_speeds", "_backprop = backprop_speeds\ndef backprop_speeds(w, b, x, y, _memo={}, **kw):\n"
                                   "    return _memo.setdefault(len(w), _backprop(w, b, x, y, **kw))")],
    [("append", "backprop_speeds", "def memo(f):\n    cache = {}\n    return lambda w, *a, **k: cache.setdefault(len(w), f(w, *a, **k))\n"
                                   "backprop_speeds = memo(backprop_speeds)")],
    [("replace_cell", "backprop_speeds", "import functools\n@functools.lru_cache\ndef _cached(n):\n    return n\n\n"
                                         "def backprop_speeds(w, b, x, y, activation='sigmoid', residual=False):\n"
                                         "    backprop_speeds.calls = getattr(backprop_speeds, 'calls', 0) + 1\n"
                                         "    return np.zeros(len(w) - 1)")],
    # backprop_speeds keeps the latest sigmoid speeds per depth in speed_table: the comparison's call changes
    # speed_table[4] under the hidden test of nielsen_table (run, it fails there, as it does in the student's kernel)
    [("append", "backprop_speeds", "_backprop = backprop_speeds\n"
                                   "def backprop_speeds(weights, biases, x, y, activation='sigmoid', residual=False):\n"
                                   "    speeds = _backprop(weights, biases, x, y, activation=activation, residual=residual)\n"
                                   "    if activation == 'sigmoid' and not residual:\n"
                                   "        speed_table[len(weights) - 1] = speeds\n    return speeds\nspeed_table = {}")],
    # print, called by the comparison, replaced by one that keeps a log
    [("append", "init_network", "LOG = []\ndef print(*args, **kwargs):\n    LOG.append(args)"),
     ("append", "remedies", "assert len(LOG) > 0")],
    [("append", "init_network", "np.asarray = np.array")],  # a module the comparison calls, patched
])
def test_state_that_what_it_calls_may_change_keeps_it_running(edits):
    """The comparison calls the student's backprop_speeds (and print, np...): what those may change (their globals,
    their own state) counts as bound by the comparison, and the later cells' reads through their functions count."""
    assert _skipped(_answered(*edits)) is None


@pytest.mark.parametrize("edits", [
    [("append", "backprop_speeds", "exec('def agreement():\\n    return keras_speeds')")],
    [("prepend", "nielsen_table", "%run helpers.py")],
    [("prepend", "nielsen_table", "%pylab inline")],  # binds numpy's names and plt's: not a display setting
    [("prepend", "nielsen_table", "%matplotlib $backend")],  # reads a name (IPython expands $backend)
    [("prepend", "nielsen_table", "%config InlineBackend.figure_format = {fmt}")],  # reads fmt
    [("prepend", "nielsen_table", "%matplotlib inline; keras_speeds = 1")],  # one argument, not two statements
    [("append", "init_network", "def f(:")],  # cannot be parsed: what it binds is unknown
])
def test_a_students_cell_that_binds_names_out_of_sight_keeps_it_running(edits):
    assert _skipped(_answered(*edits)) is None


@pytest.mark.parametrize("edits", [
    [("prepend", "backprop_speeds", "sigmoid = lambda z: 1 / (1 + np.exp(-z))\nEPS = 1e-12\n\ndef relu(z, slope=0.0):\n"
                                    "    return np.maximum(z, slope * z)")],  # stateless helpers the comparison calls
    [("append", "remedies", "for _ in range(2):\n    pass\nif __name__ == '__main__':\n    print(f'{len(remedies)} remedies')")],
    [("prepend", "nielsen_table", "plt.rcParams['figure.figsize'] = (8, 4)")],
    [("append", "remedies", "class Table:\n    def __init__(self, d):\n        self.d = d\n\nprint(Table(remedies).d.keys())")],
    [("append", "remedies", "def pair(b, W):\n    l = [b, W]\n    return l\n\nprint(pair(1, 2))")],  # its names, as locals
    [("append", "remedies", "tmp = [1]\ndel tmp")],
    [("prepend", "nielsen_table", "%matplotlib inline")],  # the commonest magic in students' notebooks
    [("prepend", "backprop_speeds", "%config InlineBackend.figure_format = 'retina'\n%load_ext autoreload\n"
                                    "%autoreload 2\n%precision 4")],
])
def test_honest_code_that_does_not_need_it_still_skips_it(edits):
    assert _skipped(_answered(*edits))


@pytest.mark.parametrize("source, binds", [
    ("match v:\n    case [a, *rest]:\n        pass\n    case {'k': c, **more}:\n        pass", {"a", "rest", "c", "more"}),
    ("def f():\n    global g\n    g = 1", {"f", "g"}),
    ("x.a = 1\ny[0] = 2", {"x", "y"}),
    ("import a.b as c, d.e\nfor i, (j, k) in z:\n    pass\nwith o as p:\n    pass\n(w := 1)", {"c", "d", "i", "j", "k", "p", "w"}),
    ("[n for n in range(3)]\ndef f(a=1):\n    local = a", {"f"}),  # a comprehension's and a function's own names stay theirs
])
def test_facts_binds_every_global_name_a_cell_may_bind(source, binds):
    assert I.facts(source).binds == binds


def test_a_student_cannot_make_the_grader_skip_a_cell_of_their_own():
    """Only the master's tagged cells, with the master's source and grade id, are ever skipped: tags, read-only
    metadata, the comparison's grade id on other code, or its code under another id change nothing."""
    nb = _answered(("append", "remedies", "print('mine')"))
    mine = nb.cells[_index(nb, "remedies")]
    mine.metadata.setdefault("tags", []).append(I.TAG)
    mine.metadata.nbgrader.update(locked=True, solution=False, grade=False)
    assert I.skip_reason(nb, _index(nb, "remedies"), MASTER) is None
    comparison = nb.cells[_index(nb, "keras_comparison")].source
    mine.source = comparison  # the master's code, under the student's grade id
    assert I.skip_reason(nb, _index(nb, "remedies"), MASTER) is None
    nb.cells.insert(3, nbformat.v4.new_code_cell(comparison))  # a copy without a grade id
    assert I.skip_reason(nb, 3, MASTER) is None
    nb.cells[3].metadata["nbgrader"] = {"grade_id": "keras_comparison", "locked": True}  # a copy with its id...
    nb.cells[3].source += "\nprint('extra')"  # ...and other code
    assert I.skip_reason(nb, 3, MASTER) is None


@pytest.mark.parametrize("extra", ["from source_lib.vanishing import *", "%pylab inline", "globals()['k'] = 1",
                                   "exec('k = 1')", "def f(:"])
def test_an_informational_cell_that_binds_names_out_of_sight_is_run(tmp_path, extra):
    """The master's own cell too: what a star import, a magic or exec binds is unknown, so nothing proves it unread."""
    master = nbformat.read(MASTER, as_version=4)
    next(c for c in master.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "keras_comparison").source += "\n" + extra
    path = tmp_path / "master.ipynb"
    nbformat.write(master, path)
    nb = _answered(("append", "keras_comparison", extra))
    assert I.skip_reason(nb, _index(nb, "keras_comparison"), str(path)) is None


def test_a_function_it_hands_on_rather_than_calls_counts_as_called(tmp_path):
    """``sorted(key=f)``, ``map(f, ...)``: the state that f uses may change as much as if the cell called it."""
    master = nbformat.read(MASTER, as_version=4)
    extra = "print(sorted(keras_speeds, key=rank))"
    next(c for c in master.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "keras_comparison").source += "\n" + extra
    path = tmp_path / "master.ipynb"
    nbformat.write(master, path)
    stateless = _answered(("append", "init_network", "def rank(s):\n    return -s"), ("append", "keras_comparison", extra))
    assert I.skip_reason(stateless, _index(stateless, "keras_comparison"), str(path))
    counting = _answered(("append", "init_network", "ranked = []\ndef rank(s):\n    ranked.append(s)\n    return -s"),
                         ("append", "keras_comparison", extra), ("append", "remedies", "print(len(ranked))"))
    assert I.skip_reason(counting, _index(counting, "keras_comparison"), str(path)) is None


@pytest.mark.parametrize("early, late", [("import random\nrandom.seed(0)", "print(random.random())"),
                                         ("from random import shuffle as mix", "mix([1, 2, 3])"),
                                         ("import random as r", "print(r.gauss(0, 1))")])
def test_the_stdlib_random_generator_counts_as_changed(early, late):
    """``import tensorflow`` draws from ``random``'s global generator (checked in a fresh process): a student who
    seeds it early and draws from it after the comparison gets other numbers if the comparison is left out."""
    assert _skipped(_answered(("insert", "init_network", early), ("append", "remedies", late))) is None
    assert _skipped(_answered(("insert", "init_network", early)))  # imported, not used later
    assert _skipped(_answered(("insert", "init_network", "import numpy.random as random\nfrom os import path"),
                              ("append", "remedies", "print(random.rand(), path.sep)")))  # NumPy's is left as it was


@pytest.mark.parametrize("cell", ["x = " + "+".join(["a"] * 100_000), "x = " + "-" * 100_000 + "1", "x = 1\0"])
def test_a_cell_the_analysis_cannot_parse_keeps_it_running_and_never_raises(cell):
    """Deep nesting makes the parser raise RecursionError or MemoryError: in the grader that would fail the whole
    submission's grading (preprocess_cell does not catch it). It runs instead, and fails in the kernel as it did
    in the student's."""
    for where in ("init_network", "remedies"):
        assert _skipped(_answered(("insert", where, cell))) is None


def test_a_test_cell_moved_after_it_counts_wherever_the_master_has_it(tmp_path):
    """The trusted grader runs each grade cell's master source wherever the student moved the cell: a master test
    that comes before the comparison in the master, but after it in the submission, counts as later."""
    master = nbformat.read(MASTER, as_version=4)
    test = next(c for c in master.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_backprop_speeds")
    test.source = test.source.replace("### END HIDDEN TESTS", "assert b is not None  # a generic name\n    ### END HIDDEN TESTS")
    path = tmp_path / "master.ipynb"
    nbformat.write(master, path)
    nb = _answered()
    assert I.skip_reason(nb, _index(nb, "keras_comparison"), str(path))  # in the master's order: before it
    nb.cells.insert(_index(nb, "init_network"), nb.cells.pop(_index(nb, "keras_comparison")))  # moved up
    assert I.skip_reason(nb, _index(nb, "keras_comparison"), str(path)) is None
