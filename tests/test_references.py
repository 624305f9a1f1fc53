"""source_lib.references: a hidden test's reference is computed once, and only reused where that is exact."""

from __future__ import annotations

import numpy as np
import pytest

from source_lib import references
from source_lib.references import fingerprint, reference

CALLS: list = []


def counted(x, scale=1.0):
    """A deterministic reference that records each time it really runs."""
    CALLS.append(1)
    return np.asarray(x, dtype=np.float64) * scale


@pytest.fixture(autouse=True)
def fresh_memo():
    references.clear()
    CALLS.clear()
    yield
    references.clear()


def test_equal_inputs_compute_once_and_give_equal_copies():
    x = np.linspace(-3, 3, 7)
    first = reference(counted, x, scale=2.0)
    first[0] = 99.0  # the caller may change what it got
    second = reference(counted, x.copy(), scale=2.0)
    assert len(CALLS) == 1 and references.stats()["hits"] == 1
    np.testing.assert_array_equal(second, x * 2.0)


@pytest.mark.parametrize("other", [
    lambda x: (x.copy() + np.r_[0, 0, 0, 5e-324, 0, 0, 0], {"scale": 2.0}),  # one ulp in one element
    lambda x: (x.astype(np.float32), {"scale": 2.0}),  # another dtype
    lambda x: (x.reshape(7, 1), {"scale": 2.0}),  # another shape
    lambda x: (x, {"scale": 2.0000000000000004}),  # another keyword value
    lambda x: (x, {}),  # the default instead
    lambda x: (list(x), {"scale": 2.0}),  # a list is not an array
])
def test_any_difference_in_the_inputs_computes_again(other):
    x = np.linspace(-3, 3, 7)
    reference(counted, x, scale=2.0)
    args, kwargs = other(x)
    got = reference(counted, args, **kwargs)
    assert len(CALLS) == 2
    np.testing.assert_array_equal(got, counted(args, **kwargs))


def test_zero_and_negative_zero_are_different_inputs():
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint(np.array([0.0])) != fingerprint(np.array([-0.0]))
    assert fingerprint(1) != fingerprint(1.0) != fingerprint(True)


def _test_namespace(student_sigmoid=None):
    """A hidden test's source, compiled fresh each time as the grader compiles it, and its namespace."""
    source = (
        "def _test():\n"
        "    import numpy as np\n"
        "    from source_lib.references import reference\n"
        "    kw = {'scale': 3.0}\n"
        "    return reference(lambda t: counted(t, **kw) + np.float64(1.0), np.arange(4.0))\n"
    )
    ns = {"counted": counted}
    if student_sigmoid is not None:
        ns["sigmoid"] = student_sigmoid
    exec(compile(source, "<test test_x>", "exec"), ns)
    return ns


def test_a_lambda_of_the_test_is_recognised_across_compilations_when_it_reads_only_modules_and_its_closure():
    def run():
        source = (
            "def _test(C):\n"  # C: a function of a module (this one's counted), held in the lambda's closure
            "    import numpy as np\n"
            "    from source_lib.references import reference\n"
            "    out = []\n"
            "    for kw in [{'scale': 3.0}, {'scale': 4.0}]:\n"
            "        out.append(reference(lambda t: C(t, **kw) + np.float64(1.0), np.arange(4.0)))\n"
            "    return out\n"
        )
        ns = {}
        exec(compile(source, "<test test_x>", "exec"), ns)
        return ns["_test"](counted)

    first, second = run(), run()
    assert len(CALLS) == 2, "one computation per distinct closure value, none for the second compilation"
    for a, b, scale in zip(first, second, (3.0, 4.0)):
        np.testing.assert_array_equal(a, np.arange(4.0) * scale + 1.0)
        np.testing.assert_array_equal(a, b)


def test_a_function_that_reads_a_global_that_is_not_a_module_is_never_remembered():
    ns = _test_namespace()  # counted is a global of the test's namespace, not a module
    ns["_test"](), ns["_test"]()
    assert len(CALLS) == 2 and references.stats()["uncached"] == 2


def test_a_function_of_the_students_kernel_is_never_remembered():
    """A reference that goes through the student's code (a proxy, whatever it returns) is
    recomputed each time: the student's function may answer differently on each call."""
    from instructor.wire import KernelFunction

    proxy = KernelFunction(channel=None, ref="sigmoid")  # what a test's free name resolves to
    with pytest.raises(references._NoFingerprint):
        fingerprint(proxy)
    ns = {"sigmoid": proxy}
    exec("f = lambda t: sigmoid(t)", ns)
    with pytest.raises(references._NoFingerprint):
        fingerprint(ns["f"])
    answers = iter([1.0, 2.0])
    exec("g = lambda: next(answers)", {"answers": answers}, ns)
    assert reference(ns["g"]) == 1.0 and reference(ns["g"]) == 2.0  # called both times


