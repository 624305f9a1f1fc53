"""Read-only cells the grader does not run: the master's cells tagged ``informational``.

Some read-only cells only show the student something: ps3's ``keras_comparison`` prints the
student's ``backprop_speeds`` beside TensorFlow's autodiff on the same network. It is the only
cell of ps3 that needs TensorFlow, and importing TensorFlow in the grading kernel costs ~5
CPU-seconds per submission (a class of 500: 40 CPU-minutes) for an output nobody grades.

The instructor opts a cell in by giving it the cell tag :data:`TAG` in the master notebook
(``solutions/``). :func:`skip_reason` then lets the grader leave it out of the grading run when
all of these hold:

* the master's cell is read-only (locked), not graded and not a solution cell;
* the submission's cell with the same ``grade_id`` has exactly the master's source (nbgrader's
  ``OverwriteCells`` has put it back already; a student's copy elsewhere is still run);
* nothing that runs after it reads a name it binds: every later code cell of the submission
  and of the master (the trusted grader runs the master's tests, hidden ones included) is
  parsed, IPython syntax included, and every global name it may read counts (at top level,
  and inside its functions, classes and comprehensions). A later cell that cannot be parsed, or that reaches names dynamically (``globals``,
  ``eval``, ``exec``, ``vars``, ``sys.modules``, ``get_ipython`` and the magics that become it,
  ...), keeps the cell running.

The skipped cell gets one stdout line that says so (the feedback page shows it). In the
student's own kernel nothing changes. ``c.RobustExecute.skip_informational = False`` runs every
cell.

Reference: https://nbformat.readthedocs.io/en/latest/format_description.html#cell-metadata (``tags``)
"""

from __future__ import annotations

import ast
import os
import symtable
from functools import lru_cache

from nbformat.notebooknode import NotebookNode

#: The cell tag that marks a read-only cell as informational (not needed for grading).
TAG = "informational"
#: Builtins and IPython names through which code reads variables it does not name.
DYNAMIC = frozenset({"globals", "locals", "vars", "eval", "exec", "__import__", "get_ipython", "__builtins__",
                     "__dict__", "modules", "_ih", "_oh", "In", "Out"})
NOTE = ("[not run by the grader: a read-only, informational cell that no graded cell depends on. "
        "Run it in your notebook to see its output.]\n")


def _python(source: str) -> str:
    """``source`` with IPython syntax (magics, ``!cmd``) turned into the Python IPython runs."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def bound_names(source: str) -> frozenset[str] | None:
    """The names a cell binds at top level (assignments, imports, defs, loop targets), or
    ``None`` if it cannot be parsed."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


@lru_cache(maxsize=4096)
def read_names(source: str) -> frozenset[str] | None:
    """The global names a cell may read: every name its top level references (even one it also
    assigns: it may read it first) and every global a function, class or comprehension in it
    references; ``None`` if the cell cannot be parsed or reaches names dynamically (a name or
    attribute in :data:`DYNAMIC`, e.g. ``globals()``, ``sys.modules``).

    Reference: https://docs.python.org/3/library/symtable.html
    """
    try:
        python = _python(source)
        tree = ast.parse(python)
        top = symtable.symtable(python, "<cell>", "exec")
    except (SyntaxError, ValueError):
        return None
    touched = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    touched |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    if touched & DYNAMIC:
        return None
    names, todo = {s.get_name() for s in top.get_symbols() if s.is_referenced()}, list(top.get_children())
    while todo:
        table = todo.pop()
        todo.extend(table.get_children())
        names |= {s.get_name() for s in table.get_symbols() if s.is_referenced() and s.is_global()}
    return frozenset(names)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


_MASTERS: dict = {}  # path -> (mtime_ns, {grade_id: (source, bound names)}, [code sources in order])


def tagged_cells(path: str) -> tuple[dict, list]:
    """``({grade_id: (source, index)}, [code cell sources])`` of the master notebook at ``path``:
    its read-only, ungraded, non-solution cells tagged :data:`TAG` (``index``: the position
    of the cell among the master's code cells), read once per process (again when the file
    changes)."""
    import nbformat

    mtime = os.stat(path).st_mtime_ns
    cached = _MASTERS.get(path)
    if cached and cached[0] == mtime:
        return cached[1], cached[2]
    tagged, code = {}, []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        if (TAG in cell.get("metadata", {}).get("tags", []) and meta.get("locked") and meta.get("grade_id")
                and not meta.get("grade") and not meta.get("solution")):
            tagged[meta["grade_id"]] = (cell.source, len(code))
        code.append(cell.source)
    _MASTERS[path] = (mtime, tagged, code)
    return tagged, code


def skip_reason(nb, index: int, master_path: str | None) -> str | None:
    """Why the grader may leave out cell ``index`` of the submission ``nb``, or ``None`` if it
    must run it (module docstring).

    Args:
        nb: the submission, after nbgrader's ``OverwriteCells``.
        index: the cell's position in ``nb.cells``.
        master_path: the master notebook (``None``: no master, run everything).
    """
    cell = nb.cells[index]
    gid = _meta(cell).get("grade_id")
    if master_path is None or cell.cell_type != "code" or not gid:
        return None
    try:
        tagged, master_code = tagged_cells(master_path)
    except (OSError, ValueError):
        return None
    if gid not in tagged or cell.source != tagged[gid][0]:
        return None
    bound = bound_names(cell.source)
    if bound is None:
        return None
    later = [c.source for c in nb.cells[index + 1:] if c.cell_type == "code"] + master_code[tagged[gid][1] + 1:]
    for source in later:
        reads = read_names(source)
        if reads is None or reads & bound:
            return None
    return f"informational cell {gid!r}: no later cell reads {', '.join(sorted(bound)) or 'anything it binds'}"


def skipped_output() -> list:
    """The outputs a skipped cell gets: one stdout line (:data:`NOTE`)."""
    return [NotebookNode(output_type="stream", name="stdout", text=NOTE)]


def master_path(config, resources) -> str | None:
    """``<course>/<source_directory>/<assignment>/<notebook>.ipynb`` for the notebook being graded
    (from nbgrader's ``resources``), or ``None`` outside ``nbgrader autograde``."""
    from nbgrader.coursedir import CourseDirectory

    info = (resources or {}).get("nbgrader", {})
    if not info.get("assignment") or not info.get("notebook"):
        return None
    coursedir = CourseDirectory(config=config)
    return os.path.join(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]),
                        f"{info['notebook']}.ipynb")
