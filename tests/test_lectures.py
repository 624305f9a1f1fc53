"""The lecture notebooks: committed clean, stamped for Colab, faithful to the slides, and they run.

The fast tests read the committed files. The slow ones execute every lecture notebook top to
bottom in a fresh kernel with nbclient (the timing goal, 90 s each, is measured by
``benchmarks/notebooks.py``, not asserted here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import numpy as np
import pytest

from conftest import assert_lecture_ran_clean, close_thread_event_loop
from source_lib import colab

ROOT = Path(__file__).resolve().parents[1]
LECTURES = ROOT / "lectures"
EXPECTED = ["01_activation_functions.ipynb", "02_loss_functions.ipynb", "03_vanishing_gradient.ipynb"]
NOTEBOOKS = sorted(LECTURES.glob("*.ipynb"))

# The slide titles of lecture 1 (docs/lecture-outline.md), in slide order, per notebook.
SLIDE_TITLES = {
    "01_activation_functions.ipynb": [
        "Сигмоида", "ReLU", "Варианты ReLU", "ELU", "ReLU6", "Swish", "Mish", "Maxout", "Другие виды",
        "Функция активации",
    ],
    "02_loss_functions.ipynb": [
        "Функция ошибки", "Среднеквадратичная функция (MSE)", "MSE + линейный нейрон", "Cross Entropy",
        "Функция правдоподобия", "Другие функции потерь", "Выбор типа функции потерь",
    ],
    "03_vanishing_gradient.ipynb": [
        "Затухающий градиент", "Функция активации", "Добавление «шума» в значение градиента", "Глубина НС",
        "«Восстановление» затухающего градиента",
    ],
}
# The lecture's review questions ("Вопросы"), one per notebook.
QUESTIONS = {
    "01_activation_functions.ipynb": "Основное отличие сигмоидальной функции от RELU",
    "02_loss_functions.ipynb": "Какие функции потерь предпочтительнее",
    "03_vanishing_gradient.ipynb": "Что такое проблема «затухающего градиента»",
}


def _repo_url_from_pyproject() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["urls"]["Repository"].rstrip("/")


def _read(path):
    return nbformat.read(path, as_version=4)


def _headings(nb):
    return [line.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if re.match(r"^#{1,3} ", line)]


def test_the_three_lecture_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_valid_and_has_no_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_sections_carry_the_slide_titles_in_order_and_end_with_the_questions(path):
    headings = _headings(_read(path))
    sections = [h for h in headings if re.match(r"^\d+\. ", h)]
    positions = []
    for title in SLIDE_TITLES[path.name]:
        hits = [i for i, h in enumerate(sections) if h.endswith(f"({title})")]
        assert hits, f"no heading with the slide title ({title}) in {path.name}: {headings}"
        positions.append(hits[0])
    assert positions == sorted(positions), f"slide titles out of order in {path.name}"
    # and no section goes back to an earlier slide
    order = {title: k for k, title in enumerate(SLIDE_TITLES[path.name])}
    seen = [order[t] for h in sections for t in order if h.endswith(f"({t})")]
    assert seen == sorted(seen), f"a section of {path.name} goes back to an earlier slide: {headings}"
    # every numbered section has an English title before the Russian one
    for h in headings:
        if re.match(r"^\d+\. ", h):
            assert re.match(r"^\d+\. [A-Za-z].*\(.+\)$", h), h
    nb = _read(path)
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and "Questions (Вопросы)" in last.source
    assert QUESTIONS[path.name] in last.source


def test_notebook_01_carries_the_course_topics_and_reading_slides():
    nb = _read(LECTURES / "01_activation_functions.ipynb")
    headings = _headings(nb)
    topics, reading = (next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and f"({t})" in c.source)
                       for t in ("Основные темы спецкурса", "Литература"))
    assert topics < reading < min(i for i, c in enumerate(nb.cells) if "Glossary" in c.source)
    assert any(h.endswith("(Основные темы спецкурса)") for h in headings)
    text = nb.cells[reading].source
    for source in ("deeplearningbook.org", "cs231n.github.io", "neuralnetworksanddeeplearning.com",
                   "Deep Learning with Python", "Deep Learning with PyTorch"):
        assert source in text, source
    # section 2 states ReLU'(0) under both conventions
    relu = next(c.source for c in nb.cells if c.cell_type == "markdown" and "## 2. ReLU" in c.source)
    assert "At $z = 0$" in relu and "g'(0) = 1" in relu and "g'(0) = 0" in relu


def test_notebook_03_draws_the_slide_diagrams_and_explains_its_noise_level():
    nb = _read(LECTURES / "03_vanishing_gradient.ipynb")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for name in ("neuron_chain", "resnet_block", "lstm_cell", "googlenet_fragment"):
        assert f"diagrams.{name}()" in code, name
    noise = next(c.source for c in nb.cells if c.cell_type == "markdown" and "**Why $\\eta = 0.3$**" in c.source)
    assert "0.01" in noise and "$\\eta = 1$" in noise
    assert "0.01, 0.3, 1.0" in next(c.source for c in nb.cells if "## 3. Adding noise" in c.source)


def test_glossary_lives_in_notebook_01_only():
    glossaries = [p.name for p in NOTEBOOKS if any("Glossary" in h for h in _headings(_read(p)))]
    assert glossaries == ["01_activation_functions.ipynb"]
    for p in NOTEBOOKS[1:]:
        assert "01_activation_functions.ipynb" in _read(p).cells[2].source  # the intro points at it


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_downloads_and_device_report_near_the_top(path):
    nb = _read(path)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    calls = re.findall(r"load_mnist\(([^)]*)\)", "\n".join(code))
    assert calls, "the notebook should use source_lib.data.load_mnist"
    for args in calls:
        assert "allow_download=False" in args or 'source="offline"' in args, args
    assert "device.describe()" in code[1], "the first code cell after the setup cell prints the device"


def _all_committed_notebooks():
    out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / p for p in out.stdout.split()] or NOTEBOOKS


@pytest.mark.parametrize("path", _all_committed_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_setup_cell_and_badge_match_colab_module(path):
    assert colab.check(path) == []
    nb = _read(path)
    rel = path.relative_to(ROOT).as_posix()
    target = re.sub(r"^solutions/", "assignments/", rel)  # a master's badge opens its student release
    owner_name = _repo_url_from_pyproject().removeprefix("https://github.com/")
    expected = f"https://colab.research.google.com/github/{owner_name}/blob/main/{target}"
    assert f"]({expected})" in nb.cells[1].source
    assert "colab-badge.svg" in nb.cells[1].source


def _exec_setup(source, monkeypatch, colab_present):
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(cmd) or 0)
    if colab_present:
        fake = type(sys)("google.colab")
        monkeypatch.setitem(sys.modules, "google", type(sys)("google"))
        monkeypatch.setitem(sys.modules, "google.colab", fake)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(source, "<setup cell>", "exec"), {})
    return calls


def test_setup_cell_is_a_no_op_locally_and_pip_installs_the_repo_on_colab(monkeypatch):
    source = _read(NOTEBOOKS[0]).cells[0].source
    assert _exec_setup(source, monkeypatch, colab_present=False) == []
    calls = _exec_setup(source, monkeypatch, colab_present=True)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q",
                      f"source_lib @ git+{_repo_url_from_pyproject()}"]]


def test_repository_url_is_written_only_in_pyproject():
    url = _repo_url_from_pyproject()
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    code_files = [f for f in files if f.endswith((".py", ".toml", ".cfg", ".yml", ".yaml", ".sh")) or f == "Makefile"]
    holders = [f for f in code_files if url in (ROOT / f).read_text(encoding="utf-8", errors="ignore")]
    assert holders == ["pyproject.toml"]
    assert colab.repository_url() == url


def test_stamp_inserts_refreshes_and_is_idempotent(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="kept\n")]
    path = tmp_path / "demo.ipynb"
    nbformat.write(nb, path)
    rel = "lectures/demo.ipynb"

    assert colab.stamp(path, relative_path=rel) is True
    stamped = _read(path)
    assert [c.cell_type for c in stamped.cells] == ["code", "markdown", "markdown", "code"]
    assert stamped.cells[0].source == colab.setup_cell_source()
    assert stamped.cells[2].source == "# Title" and stamped.cells[3].outputs[0].text == "kept\n"
    assert colab.check(path, relative_path=rel) == []
    before = path.read_text()
    assert colab.stamp(path, relative_path=rel) is False
    assert path.read_text() == before

    # an outdated setup cell further down is replaced, not duplicated
    stale = _read(path)
    stale.cells[0].source = "print('old setup')"
    stale.cells = stale.cells[1:] + stale.cells[:1]
    nbformat.write(stale, path)
    assert colab.check(path, relative_path=rel) != []
    assert colab.stamp(path, relative_path=rel) is True
    again = _read(path)
    assert len(again.cells) == 4 and again.cells[0].source == colab.setup_cell_source()
    nbformat.validate(again)


def test_cli_check_reports_stale_notebooks():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# no setup cell")]
    (ROOT / "build").mkdir(exist_ok=True)
    stale = ROOT / "build" / "_stale_test_tmp.ipynb"  # inside the repo (the badge needs a repo path), git-ignored
    try:
        nbformat.write(nb, stale)
        assert colab.main(["check", str(stale)]) == 1
        assert colab.main(["check", *map(str, NOTEBOOKS)]) == 0
    finally:
        stale.unlink(missing_ok=True)


# --- executing the notebooks (slow) -------------------------------------------------------

_RUNS: dict = {}  # notebook name -> Future of the executed notebook, once per test session


def _executes(which):
    """Decorator: the test executes the lecture ``which`` (a file name), or ``"path"``: its parameter's."""
    def mark(test):
        test.executes = which
        return test
    return mark


