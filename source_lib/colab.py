"""Colab support: the setup cell and the "Open in Colab" badge of every notebook.

API (all that other tools need)::

    from source_lib import colab

    colab.stamp("lectures/01_activation_functions.ipynb")   # write/refresh both cells in place
    colab.stamp("/tmp/x.ipynb", relative_path="assignments/ps1/x.ipynb")  # badge path given explicitly
    colab.stamp_all(["a.ipynb", "b.ipynb"])                  # the same for several notebooks
    colab.check("a.ipynb")          # -> list of problems (empty when the cells are current)
    colab.setup_cell_source()       # the setup cell's code, as a string
    colab.badge_markdown("lectures/01_activation_functions.ipynb")  # badge for a notebook / README
    colab.repository_url()          # the repo URL, read from pyproject.toml
    colab.student_repository_url()  # the student repository's URL ([tool.course] in pyproject.toml)
    colab.stamp_student("/tmp/s/lectures/01.ipynb", relative_path="lectures/01.ipynb")  # a student copy

Command line::

    python -m source_lib.colab stamp  NOTEBOOK...   # write/refresh the cells
    python -m source_lib.colab check  NOTEBOOK...   # exit 1 and list notebooks that are stale
    python -m source_lib.colab badge  NOTEBOOK...   # print the badge markdown (e.g. for README)

What ``stamp`` does to a notebook:

* cell 0 becomes the **setup cell** (code, id ``colab-setup``, tag ``colab-setup``). It does
  nothing locally or on JupyterHub (where ``source_lib`` is installed with the repository,
  ``pip install -e .``); on Colab (detected by ``"google.colab" in sys.modules``) it
  ``pip install``s ``source_lib`` from the repository.
* cell 1 becomes the **badge cell** (markdown, id ``colab-badge``, tag ``colab-badge``), the
  "Open in Colab" badge pointing at this notebook's path on the repository's ``main`` branch.
  An nbgrader master in ``solutions/`` gets the badge of its release in ``assignments/``
  (nbgrader copies the cell into the student version, where it must point at itself).

Existing cells with those tags (or ids) are replaced wherever they are; every other cell,
its outputs and the notebook's metadata are left alone, so stamping twice changes nothing.

The repository URL is written in exactly one place, ``[project.urls].Repository`` in
``pyproject.toml``; this module reads it from there.

**Student copies.** The masters above point at the instructors' repository, which is private.
What students open comes from the *student repository* (``student_repository`` under
``[tool.course]`` in ``pyproject.toml``; ``python -m instructor student-repo`` builds it), and
:func:`stamp_student` gives each copy there its own cells: a setup cell that installs
``source_lib`` wherever it is missing (from the student repository, from the URL in the
``SOURCE_LIB_REPOSITORY`` environment variable, or from a ``source_lib-*.whl`` next to the
notebook) and says in one paragraph what to do when that fails, a badge that opens the copy from
the student repository, and links that keep working when the notebook is opened alone. It imports nothing heavy (no
TensorFlow) beyond ``nbformat``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SETUP_TAG = "colab-setup"
BADGE_TAG = "colab-badge"
BRANCH = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
SOURCE_DIR, RELEASE_DIR = "solutions", "assignments"  # nbgrader's source and release directories

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"

SETUP_TEMPLATE = '''\
# Setup cell. Locally and on JupyterHub it does nothing: source_lib is installed with the repository.
# On Google Colab it installs source_lib (and its dependencies) from the course repository.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "{pip_target}"])'''


def repository_url(pyproject: str | Path = PYPROJECT) -> str:
    """Return ``[project.urls].Repository`` from ``pyproject.toml``, without a trailing ``/`` or ``.git``."""
    text = Path(pyproject).read_text(encoding="utf-8")
    try:
        import tomllib

        url = tomllib.loads(text)["project"]["urls"]["Repository"]
    except ModuleNotFoundError:  # Python 3.10: a small, strict regex over the [project.urls] table
        table = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        match = table and re.search(r'^\s*Repository\s*=\s*"([^"]+)"', table.group(1), re.M)
        if not match:
            raise KeyError(f"no [project.urls].Repository in {pyproject}")
        url = match.group(1)
    url = url.strip().rstrip("/")
    return url[:-4] if url.endswith(".git") else url


def pip_target(url: str | None = None) -> str:
    """The requirement ``pip install`` gets on Colab: ``source_lib @ git+<repository URL>``."""
    return f"source_lib @ git+{url or repository_url()}"


def setup_cell_source(url: str | None = None) -> str:
    """The setup cell's source code (a no-op unless ``google.colab`` is imported)."""
    return SETUP_TEMPLATE.format(pip_target=pip_target(url))


