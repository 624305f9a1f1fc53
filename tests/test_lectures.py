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
from pathlib import Path

import nbformat
import pytest

from source_lib import colab

ROOT = Path(__file__).resolve().parents[1]
LECTURES = ROOT / "lectures"
EXPECTED = ["01_activation_functions.ipynb", "02_loss_functions.ipynb", "03_vanishing_gradient.ipynb"]
NOTEBOOKS = sorted(LECTURES.glob("*.ipynb"))

# The slide titles of lecture 1 (shared/lecture-01-slides.md), in slide order, per notebook.
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

MIN_FIGURES = {"01_activation_functions.ipynb": 10, "02_loss_functions.ipynb": 8, "03_vanishing_gradient.ipynb": 9}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path):
    from nbclient import NotebookClient

    nb = _read(path)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(LECTURES)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert errors == []
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= MIN_FIGURES[path.name]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Device report" in text and re.search(r"accelerator\s*: (CPU|GPU)", text)
    assert "MNIST:" in text
    assert not re.search(r"\bnan\b", text.lower()), "a NaN was printed"


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