def _execute(path) -> nbformat.NotebookNode:
    """The notebook executed top to bottom in a fresh kernel.

    The kernel runs as a student's does: ipykernel forwards what native code writes to fd 2
    (TensorFlow's C++ log) into the notebook only outside pytest, so PYTEST_CURRENT_TEST is
    left out of the kernel's environment.
    """
    from nbclient import NotebookClient

    nb = _read(path)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(LECTURES)}})
    try:
        client.execute(env=env)  # raises CellExecutionError on the first failing cell
    finally:
        close_thread_event_loop()  # this runs in a pool thread (_executed)
    return nb


def _executed(request, path):
    """``path`` executed (:func:`_execute`) once per test session.

    The first call starts every lecture that the session's selected tests execute, each in its
    own kernel at the same time, and waits for ``path``'s: a lecture's kernel is busy on one core
    at a time for much of its run (Keras's step-by-step Python, TensorFlow's import), so the
    three together take far less wall time than one after the other (measured: see the commit).
    A lecture's failure is raised in each test that reads it.
    """
    if path.name not in _RUNS:
        wanted = {path.name}
        for item in request.session.items:
            which = getattr(getattr(item, "function", None), "executes", None)
            if item.path == Path(__file__) and which:
                wanted.add(item.callspec.params["path"].name if which == "path" else which)
        wanted -= set(_RUNS)
        pool = ThreadPoolExecutor(len(wanted), thread_name_prefix="lecture")
        for name in sorted(wanted):
            _RUNS[name] = pool.submit(_execute, LECTURES / name)
        pool.shutdown(wait=False)
    return _RUNS[path.name].result()