def _repo_relative(notebook: str | Path) -> str:
    """The path the badge opens: the notebook's path in the repository, except that an
    nbgrader master ``solutions/<ps>/<nb>.ipynb`` points at its student release
    ``assignments/<ps>/<nb>.ipynb`` (nbgrader copies the badge cell into the release)."""
    path = Path(notebook).resolve()
    try:
        rel = path.relative_to(ROOT).as_posix()
    except ValueError:
        raise ValueError(f"notebook {notebook!s} is not inside the repository {ROOT}; pass relative_path") from None
    if rel.startswith(SOURCE_DIR + "/"):
        rel = RELEASE_DIR + rel[len(SOURCE_DIR):]
    return rel


def colab_url(notebook: str | Path, url: str | None = None, branch: str = BRANCH,
              relative_path: str | None = None) -> str:
    """The colab.research.google.com address that opens ``notebook`` from GitHub.

    ``relative_path`` (a path inside the repository, with ``/``) overrides the one computed
    from ``notebook``, e.g. for a notebook that is written elsewhere and committed later.
    """
    repo = url or repository_url()
    match = re.fullmatch(r"https?://github\.com/([^/]+)/([^/]+)", repo)
    if not match:
        raise ValueError(f"repository URL {repo!r} is not a https://github.com/OWNER/NAME address")
    owner, name = match.groups()
    path = relative_path if relative_path is not None else _repo_relative(notebook)
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{path}"


def badge_markdown(notebook: str | Path, url: str | None = None, relative_path: str | None = None) -> str:
    """Markdown for the "Open in Colab" badge of ``notebook`` (a path inside the repository)."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook, url, relative_path=relative_path)})"


def _cell_index(cells, tag: str) -> int | None:
    for i, cell in enumerate(cells):
        if tag in cell.get("metadata", {}).get("tags", []) or cell.get("id") == tag:
            return i
    return None


def _make_cells(notebook: str | Path, url: str | None, relative_path: str | None = None):
    import nbformat

    setup = nbformat.v4.new_code_cell(setup_cell_source(url), metadata={"tags": [SETUP_TAG]})
    setup["id"] = SETUP_TAG
    badge = nbformat.v4.new_markdown_cell(badge_markdown(notebook, url, relative_path), metadata={"tags": [BADGE_TAG]})
    badge["id"] = BADGE_TAG
    return setup, badge


def stamp(notebook: str | Path, url: str | None = None, relative_path: str | None = None) -> bool:
    """Write or refresh the setup cell (cell 0) and the badge cell (cell 1) of ``notebook``.

    Args:
        notebook: the ``.ipynb`` file, changed in place.
        url: the repository URL (default: ``repository_url()``, from pyproject.toml).
        relative_path: the notebook's path inside the repository for the badge (default:
            computed from ``notebook``, which must then lie inside the repository).

    Returns True when the file changed. Other cells are not touched.
    """
    import nbformat

    path = Path(notebook)
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    setup, badge = _make_cells(path, url, relative_path)
    cells = [c for c in nb.cells if _cell_index([c], SETUP_TAG) is None and _cell_index([c], BADGE_TAG) is None]
    i = _cell_index(nb.cells, SETUP_TAG)
    old_setup = nb.cells[i] if i is not None else None
    if old_setup is not None and old_setup.get("source") == setup["source"]:
        setup = old_setup  # keep its outputs/execution count if the notebook was run
        setup["id"], setup["metadata"]["tags"] = SETUP_TAG, [SETUP_TAG]
    nb.cells = [setup, badge] + cells
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    after = nbformat.writes(nb)
    if after == before:
        return False
    nbformat.validate(nb)
    path.write_text(after + ("\n" if not after.endswith("\n") else ""), encoding="utf-8")
    return True


COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/([^\s)]+)")


def stamp_markdown(path: str | Path, url: str | None = None) -> bool:
    """Point every "Open in Colab" link of a markdown file (the README) at ``url``'s repository,
    keeping each link's notebook path; return True if the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = COLAB_LINK.sub(lambda m: colab_url(m.group(1), url, relative_path=m.group(1)), text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def stamp_all(notebooks, url: str | None = None) -> list[Path]:
    """:func:`stamp` each notebook; return the ones that changed."""
    return [Path(nb) for nb in notebooks if stamp(nb, url)]


