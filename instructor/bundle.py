"""``student-bundle``: what students get, without solutions or hidden tests."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

from .coursedir import ROOT


STUDENT_README = """# Neural networks in practice, lecture 1: student kit

Основы практического использования нейронных сетей. Лекция 1: функции активации, функции потерь,
затухающий градиент.

## What is here
- `lectures/` — the lecture notebooks: read them, run them, change them.
- `assignments/` — three graded assignments (nbgrader):
  `ps1_activation_derivatives`, `ps2_losses`, `ps3_vanishing_gradient`.
- `source_lib/` — the small library every notebook imports.

## How to work
- **Colab**: open a notebook with its "Open in Colab" badge; the first (setup) cell installs
  `source_lib`. Save a copy to your Drive before you start.
- **JupyterHub**: fetch the assignment in the Assignments tab; `source_lib` is installed.
- **Laptop**: `python -m venv .venv && .venv/bin/pip install -e '.[course]'`, then `.venv/bin/jupyter lab`.

In each assignment write your code where it says `# YOUR CODE HERE` (delete the
`raise NotImplementedError()`), and your answer where it says `YOUR ANSWER HERE`. Do not delete,
move or retype the test cells: they are read-only and the grader restores them anyway.
The last cell is a **self-check**: run it to see, question by question, whether your code passes
the visible tests. The grader also runs hidden tests (extreme inputs, other random points), so
passing the self-check is necessary but not sufficient. A review question at the end of each
assignment is graded by hand.

Submit the `.ipynb` file itself (JupyterHub: the Submit button). Keep the file name.
"""

BUNDLE_EXCLUDE = re.compile(r"(__pycache__|\.pyc$|\.ipynb_checkpoints|\.egg-info)")


def student_bundle(course=ROOT, out_dir=None, log=print) -> Path:
    """Copy what students get (lectures, assignments, source_lib, packaging, a README) and zip it."""
    course = Path(course)
    out_dir = Path(out_dir) if out_dir else course / "build" / "student_bundle"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for folder in ("lectures", "assignments", "source_lib"):
        if (course / folder).is_dir():
            shutil.copytree(course / folder, out_dir / folder,
                            ignore=lambda d, names: [n for n in names if BUNDLE_EXCLUDE.search(n)])
    for file in ("pyproject.toml", "environment.yml", "LICENSE"):
        if (course / file).exists():
            shutil.copy2(course / file, out_dir / file)
    (out_dir / "README.md").write_text(STUDENT_README, encoding="utf-8")
    leaks = bundle_leaks(out_dir)
    if leaks:
        raise RuntimeError("the student bundle would leak instructor material:\n" + "\n".join(leaks))
    archive = out_dir.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(out_dir.rglob("*")):
            if path.is_file():
                zf.write(path, Path(out_dir.name) / path.relative_to(out_dir))
    log(f"student-bundle: {out_dir} ({sum(1 for p in out_dir.rglob('*') if p.is_file())} files) and {archive.name}")
    return out_dir


LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME")


def bundle_leaks(folder: Path) -> list[str]:
    """Files under ``folder`` that carry nbgrader solution/hidden-test markers."""
    leaks = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix in {".ipynb", ".py", ".md", ".txt", ".json"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            leaks += [f"{path}: contains '{m}'" for m in LEAK_MARKERS if m in text]
    return leaks