def _stdout(nb):
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def _number(pattern, text):
    match = re.search(pattern, text)
    assert match, f"no line matching {pattern!r} in the notebook's output"
    return [float(g) for g in match.groups()]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
@_executes("path")
def test_notebook_runs_top_to_bottom_with_no_red_text(request, path):
    nb = _executed(request, path)
    # no error, no stderr at all, its figures, the device report, the MNIST line, no NaN (tests/conftest.py;
    # tests/test_colab_path.py asserts the same on the student copy run with Colab's versions)
    assert_lecture_ran_clean(nb, path.name)
    # the intro announces the run time
    assert re.search(r"\*\*Run time\*\*: about \d+ minutes? on a 2-core CPU \(\d+ s measured", nb.cells[2].source)


@pytest.mark.slow
@_executes("01_activation_functions.ipynb")
def test_notebook_01_prose_follows_its_numbers(request):
    text = _stdout(_executed(request, LECTURES / "01_activation_functions.ipynb"))
    # section 2 states the value of ReLU'(0) of each convention (autodiff of both functions)
    assert re.search(r"A\.relu'\(0\) = 1 ", text) and re.search(r"keras\.activations\.relu'\(0\) = 0 ", text)
    # "most units dead" after lr = 1.5, few after lr = 0.05
    h1, h2 = _number(r"SGD lr=1\.5 .*dead units: h1 (\d+)%, h2 (\d+)%", text)
    assert h1 > 50 and h2 > 50
    assert max(_number(r"SGD lr=0\.05 .*dead units: h1 (\d+)%, h2 (\d+)%", text)) < 20
    (w_max,) = _number(r"lr = 1\.5 left weights up to \|w\| = ([\d.]+) \(they started below 0\.3\)", text)
    assert w_max > 2.0  # "about ten times larger than they started"
    # the broken weights: ReLU's network starts near the constant guess ln 10, leaky ReLU's far above it,
    # and leaky ReLU then learns while ReLU does not
    (relu_start, relu_acc) = _number(r"ReLU {2,}.*loss before training +([\d.]+) .*test accuracy ([\d.]+)", text)
    (leaky_start, leaky_acc) = _number(r"leaky ReLU \(α = 0\.2\) .*loss before training +([\d.]+) .*test accuracy ([\d.]+)",
                                       text)
    assert abs(relu_start - np.log(10)) < 0.5 and leaky_start > 2 * np.log(10)
    assert leaky_acc > relu_acc + 0.2
    # the comparison's summary line agrees with the per-activation lines above it
    accs = {m[0]: 100 * float(m[1]) for m in re.findall(r"^(\w+) +test accuracy ([\d.]+) +training loss", text, re.M)}
    lo, hi = _number(r"non-sigmoid activations: ([\d.]+)% to ([\d.]+)%", text)
    others = [v for k, v in accs.items() if k != "sigmoid"]
    assert len(accs) == 10 and abs(lo - min(others)) < 0.06 and abs(hi - max(others)) < 0.06