def check(notebook: str | Path, url: str | None = None, relative_path: str | None = None) -> list[str]:
    """Problems with ``notebook``'s setup and badge cells (empty list: they match this module)."""
    import nbformat

    nb = nbformat.read(Path(notebook), as_version=4)
    setup, badge = _make_cells(notebook, url, relative_path)
    problems = []
    for index, want, tag in ((0, setup, SETUP_TAG), (1, badge, BADGE_TAG)):
        if len(nb.cells) <= index:
            problems.append(f"{notebook}: missing cell {index} ({tag})")
            continue
        got = nb.cells[index]
        if got.cell_type != want.cell_type or tag not in got.get("metadata", {}).get("tags", []):
            problems.append(f"{notebook}: cell {index} is not the {tag} cell")
        elif got.source != want.source:
            problems.append(f"{notebook}: cell {index} ({tag}) differs from source_lib.colab's; run stamp")
    return problems


# --- student copies ---------------------------------------------------------------------------

URL_ENV = "SOURCE_LIB_REPOSITORY"  # overrides the student repository's URL in the setup cell
WHEEL_GLOB = "source_lib-*.whl"    # a wheel next to the notebook is installed instead

STUDENT_SETUP_TEMPLATE = """\
# Setup cell: installs source_lib, the course library, where it is missing (Google Colab), and
# does nothing where it is installed (your clone of the student repository, JupyterHub).
# It installs from: the git URL in the environment variable {env} if that is set,
# else a {wheel} file uploaded next to this notebook, else the student repository.
import glob, importlib, importlib.util, os, subprocess, sys

if importlib.util.find_spec("source_lib") is None:
    _url = os.environ.get("{env}", "").strip() or "{url}"
    _wheels = sorted(glob.glob("{wheel}"))
    _target = _wheels[-1] if _wheels and not os.environ.get("{env}") else "source_lib @ git+" + _url
    try:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", _target])
    except subprocess.CalledProcessError:
        raise RuntimeError(
            f"Could not install source_lib, the library every notebook of this course imports: "
            f"`pip install {{_target}}` failed (pip's own message is above). Check that {{_url}} opens in "
            f"a browser and that this runtime is online (or set {env} to a git URL that works). "
            f"Or download the course's {wheel} file (the student repository's Releases page, or ask "
            f"your instructor), upload it next to this notebook (Colab: the folder icon on the left) "
            f"and run this cell again."
        ) from None
    importlib.invalidate_caches()"""


def student_repository_url(pyproject: str | Path = PYPROJECT) -> str:
    """Return ``student_repository`` from ``[tool.course]`` in ``pyproject.toml``, without a
    trailing ``/`` or ``.git``: the public repository students clone and Colab opens."""
    import tomllib

    table = tomllib.loads(Path(pyproject).read_text(encoding="utf-8")).get("tool", {}).get("course", {})
    if "student_repository" not in table:
        raise KeyError(f"no student_repository under [tool.course] in {pyproject}")
    url = table["student_repository"].strip().rstrip("/")
    return url[:-4] if url.endswith(".git") else url


