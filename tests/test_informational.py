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
def test_read_names_finds_every_global_a_cell_may_read(source, reads):
    assert I.read_names(source) == reads


@pytest.mark.parametrize("source", [
    "def f(:",  # cannot be parsed
    "print(globals()['cmp'])",
    "eval('cmp')",
    "import sys\nsys.modules['__main__'].cmp",
    "vars()['cmp']",
    "%who",  # IPython magics become get_ipython() calls
    "!echo $cmp",
])
def test_read_names_gives_up_on_what_it_cannot_see_through(source):
    assert I.read_names(source) is None


def _submission():
    return nbformat.read(ROOT / "assignments" / PS3 / f"{PS3}.ipynb", as_version=4)


def _index(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


MASTER = str(ROOT / "solutions" / PS3 / f"{PS3}.ipynb")


def test_ps3_keras_comparison_is_the_only_tagged_cell_and_it_may_be_skipped():
    tagged, _ = I.tagged_cells(MASTER)
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
    assert "keras_speeds" in I.read_names(test.source)  # parsed, and read
    path = tmp_path / "master.ipynb"
    nbformat.write(master, path)
    nb = _submission()
    assert I.skip_reason(nb, _index(nb, "keras_comparison"), str(path)) is None