def test_a_closure_over_an_unsendable_object_or_an_unbound_global_is_called_each_time():
    class Box:
        scale = 2.0

    box = Box()
    f = lambda t: counted(t, box.scale)  # noqa: E731  (a closure over an object)
    reference(f, 1.0), reference(f, 1.0)
    assert len(CALLS) == 2
    ns = {"np": np}
    exec("h = lambda: np.float64(later)", ns)  # a global bound only after the key would be taken
    with pytest.raises(references._NoFingerprint):
        fingerprint(ns["h"])


def flaky(x):
    """Fails on its first call only (a reference whose first attempt was interrupted)."""
    CALLS.append(1)
    if len(CALLS) == 1:
        raise ValueError("first call fails")
    return x


def test_exceptions_are_not_remembered():
    with pytest.raises(ValueError):
        reference(flaky, 1.0)
    assert reference(flaky, 1.0) == 1.0 and reference(flaky, 1.0) == 1.0
    assert len(CALLS) == 2 and references.stats()["hits"] == 1


def test_a_tensorflow_reference_is_remembered_as_its_exact_numpy_value():
    from source_lib import activations as R

    x = np.concatenate([np.linspace(-30, 30, 101), [-1e4, -745.5, -1e-300, 0.0, 1e-300, 745.5, 1e4]])
    want = R.gradient_profile(lambda t: R.elu(t, alpha=0.5), x)
    for _ in range(2):
        got = reference(R.gradient_profile, lambda t: R.elu(t, alpha=0.5), x)
        assert all(isinstance(g, np.ndarray) and g.dtype == np.float64 for g in got)
        for g, w in zip(got, want):
            assert g.tobytes() == w.tobytes()
    assert references.stats()["hits"] == 1
    import keras

    a, b = np.random.default_rng(0).uniform(0.1, 3.0, (2, 5, 4))
    loss = reference(keras.losses.mean_absolute_error, a, b)
    assert isinstance(loss, np.ndarray) and loss.tobytes() == np.asarray(keras.losses.mean_absolute_error(a, b)).tobytes()


def test_only_plain_values_are_kept_and_the_memo_stays_bounded(monkeypatch):
    class Result:
        a = 1.0

    assert isinstance(reference(lambda: Result()), Result) and references.stats()["entries"] == 0
    monkeypatch.setattr(references, "MAX_ENTRIES", 3)
    for k in range(5):
        reference(counted, float(k))
    assert references.stats()["entries"] == 3
    reference(counted, 4.0)  # the newest is still there
    reference(counted, 0.0)  # the oldest was forgotten
    assert len(CALLS) == 6


def test_a_lazy_module_imports_nothing_until_a_value_must_be_computed():
    R = references.lazy_module("json")  # any module: its functions have fingerprints without it
    assert fingerprint(R.dumps) == ("named", "json", "dumps") and fingerprint(R) == ("module", "json")
    assert reference(R.dumps, [1, 2]) == "[1, 2]" and reference(R.dumps, [1, 2]) == "[1, 2]"
    assert references.stats()["hits"] == 1


def test_saved_values_come_back_exactly_and_only_for_the_same_versions(tmp_path):
    values = (np.array([0.0, -0.0, np.nan, np.inf, 5e-324]), np.float32(1.5), [1, 2.5, "s", None, True],
              {"k": (1 + 2j, np.arange(6, dtype=">i2").reshape(2, 3))})
    box = iter([values])
    reference(lambda: next(box))  # a closure over an iterator: no fingerprint, so nothing kept
    reference(counted, np.arange(3.0), scale=2.0)
    references._MEMO[("test", "values")] = values
    file = tmp_path / "refs.json"
    assert references.save(file, {"master": "abc"}) == 2
    references.clear()
    assert references.load(file, {"master": "other"}) is None and references.stats()["entries"] == 0
    assert references.load(file, {"master": "abc"}) == 2
    got = references._MEMO[("test", "values")]
    assert got[0].tobytes() == values[0].tobytes() and got[1] == values[1] and got[1].dtype == np.float32
    assert got[2] == values[2] and got[3]["k"][0] == 1 + 2j and got[3]["k"][1].dtype.str == ">i2"
    np.testing.assert_array_equal(got[3]["k"][1], values[3]["k"][1])
    np.testing.assert_array_equal(reference(counted, np.arange(3.0), scale=2.0), [0.0, 2.0, 4.0])
    assert CALLS == [1], "the remembered value came from the file"
    data = file.read_text()
    file.write_text(data.replace(references.versions()["source_lib"], "0" * 64))  # source_lib changed since
    references.clear()
    assert references.load(file, {"master": "abc"}) is None