@pytest.mark.slow
@_executes("02_loss_functions.ipynb")
def test_notebook_02_prose_follows_its_numbers(request):
    text = _stdout(_executed(request, LECTURES / "02_loss_functions.ipynb"))
    # Nielsen, NNDL ch. 3 (MSE from w = b = 2): a = 0.964 at epoch 100, 0.789 at 200, near 0.20 at 300, a plateau of
    # "about 150 epochs"; from w = 0.6, b = 0.9 it ends near 0.09
    a = dict(zip((0, 50, 100, 150, 200, 300), _number(r"quadratic, w=2, b=2 +" + r" +".join([r"([\d.]+)"] * 6), text)))
    assert abs(a[100] - 0.964) < 0.01 and abs(a[200] - 0.789) < 0.02 and abs(a[300] - 0.20) < 0.02
    assert abs(_number(r"quadratic, w=0\.6, b=0\.9 +(?:[\d.]+ +){5}([\d.]+)", text)[0] - 0.09) < 0.01
    (plateau,) = _number(r"falls 0\.05 below its start at epoch (\d+)", text)
    assert 130 <= plateau <= 170, plateau  # the prose says "about 150"
    # MSE is pulled towards the outliers, MAE much less; MSE + sigmoid learns slowest
    (mse,) = _number(r"half_mse +RMS distance to the clean curve sin 3x: ([\d.]+)", text)
    (mae,) = _number(r"mae +RMS distance to the clean curve sin 3x: ([\d.]+)", text)
    assert mse > 1.5 * mae
    assert "lowest after epoch 1: sigmoid + MSE" in text


@pytest.mark.slow
@_executes("03_vanishing_gradient.ipynb")
def test_notebook_03_prose_follows_its_numbers(request):
    text = _stdout(_executed(request, LECTURES / "03_vanishing_gradient.ipynb"))
    # section 5: the mean of five seeds lies within 2x of each of Nielsen's published speeds (NNDL ch. 5)
    apart = [float(x) for x in re.findall(r"Nielsen \([\d., ]+\) +\(at most ([\d.]+)x apart\)", text)]
    assert len(apart) == 3 and max(apart) < 2.0, apart
    # "each extra layer makes the first layer several times slower relative to the last"
    assert all(2 < f < 10 for f in _number(r"each extra layer divides it by ([\d.]+) and ([\d.]+)", text))
    # training narrows the gap with 2 and 3 hidden layers (about 2x and 10x slower at the end), not with 4 (> 100x)
    ratios = {int(d): (float(s), float(e)) for d, s, e in
              re.findall(r"(\d) hidden layers: speed of layer 1 / speed of layer \d: at the start ([\d.]+), "
                         r"after 500 epochs ([\d.]+)", text)}
    assert sorted(ratios) == [2, 3, 4]
    for depth, slower in ((2, 2), (3, 10)):
        start, end = ratios[depth]
        assert end > 2 * start and 0.5 < slower * end < 2, (depth, start, end)
    assert ratios[4][1] < 0.01
    assert re.search(r"layer 1 is faster than layer 2 at \d+ of \d+ records", text)  # "overtakes the second"
    # section 6: sigmoid about a million times slower at 10 layers, tanh/ReLU/Swish only tens of times
    sweep = dict(re.findall(r"^(\w+) +10 hidden layers: ratio ([\d.e+-]+)", text, re.M))
    assert 1e-7 < float(sweep["sigmoid"]) < 1e-5
    assert all(1 / 100 < float(sweep[k]) < 1 / 10 for k in ("tanh", "relu", "swish")), sweep


