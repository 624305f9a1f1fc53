"""``student-bundle``: what students get, without solutions or hidden tests.

The student tree (lectures, released assignments, ``source_lib`` with its packaging, a student
README) is built by :func:`student_tree`; ``student-bundle`` zips it and ``student-repo``
(:mod:`instructor.student_repo`) commits it. Both refuse to build when :func:`bundle_leaks` finds
nbgrader's markers or a line of a master's solution or hidden tests anywhere in the tree.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

from .coursedir import ROOT

LECTURE_TITLES = {  # the student README's table: lecture notebook -> title
    "01_activation_functions.ipynb": "1. Activation functions (Функция активации)",
    "02_loss_functions.ipynb": "2. Loss functions (Функция ошибки)",
    "03_vanishing_gradient.ipynb": "3. The vanishing gradient (Затухающий градиент)",
}

STUDENT_README_TEMPLATE = """# Neural networks in practice, lecture 1: student kit

Основы практического использования нейронных сетей. Лекция 1: функции активации, функции потерь,
затухающий градиент.

## What is here
- `lectures/`: the lecture notebooks. Read them, run them, change them.
- `assignments/`: the graded assignments (nbgrader), one folder each.
- `source_lib/`: the small library every notebook imports.

## Open a notebook on Colab

| notebook | Colab |
| --- | --- |
{badges}

Click a badge, then *File → Save a copy in Drive* before you change anything. The notebook's first
cell (the setup cell) installs `source_lib` from this repository: run it first. If it cannot
(no network, the repository moved), it says so in one paragraph; then download
`source_lib-{version}-py3-none-any.whl` from this repository's Releases page, upload it with
Colab's file panel (the folder icon on the left) and run the setup cell again.
*Runtime → Change runtime type → GPU* runs the experiments on a GPU with no other change.

## On a laptop

```bash
git clone {url}.git
cd {name}
python -m venv .venv && .venv/bin/pip install -e . jupyterlab
.venv/bin/jupyter lab
```

Or with conda: `conda env create -f environment.yml && conda activate nn-lecture-01`.
The setup cell does nothing there: `source_lib` is installed from your clone.
To get a new assignment later, `git pull` in the clone.

## JupyterHub

If your course runs a JupyterHub, fetch each assignment from the *Assignments* tab, work,
*Validate*, *Submit*. `source_lib` is installed there and the setup cell does nothing.