def student_setup_cell_source(url: str | None = None) -> str:
    """The setup cell of a student copy (see :data:`STUDENT_SETUP_TEMPLATE`).

    Args:
        url: the student repository (default: :func:`student_repository_url`).

    Returns:
        The cell's code: a no-op where ``source_lib`` imports, else ``pip install`` from the
        URL in ``SOURCE_LIB_REPOSITORY``, a ``source_lib-*.whl`` in the working directory, or
        ``url``; a failed install raises one paragraph saying what failed and what to do.
    """
    return STUDENT_SETUP_TEMPLATE.format(url=url or student_repository_url(), env=URL_ENV, wheel=WHEEL_GLOB)


MARKDOWN_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def student_link(target: str, url: str, here: str) -> str:
    """Where a markdown link of the student copy ``here`` (a path in the student repository)
    should point: Colab links and relative ``.ipynb`` links open the notebook from ``url`` on
    Colab, other relative links the file on GitHub; absolute links and anchors stay."""
    match = COLAB_LINK.fullmatch(target)
    if match:
        return colab_url(match.group(1), url, relative_path=match.group(1))
    if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.I):
        return target
    path, _, anchor = target.partition("#")
    parts = []
    for part in (Path(here).parent / path).as_posix().split("/"):
        if part == "..":
            if not parts:
                return target  # points outside the repository: leave it
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    resolved = "/".join(parts) + (f"#{anchor}" if anchor else "")
    if path.endswith(".ipynb"):
        return colab_url(resolved, url, relative_path=resolved)
    return f"{url}/blob/{BRANCH}/{resolved}"


def stamp_student(notebook: str | Path, relative_path: str, url: str | None = None) -> None:
    """Make ``notebook`` (a copy, changed in place) the student repository's version of itself.

    Args:
        notebook: the ``.ipynb`` file of the copy.
        relative_path: its path inside the student repository, with ``/``.
        url: the student repository (default: :func:`student_repository_url`).

    Cell 0 becomes the student setup cell, cell 1 the badge opening ``relative_path`` from
    ``url``, and every markdown link is rewritten by :func:`student_link`.
    """
    import nbformat

    url = url or student_repository_url()
    path = Path(notebook)
    nb = nbformat.read(path, as_version=4)
    setup = nbformat.v4.new_code_cell(student_setup_cell_source(url), metadata={"tags": [SETUP_TAG]})
    setup["id"] = SETUP_TAG
    badge = nbformat.v4.new_markdown_cell(badge_markdown(path, url, relative_path), metadata={"tags": [BADGE_TAG]})
    badge["id"] = BADGE_TAG
    keep = {"nbgrader"}  # a release's cells keep nbgrader's metadata (checksums cover the source only)
    for tag, cell in ((SETUP_TAG, setup), (BADGE_TAG, badge)):
        i = _cell_index(nb.cells, tag)
        if i is not None:
            cell["metadata"].update({k: v for k, v in nb.cells[i].metadata.items() if k in keep})
    cells = [c for c in nb.cells if _cell_index([c], SETUP_TAG) is None and _cell_index([c], BADGE_TAG) is None]
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = MARKDOWN_LINK.sub(lambda m: m.group(1) + student_link(m.group(2), url, relative_path)
                                            + m.group(3), cell.source)
    nb.cells = [setup, badge] + cells
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m source_lib.colab {stamp|check|badge} NOTEBOOK... (stamp also takes README.md)"
    if len(argv) < 2 or argv[0] not in {"stamp", "check", "badge"}:
        print(usage, file=sys.stderr)
        return 2
    command, notebooks = argv[0], argv[1:]
    if command == "stamp":  # notebooks, and markdown files whose Colab links follow the URL
        for nb in notebooks:
            changed = stamp_markdown(nb) if str(nb).endswith(".md") else stamp(nb)
            print(f"{'stamped' if changed else 'up to date'}: {nb}")
        return 0
    if command == "badge":
        for nb in notebooks:
            print(badge_markdown(nb))
        return 0
    problems = [p for nb in notebooks for p in check(nb)]
    print("\n".join(problems) if problems else f"{len(notebooks)} notebook(s) up to date")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