# --- the support the notebooks use: quiet start-up, progress, slide diagrams ---------------


def test_start_up_filter_drops_tensorflows_lines_and_passes_others_on(capfd):
    import source_lib

    chatter = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796159367.631001    9043 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1796159367.632189    9043 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
        "E0000 00:00:1796159372.472288    9043 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        "2025-09-17 14:44:05.176998: E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:467] Unable to "
        "register cuFFT factory: Attempting to register factory for plugin cuFFT when one has already been registered",
    ]
    real = [
        "E0000 00:00:1796159372.472288    9043 gpu_device.cc:99] out of memory",  # an E line that is not start-up
        "Traceback (most recent call last): something a student must see",
    ]
    capfd.readouterr()
    with source_lib._startup_lines_dropped():
        os.write(2, ("\n".join(chatter[:2] + real[:1] + chatter[2:] + real[1:]) + "\n").encode())
    err = capfd.readouterr().err
    assert err.splitlines() == real


@pytest.mark.slow
def test_importing_source_lib_then_keras_prints_nothing_on_stderr():
    code = "import source_lib, keras, tensorflow as tf; tf.constant(1.0) + 1; print('ok')"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as in a fresh notebook kernel
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout == "ok\n"
    assert proc.stderr == ""
    # with no fd 2 to redirect (a daemon, a closed stderr) the import still works
    closed = "import os; os.close(2); import source_lib; print('ok')"
    proc = subprocess.run([sys.executable, "-c", closed], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout == "ok\n"


def test_epoch_progress_is_one_line_over_all_fits_on_stdout():
    import io

    import keras
    import numpy as np

    from source_lib import progress

    out = io.StringIO()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with progress.EpochProgress(total=2 * 3, description="two fits", file=out) as bar:
        for _ in range(2):
            model.fit(np.zeros((8, 3)), np.ones((8, 1)), epochs=3, verbose=0, callbacks=[bar])
    last = out.getvalue().split("\r")[-1]
    assert last.startswith("two fits: 100%") and "6/6 epochs" in last and "loss " in last
    assert out.getvalue().count("\n") == 1  # one line, redrawn in place
    with pytest.raises(ValueError, match="total"):
        progress.EpochProgress(total=0)
    assert list(progress.steps(range(3), "loop", file=io.StringIO())) == [0, 1, 2]


@pytest.mark.parametrize("name", ["neuron_chain", "resnet_block", "lstm_cell", "googlenet_fragment"])
def test_slide_diagrams_keep_every_label_inside_the_figure(name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from source_lib import diagrams

    fig = getattr(diagrams, name)()
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        box = fig.bbox
        ax = fig.axes[0]  # its axis is off: the labels are its texts and its title
        texts = [t for t in [*ax.texts, ax.title] if t.get_text().strip()]
        assert len(texts) >= 5 and fig.axes[0].get_title()
        for t in texts:
            b = t.get_window_extent(renderer)
            assert box.x0 - 1 <= b.x0 and b.x1 <= box.x1 + 1 and box.y0 - 1 <= b.y0 and b.y1 <= box.y1 + 1, t.get_text()
    finally:
        plt.close(fig)


def test_readme_carries_each_lecture_badge():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert colab.badge_markdown(path) in readme, f"README lacks the Colab badge of {path.name}"


def test_stamping_the_readme_follows_a_new_repository_url(tmp_path):
    """After a fork: `python -m source_lib.colab stamp README.md ...` moves every badge of the README."""
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    fork = "https://github.com/someone/my-fork"
    assert colab.stamp_markdown(readme, fork)
    text = readme.read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert colab.badge_markdown(path, fork) in text
    assert "colab.research.google.com/github/" + colab.repository_url().split("github.com/")[1] not in text
    assert not colab.stamp_markdown(readme, fork)  # idempotent


@pytest.mark.slow
def test_rendered_html_leaves_out_tensorflow_start_up_chatter(tmp_path):
    """`make lectures` (python -m instructor lectures): the published page keeps the notebook's
    own output and drops TensorFlow's absl lines (which ipykernel forwards to the notebook)."""
    from instructor import course

    (tmp_path / "lectures").mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os, time\nimport tensorflow as tf\n"
                                  "os.write(2, ('I' + '0000 00:00:1795736267.842385   17921 ' + 'cudart' + '_stub.cc:31] no cuda\\n').encode())\n"
                                  "time.sleep(1)\nprint('the lecture says', tf.constant(2) + 1)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "lectures" / "tiny.ipynb")
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)  # ipykernel forwards fd 2 only outside pytest
    try:
        (page,) = course.render_lectures(tmp_path, out_dir=tmp_path / "html", log=lambda m: None)
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    html = page.read_text(encoding="utf-8")
    assert "the lecture says tf.Tensor(3" in html
    assert "I0000" not in html and "cudart_stub" not in html  # (the source writes them in pieces)
    assert "absl::InitializeLog" not in html  # TensorFlow's own, from the import


def test_lecture_figures_keep_legends_off_the_data_and_warn_nothing():
    """What the notebooks' figures rely on in source_lib.plotting (issue: figure readability)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from source_lib import plotting, slowdown

    def inside(box, outer):
        return box.x0 >= outer.x0 - 1 and box.x1 <= outer.x1 + 1 and box.y0 >= outer.y0 - 1 and box.y1 <= outer.y1 + 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "The figure layout has changed to tight" and the like fail here
        # drawing into the caller's constrained-layout figure, as notebook 03 section 5 does
        fig, axes = plt.subplots(1, 2, constrained_layout=True)
        history = np.array([[1e-3, 1e-1], [2e-3, 2e-1], [3e-3, 3e-1]])
        for ax in axes:
            assert plotting.plot_speed_history(history, ax=ax) is fig
        fig.suptitle("Speeds")
        fig.canvas.draw()
        assert fig.get_layout_engine().__class__.__name__ == "ConstrainedLayoutEngine"
        top = min(ax.title.get_window_extent().y1 for ax in axes)
        (suptitle,) = [t for t in fig.texts if t.get_text() == "Speeds"]
        assert suptitle.get_window_extent().y0 >= top  # the figure title above the panels' titles
        plt.close(fig)

        runs = {label: slowdown.train_single_neuron(**kw, epochs=20) for label, kw in slowdown.NIELSEN_RUNS.items()}
        fig = plotting.plot_learning_curves(runs, quantities=("a", "C"), title="four runs")
        fig.canvas.draw()
        legend = fig.axes[0].get_legend().get_window_extent()
        assert all(legend.y1 <= ax.get_window_extent().y0 for ax in fig.axes)  # under the panels, on no curve
        assert inside(legend, fig.bbox)
        plt.close(fig)

        fig = plotting.plot_layer_speeds({"plain": [1e-7, 1e-3, 1e-1], "residual": [0.5, 0.5, 0.4]})
        fig.canvas.draw()
        legend, ax = fig.axes[0].get_legend().get_window_extent(), fig.axes[0].get_window_extent()
        assert legend.x0 >= ax.x1 and inside(legend, fig.bbox)  # beside the bars
        plt.close(fig)

        levels = lambda fig: sorted(round(l.get_ydata()[0], 3) for l in fig.axes[0].get_lines()  # noqa: E731
                                    if l.get_linestyle() == ":")
        fig = plotting.derivative_overlay(["relu", "swish", "mish"])
        assert levels(fig) == [1.0]  # no 0.25 guide without the sigmoid's curve
        plt.close(fig)
        fig = plotting.derivative_overlay(["sigmoid", "relu"])
        assert levels(fig) == [0.25, 1.0]
        plt.close(fig)
