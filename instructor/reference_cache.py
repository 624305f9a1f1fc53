"""The hidden tests' references, computed once per assignment and loaded by every grading process.

The hidden tests ask ``source_lib.references.reference`` for their TensorFlow references, with
inputs that are the same for every submission. :func:`ensure` (autograde calls it before it fans
out) runs the master notebook's code once in this process, its solutions and its tests, hidden
ones included, with nothing but the master's own functions; every reference the tests ask for is
remembered and saved to ``autograded/.course/references/<assignment>.json`` (instructors only,
like the grading notes). :func:`load` puts them back in a grading process. A grading process
whose references all come from the file never imports TensorFlow; one a submission needs with
other inputs (ps3 grades the tables on the student's own networks) is computed there, as before.

The file is used only while the master notebooks, Python, NumPy, TensorFlow, Keras and
``source_lib``'s code are the ones it was made with (``source_lib.references.versions``);
otherwise :func:`ensure` makes it again. Its values are the hidden tests' expected answers: it
must never reach a student (the student repository and bundles never include ``autograded/``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
import warnings
from pathlib import Path

from .coursedir import NOTES_DIR

_LOADED: dict = {}  # path -> (mtime_ns, size) of the file this process loaded last


def path(course, name: str) -> Path:
    """Where assignment ``name``'s references are kept."""
    return Path(course) / NOTES_DIR / "references" / f"{name}.json"


def _masters(course, name: str) -> list[Path]:
    return sorted((Path(course) / "solutions" / name).glob("*.ipynb"))


def about(course, name: str) -> dict:
    """What the file depends on besides the versions: the master notebooks' contents."""
    return {"masters": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _masters(course, name)}}


def load(course, name: str) -> int | None:
    """Remember the references of assignment ``name`` in this process, once per change of the
    file; how many were loaded (0: loaded already; None: no current file)."""
    from source_lib import references

    file = path(course, name)
    try:
        stat = file.stat()
    except OSError:
        return None
    stamp = (stat.st_mtime_ns, stat.st_size)
    if _LOADED.get(file) == stamp:
        return 0
    loaded = references.load(file, about(course, name))
    if loaded is not None:
        _LOADED[file] = stamp
    return loaded


def ensure(course, name: str, log=print) -> Path | None:
    """Make assignment ``name``'s reference file unless a current one exists, and load it here;
    its path (None: the assignment has no master here). Making it costs one run of the master's
    code in this process (seconds, TensorFlow's import included)."""
    from source_lib import references

    if not _masters(course, name):
        return None
    file = path(course, name)
    if load(course, name) is not None:
        return file
    before, start = references.stats(), time.perf_counter()
    for master in _masters(course, name):
        for failure in _run(master):
            log(f"references: {failure}; its references will be computed when grading")
    after = references.stats()
    # the master's own work: its run, less the references computed in it (TensorFlow's import too)
    own = max(time.perf_counter() - start - (after["seconds"] - before["seconds"]), 0.0)
    references.save(file, about(course, name), notes={"master_seconds": round(own, 3)})
    load(course, name)
    log(f"references: {after['misses'] - before['misses']} computed for {name} from its master")
    return file


def master_seconds(course, name: str) -> float | None:
    """How long assignment ``name``'s master code ran when its current reference file was made,
    the computing of its references left out: what the notebook's own work costs, by which
    autograde hands out the longest tasks first (None: no current file)."""
    from source_lib import references

    value = (references.notes(path(course, name), about(course, name)) or {}).get("master_seconds")
    return float(value) if isinstance(value, (int, float)) else None


def _run(master: Path) -> list[str]:
    """Run the master notebook's code cells in one namespace of this process (quietly, in its
    folder, figures on Agg); a cell that fails does not stop the next. What failed."""
    import matplotlib
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    from .informational import TAG

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nb = nbformat.read(master, as_version=4)
    namespace, failed = {"__name__": "__main__"}, []
    here = os.getcwd()
    try:
        os.chdir(master.parent)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for cell in nb.cells:
                if cell.cell_type != "code" or TAG in cell.get("metadata", {}).get("tags", []):
                    continue  # informational cells compute no reference (the grader leaves them out)
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "?")
                try:
                    exec(compile(TransformerManager().transform_cell(cell.source), f"<master {gid}>", "exec"),
                         namespace)
                    _flush_figures(plt)
                except Exception as exc:  # noqa: BLE001  (its references are computed when grading instead)
                    failed.append(f"the master's cell {gid} of {master.name} failed here ({type(exc).__name__}: {exc})")
                    plt.close("all")
    finally:
        os.chdir(here)
        plt.close("all")
    return failed


def _flush_figures(plt) -> None:
    """What a kernel's inline backend does after each cell: draw every open figure as a PNG, then
    close it (so the master's run costs what the notebook costs, its figures included)."""
    for number in plt.get_fignums():
        plt.figure(number).savefig(io.BytesIO(), format="png", bbox_inches="tight")
    plt.close("all")