def test_stats_count_the_seconds_spent_computing_misses_only():
    import time

    def slow(x):
        time.sleep(0.2)
        return x + 1

    assert reference(slow, 1) == 2 and references.stats()["seconds"] >= 0.2
    spent = references.stats()["seconds"]
    assert reference(slow, 1) == 2 and references.stats()["seconds"] == spent  # a hit computes nothing
    reference(lambda o: time.sleep(0.2), object())  # an argument without a fingerprint: uncached, no miss
    assert references.stats()["seconds"] == spent and references.stats()["uncached"] == 1


def test_notes_come_back_only_with_the_values_they_were_saved_with(tmp_path):
    file = tmp_path / "refs.json"
    references.save(file, {"master": "abc"}, notes={"master_seconds": 1.25})
    assert references.notes(file, {"master": "abc"}) == {"master_seconds": 1.25}
    assert references.notes(file, {"master": "other"}) is None  # a stale file's notes are stale too
    assert references.notes(tmp_path / "missing.json") is None
    references.save(file, {"master": "abc"})
    assert references.notes(file, {"master": "abc"}) == {}


def _master(path, cells):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_the_masters_own_seconds_leave_its_references_out_and_count_its_figures(tmp_path):
    """reference_cache.ensure times the master's run less the references computed in it (they are
    computed once, not per submission); the figures the notebook draws are its work and count."""
    from instructor import reference_cache

    _master(tmp_path / "solutions" / "a" / "a.ipynb", [
        "import time\nfrom source_lib.references import reference\nimport matplotlib.pyplot as plt",
        "def slow_reference(x):\n    time.sleep(1.0)\n    return x",
        "assert reference(slow_reference, 3) == 3",  # a test's reference: computed once, left out
        "time.sleep(0.3)",  # the notebook's own work
    ])
    assert reference_cache.ensure(tmp_path, "a", log=lambda m: None) == reference_cache.path(tmp_path, "a")
    own = reference_cache.master_seconds(tmp_path, "a")
    assert 0.3 <= own < 1.0, own
    _master(tmp_path / "solutions" / "b" / "b.ipynb", [
        "import matplotlib.pyplot as plt\nimport matplotlib.figure",
        "calls = []\nclass Drawn(matplotlib.figure.Figure):\n"
        "    def draw(self, renderer):\n        calls.append(1)\n        return super().draw(renderer)",
        "plt.figure(FigureClass=Drawn); plt.plot([1, 2, 3])",
        "assert calls, 'the figure of the cell before was drawn, as a kernel draws it'",
        "assert plt.get_fignums() == [], 'and closed'",
    ])
    said: list = []
    reference_cache.ensure(tmp_path, "b", log=said.append)
    assert not [line for line in said if "failed here" in line], said


@pytest.mark.slow
def test_a_grading_process_with_the_masters_references_never_imports_tensorflow(tmp_path):
    """autograde computes each assignment's references once from its master; a fresh grading
    process loads them, grades perfect work to full points and never imports TensorFlow."""
    import json
    import subprocess
    import sys

    from instructor import course, reference_cache
    from instructor import submissions as S

    names = course.ASSIGNMENTS
    c = course.scratch_course(tmp_path / "course", names)
    course.release(c, names, log=lambda m: None)
    for name in names:
        S.write(S.filled(c, name), c, "perfect", name)
    course.autograde(c, names, log=lambda m: None)
    first, questions = course.collect_grades(c, names)
    assert all(q["score"] == q["max_score"] for q in questions if not q["needs_manual_grade"]), questions
    assert all(reference_cache.path(c, name).exists() for name in names)
    script = (
        "import json, sys\n"
        "from instructor import course\n"
        "from source_lib import references\n"
        f"course.autograde({str(c)!r}, {names!r}, log=lambda m: None, force=True)\n"
        f"print(json.dumps({{'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules, **references.stats(),"
        f" 'totals': course.collect_grades({str(c)!r}, {names!r})[0]}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900,
                          cwd=str(course.ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["tf"] is False and out["keras"] is False, out
    assert out["hits"] > 20 and out["misses"] == 0, out
    assert out["totals"] == json.loads(json.dumps(first))  # the same points, question by question in the totals
