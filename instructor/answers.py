"""``answers``: an assignment's model answers, for students, after the deadline.

    python -m instructor answers --assignment ps1_activation_derivatives
    make answers ASSIGNMENT=ps1_activation_derivatives

renders the master ``solutions/<ps>/<ps>.ipynb`` without its hidden tests (nbgrader's
``ClearHiddenTests``) and without the graders' mark schemes (``ClearMarkScheme``), with the
solution code and the model answers to the review questions («Вопросы») in place and nbgrader's
markers and cell metadata removed, into ``build/answers/<ps>/``:

- ``<ps>_answers.ipynb``: the notebook, without outputs, stamped like the student copies
  (setup cell for the student repository), to run on Colab or a laptop;
- ``<ps>_answers.html``: the same notebook executed (the self-check reports every question as
  passing), to read.

The instructor releases them after the deadline, through the exchange's feedback or by copying them
into the student repository. It refuses to write anything that still contains a hidden-test line.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from .coursedir import ROOT

HIDDEN_REGION = re.compile(r"#+\s*(BEGIN|END) HIDDEN TESTS")


def hidden_test_lines(master_nb) -> set[str]:
    """The stripped lines of ``master_nb``'s hidden-test regions (at least 12 characters) that the
    notebook does not also show outside them."""
    hidden, shown = set(), set()
    for cell in master_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if HIDDEN_REGION.search(line):
                inside = "BEGIN" in line
                continue
            (hidden if inside else shown).add(line.strip())
    return {line for line in hidden - shown if len(line) >= 12}


def html_text(html: str) -> str:
    """The text of an HTML page as a reader sees it: tags dropped, entities decoded."""
    import html as html_module

    return html_module.unescape(re.sub(r"<[^>]+>", "", html))


def answer_notebook(course, assignment: str):
    """The model-answer notebook of ``assignment``, built from its master (not written anywhere)."""
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme

    from .submissions import solution_text

    master_path = Path(course) / "solutions" / assignment / f"{assignment}.ipynb"
    if not master_path.is_file():
        raise FileNotFoundError(f"no master {master_path}")
    nb = nbformat.read(master_path, as_version=4)
    resources = {}
    nb, resources = ClearHiddenTests().preprocess(nb, resources)
    nb, resources = ClearMarkScheme().preprocess(nb, resources)
    for cell in nb.cells:
        cell.source = solution_text(cell.source)
        for key in ("nbgrader", "deletable", "editable"):  # a plain notebook: nothing locked
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    title = nbformat.v4.new_markdown_cell(
        f"# Model answers: `{assignment}` (Решения)\n\n"
        "The assignment with every solution and the model answers to the review questions filled in, "
        "released after the deadline. The hidden tests stay with the grader; the self-check at the end "
        "runs the visible ones.")
    nb.cells.insert(2 if len(nb.cells) > 2 else 0, title)
    return nb


def answers(course=ROOT, assignment: str = "", out_dir=None, execute: bool = True, timeout: int = 600,
            url: str | None = None, log=print) -> tuple[Path, Path]:
    """Write ``build/answers/<assignment>/<assignment>_answers.{ipynb,html}``; return both paths.

    Args:
        course: the instructors' course directory.
        assignment: the assignment's name (a folder of ``solutions/``).
        out_dir: where to write (default: ``build/answers/<assignment>``).
        execute: run the notebook (our kernel ``python3``) so the HTML shows its outputs.
        timeout: seconds per cell when executing.
        url: the student repository for the setup cell (default: ``[tool.course]``).
        log: where the progress line goes.
    """
    import nbformat
    from nbconvert import HTMLExporter

    from source_lib import colab

    course = Path(course)
    out_dir = Path(out_dir) if out_dir else course / "build" / "answers" / assignment
    out_dir.mkdir(parents=True, exist_ok=True)
    master = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    nb = answer_notebook(course, assignment)
    notebook = out_dir / f"{assignment}_answers.ipynb"
    nbformat.write(nb, notebook)
    colab.stamp_student(notebook, f"answers/{assignment}/{notebook.name}",
                        url or colab.student_repository_url(course / "pyproject.toml"))
    nb = nbformat.read(notebook, as_version=4)
    if execute:
        from nbclient import NotebookClient

        from .robust_execute import KERNEL_NOISE, IgnorePatternLines

        run = nbformat.from_dict(nb)
        with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as kernel_log:
            NotebookClient(run, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": tmp}}).execute(stdout=kernel_log, stderr=subprocess.STDOUT)
        quiet = IgnorePatternLines(pattern=KERNEL_NOISE)
        for index, cell in enumerate(run.cells):
            quiet.preprocess_cell(cell, {}, index)
        nb = run
    html, _ = HTMLExporter().from_notebook_node(nb)
    page = out_dir / f"{assignment}_answers.html"
    texts = [html_text(html), "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells)]
    leaks = sorted(line for line in hidden_test_lines(master) if any(line in text for text in texts))
    if leaks or any("HIDDEN TESTS" in text for text in texts):
        notebook.unlink()
        raise RuntimeError(f"refusing to write the answers of {assignment}: hidden-test lines remain: {leaks[:3]}")
    page.write_text(html, encoding="utf-8")
    log(f"answers: {notebook} and {page.name} (release them after the deadline)")
    return notebook, page