## How to work on an assignment

Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`), and
your answer where it says `YOUR ANSWER HERE`. Do not delete, move or retype the test cells: they
are read-only and the grader restores them anyway.

**The self-check.** The last cell of every assignment is a self-check. Run it by itself at any
time (on Colab, *Run all* stops at the first failing test cell, so run it on its own): it runs the
visible tests of every question and prints one line per question (`ok`, not done yet, or what
failed, with the input and the values) and a total such as `7/11 questions pass their visible
tests`. It is informational, not graded. The grader runs the test cells again, with hidden tests
(extreme inputs, other random points), so passing the self-check is necessary but not sufficient.
A review question at the end of each assignment is graded by hand.

Submit the `.ipynb` file itself (JupyterHub: the *Submit* button), under its original name.
"""


def student_readme(url: str, lectures=tuple(LECTURE_TITLES), assignments=(), version: str = "0.1.0") -> str:
    """The student repository's README: Colab badges for ``lectures`` and ``assignments``
    (paths in the student repository), laptop steps and the self-check, all pointing at ``url``."""
    from source_lib import colab

    rows = [f"| {LECTURE_TITLES.get(name, name)} | {colab.badge_markdown(name, url, f'lectures/{name}')} |"
            for name in lectures]
    rows += [f"| assignment `{name}` | {colab.badge_markdown(name, url, f'assignments/{name}/{name}.ipynb')} |"
             for name in assignments]
    return STUDENT_README_TEMPLATE.format(badges="\n".join(rows), url=url, name=url.rsplit("/", 1)[-1],
                                          version=version)


def _default_readme() -> str:
    from source_lib import colab

    return student_readme(colab.student_repository_url(), assignments=_released(ROOT))


BUNDLE_EXCLUDE = re.compile(r"(__pycache__|\.pyc$|\.ipynb_checkpoints|\.egg-info)")


def _released(course: Path) -> list[str]:
    return sorted(p.parent.name for p in Path(course).glob("assignments/*/*.ipynb") if p.stem == p.parent.name)


def _project_version(course: Path) -> str:
    import tomllib

    return tomllib.loads((Path(course) / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def student_tree(course=ROOT, out_dir=None, assignments=None, url: str | None = None) -> Path:
    """Write what students get into ``out_dir`` (emptied first) and return it.

    Args:
        course: the instructors' course directory.
        out_dir: where to write (default: ``build/student_bundle``).
        assignments: the released assignments to include (default: every one in ``assignments/``).
        url: the student repository (default: ``student_repository`` in the course's pyproject.toml).

    Every notebook is stamped for the student repository (:func:`source_lib.colab.stamp_student`),
    the copied pyproject.toml names it as the ``Repository``, and the README is
    :func:`student_readme`. Raises RuntimeError, listing the files, if :func:`bundle_leaks` finds
    solution or hidden-test text.
    """
    from source_lib import colab

    course = Path(course)
    url = url or colab.student_repository_url(course / "pyproject.toml")
    out_dir = Path(out_dir) if out_dir else course / "build" / "student_bundle"
    names = _released(course) if assignments is None else sorted(assignments)
    missing = [n for n in names if not (course / "assignments" / n / f"{n}.ipynb").is_file()]
    if missing:
        raise FileNotFoundError(f"not released (run `make release` first): {', '.join(missing)}")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)

    def ignore(directory, entries):
        return [n for n in entries if BUNDLE_EXCLUDE.search(n)]

    shutil.copytree(course / "lectures", out_dir / "lectures", ignore=ignore)
    for name in names:
        shutil.copytree(course / "assignments" / name, out_dir / "assignments" / name, ignore=ignore)
    shutil.copytree(course / "source_lib", out_dir / "source_lib", ignore=ignore)
    for file in ("environment.yml", "LICENSE"):
        if (course / file).exists():
            shutil.copy2(course / file, out_dir / file)
    pyproject = (course / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(r'(?m)^(Repository\s*=\s*)"[^"]*"', lambda m: f'{m.group(1)}"{url}"', pyproject)
    pyproject = re.sub(r"(?m)^\[tool\.course\]\n(?:#.*\n)*", "[tool.course]\n# This repository: the notebooks' "
                       "badges and setup cells point here.\n", pyproject)  # not the instructors' comment
    (out_dir / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    for notebook in sorted(out_dir.rglob("*.ipynb")):
        colab.stamp_student(notebook, notebook.relative_to(out_dir).as_posix(), url)
    lectures = sorted(p.name for p in (out_dir / "lectures").glob("*.ipynb"))
    (out_dir / "README.md").write_text(
        student_readme(url, lectures, names, _project_version(course)), encoding="utf-8")
    leaks = bundle_leaks(out_dir, course)
    if leaks:
        raise RuntimeError("refusing to build: the student files would leak instructor material:\n" + "\n".join(leaks))
    return out_dir


def student_bundle(course=ROOT, out_dir=None, log=print) -> Path:
    """Write the student tree (:func:`student_tree`) into ``out_dir`` and zip it beside it."""
    out_dir = student_tree(course, out_dir)
    archive = out_dir.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(out_dir.rglob("*")):
            if path.is_file():
                zf.write(path, Path(out_dir.name) / path.relative_to(out_dir))
    log(f"student-bundle: {out_dir} ({sum(1 for p in out_dir.rglob('*') if p.is_file())} files) and {archive.name}")
    return out_dir


LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME")
_REGION = re.compile(r"#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)|=+\s*(BEGIN|END) MARK SCHEME")
TEXT_SUFFIXES = {".ipynb", ".py", ".md", ".txt", ".json", ".toml", ".yml", ".yaml", ".cfg", ".html"}
MIN_SECRET = 30  # shorter lines (`return x`, `x = np.asarray(x)`) are shared idioms, not secrets


def secret_lines(course=ROOT) -> set[str]:
    """Lines of the masters in ``solutions/`` that students must never see: the solution regions
    and model answers, and the hidden tests, at least :data:`MIN_SECRET` characters long (stripped).

    A line the master also shows outside those regions is not secret, and neither is a hidden-test
    line that is ``source_lib``'s own code (a test may compute its reference the way the library
    does); a solution line in ``source_lib`` is a leak like any other."""
    import nbformat

    regions = {"SOLUTION": set(), "HIDDEN TESTS": set(), "MARK SCHEME": set()}
    public = set()
    for master in sorted(Path(course).glob("solutions/*/*.ipynb")):
        for cell in nbformat.read(master, as_version=4).cells:
            inside = None
            for line in cell.source.splitlines():
                match = _REGION.search(line)
                if match:
                    kind = match.group(2) or "MARK SCHEME"
                    inside = kind if "BEGIN" in match.group(0) else None
                    continue
                (regions[inside] if inside else public).add(line.strip())
    library = {line.strip() for path in Path(course).glob("source_lib/**/*.py")
               for line in path.read_text(encoding="utf-8", errors="replace").splitlines()}
    secret = regions["SOLUTION"] | regions["MARK SCHEME"] | (regions["HIDDEN TESTS"] - library)
    return {line for line in secret - public if len(line) >= MIN_SECRET}


def _text_lines(path: Path):
    """The lines of a text file; a notebook's cell sources and text outputs, one line each."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        import json

        try:
            cells = json.loads(text).get("cells", [])
        except ValueError:
            return text.splitlines()
        parts = []
        for cell in cells:
            parts.append("".join(cell.get("source", "")))
            for out in cell.get("outputs", []):
                parts.append("".join(out.get("text", "")))
                parts.append("".join(out.get("data", {}).get("text/plain", "")))
        text = "\n".join(parts)
    return text.splitlines()


def bundle_leaks(folder: Path, course=None) -> list[str]:
    """Files under ``folder`` that carry nbgrader solution/hidden-test markers, and, when the
    instructors' ``course`` directory is given, files with a line of its masters' solutions,
    hidden tests or model answers (:func:`secret_lines`)."""
    secrets = secret_lines(course) if course is not None else set()
    leaks = []
    for path in sorted(Path(folder).rglob("*")):
        if ".git" in path.relative_to(folder).parts or not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks += [f"{path}: contains '{m}'" for m in LEAK_MARKERS if m in text]
        if secrets:
            found = sorted({line.strip() for line in _text_lines(path)} & secrets)
            leaks += [f"{path}: contains a line of a master's solution or hidden tests: {line!r}" for line in found[:3]]
    return leaks


def __getattr__(name):  # STUDENT_README: the default README, computed when first asked for
    if name == "STUDENT_README":
        return _default_readme()
    raise AttributeError(name)
