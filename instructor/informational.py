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
* every code cell of the submission but the master's own says what it reads and binds
  (:func:`facts`: it parses, IPython syntax included, with no ``globals()``, ``exec``,
  ``sys.modules``, ``import __main__``, magic (but ``%matplotlib inline`` and the other display
  settings of :data:`DISPLAY_MAGICS`), star import or IPython history ``_15``...);
* nothing that runs after it may read what it changes: the names it binds and the state that
  the student's functions it calls keep (a counter, a cache, a mutable default, a function
  attribute, a wrapper: anything but imports, constants, and undecorated functions with
  constant defaults), and the stdlib's ``random``, whose generator ``import tensorflow``
  draws from. A later cell, of the submission or of the master (the trusted grader runs the
  master's tests, hidden ones included, where the student put them), may read what it
  references or deletes and, again and again, all that the cells binding those names read,
  their functions included (a helper defined early and called late, an object made early
  from a class that reads the name).

Not followed: other modules' state (ps3's comparison, measured, leaves NumPy's generator,
matplotlib, ``np.geterr`` and ``x_train`` as they were), the code of the student's own modules,
the state of a function it hands on (``sorted(key=f)``) rather than calls, and changes to its
arguments (a ``backprop_speeds`` that changes its ``x`` has done so in every earlier call).

The skipped cell gets one stdout line that says so (the feedback page shows it). In the
student's own kernel nothing changes. ``c.RobustExecute.skip_informational = False`` runs every
cell.

Reference: https://nbformat.readthedocs.io/en/latest/format_description.html#cell-metadata (``tags``)
"""

from __future__ import annotations

import ast
import os
import re
import symtable
from functools import lru_cache
from typing import NamedTuple

from nbformat.notebooknode import NotebookNode

#: The cell tag that marks a read-only cell as informational (not needed for grading).
TAG = "informational"
#: Names, attributes and modules through which code reaches variables it does not name.
DYNAMIC = frozenset({"globals", "locals", "vars", "dir", "eval", "exec", "setattr", "delattr", "__import__",
                     "import_module", "get_ipython", "user_ns", "__builtins__", "builtins", "__main__", "__dict__",
                     "__globals__", "modules", "_getframe", "currentframe", "f_globals", "f_locals", "_ih", "_oh",
                     "In", "Out"})
#: IPython's history (``_``, ``_i``, ``_15``, ``_i15``...): a left-out cell takes no execution
#: count, so what these name shifts.
HISTORY = re.compile(r"_{1,3}|_i{1,3}|_i?\d+|_[ido]h")
NOTE = ("[not run by the grader: a read-only, informational cell that no graded cell depends on. "
        "Run it in your notebook to see its output.]\n")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _python(source: str) -> str:
    """``source`` with IPython syntax (magics, ``!cmd``) turned into the Python IPython runs."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


#: Line magics that only configure the display or module reloading, with what their argument must
#: be: they read and bind no name of the notebook (``%pylab`` binds hundreds: not one of them).
#: The commonest is ``%matplotlib inline``, a habit many students bring from older notebooks.
DISPLAY_MAGICS = {"matplotlib": re.compile(r"\s*[\w-]*\s*"), "config": re.compile(r"\s*InlineBackend\.\w+\s*=\s*[\w'\".]*\s*"),
                  "load_ext": re.compile(r"\s*autoreload\s*"), "autoreload": re.compile(r"\s*[0-3]?\s*"),
                  "precision": re.compile(r"\s*\d{0,2}\s*")}


def _without_display_magics(tree: ast.Module) -> bool:
    """Replace each statement ``get_ipython().run_line_magic(name, arg)`` of a :data:`DISPLAY_MAGICS`
    magic with a valid argument by ``pass``, in place; whether any was."""
    found = False
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if not isinstance(statements, list):
                continue
            for i, stmt in enumerate(statements):
                call = stmt.value if isinstance(stmt, ast.Expr) else None
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "run_line_magic" and isinstance(call.func.value, ast.Call)
                        and isinstance(call.func.value.func, ast.Name) and call.func.value.func.id == "get_ipython"
                        and not call.func.value.args and not call.keywords and len(call.args) == 2
                        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)
                        and call.args[0].value in DISPLAY_MAGICS
                        and DISPLAY_MAGICS[call.args[0].value].fullmatch(call.args[1].value)):
                    statements[i] = ast.copy_location(ast.Pass(), stmt)
                    found = True
    return found


class Facts(NamedTuple):
    """What a cell's code may do with the notebook's global names (:func:`facts`)."""

    reads: frozenset  #: what its top level references or deletes, and ``deferred``
    deferred: frozenset  #: the globals its functions, classes, lambdas, comprehensions use or assign
    binds: frozenset  #: the globals it binds, or changes: the ``x`` of ``x.a = 1``, ``x[i] = 1``
    plain: frozenset  #: those it binds only to something stateless: an import, a plain def (``_plain``)
    calls: frozenset  #: the root name of everything it calls: ``f`` of ``f(x)``, ``a.b.c()``, ``f(x)(y)``
    shared: frozenset  #: those it binds to the stdlib's global generator (``import random``): imports draw from it


@lru_cache(maxsize=4096)
def facts(source: str) -> Facts | None:
    """What the cell ``source`` reads, binds and calls (:class:`Facts`), or ``None`` if it
    cannot be parsed, star-imports, reaches names out of sight (a name, attribute or imported
    module in :data:`DYNAMIC`; magics become ``get_ipython()``, but for the display settings of
    :data:`DISPLAY_MAGICS`) or reads :data:`HISTORY`.

    Reference: https://docs.python.org/3/library/symtable.html
    """
    try:
        python = _python(source)
        tree = ast.parse(python)
        if _without_display_magics(tree):
            python = ast.unparse(tree)
        top = symtable.symtable(python, "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # deep nesting: the kernel fails it too
        return None
    nodes = list(ast.walk(tree))
    imports = [n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
    if any(a.name == "*" for n in imports for a in n.names):
        return None
    touched = {n.id for n in nodes if isinstance(n, ast.Name)} | {n.attr for n in nodes if isinstance(n, ast.Attribute)}
    touched |= {part for n in imports for a in n.names for part in f"{getattr(n, 'module', '')}.{a.name}".split(".")}
    inner, todo = set(), list(top.get_children())
    while todo:
        table = todo.pop()
        todo.extend(table.get_children())
        inner |= {s for s in table.get_symbols() if s.is_global() and (s.is_referenced() or s.is_assigned())}
    deferred = {s.get_name() for s in inner}
    reads = {s.get_name() for s in top.get_symbols() if s.is_referenced()} | deferred
    reads |= {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Del)}  # del reads the name
    if touched & DYNAMIC or any(HISTORY.fullmatch(name) for name in reads):
        return None
    changed = reads & {_root(n) for n in nodes if isinstance(n, (ast.Attribute, ast.Subscript))
                       and not isinstance(n.ctx, ast.Load)}
    binds = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    binds |= {s.get_name() for s in inner if s.is_assigned()} | changed  # global x; x = ...
    calls = {_root(n) for n in nodes if isinstance(n, ast.Call)} - {None}
    shared = {(a.asname or a.name).split(".")[0] for n in imports for a in n.names
              if (getattr(n, "module", None) or a.name).split(".")[0] == "random"}
    return Facts(*map(frozenset, (reads, deferred, binds, _plain(tree) - changed, calls, shared)))


def _root(node) -> str | None:
    """The name at the root of ``a.b[c](d).e``, or ``None`` (``"".join``, ``(lambda: f)()``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _plain(tree) -> set:
    """The names ``tree`` binds only to things without state of their own: by top-level
    imports, ``name = constant``, and undecorated defs and ``name = lambda`` with constant defaults."""
    plain, sites = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            plain.update((a.asname or a.name).split(".")[0] for a in node.names)
            continue
        one = isinstance(node, ast.Assign) and len(node.targets) == 1
        site, value = (node.targets[0], node.value) if one else (node, node)
        if isinstance(site, (ast.Name, *_DEFS)) and (isinstance(value, ast.Constant) or isinstance(
                value, (ast.Lambda, *_DEFS)) and not getattr(value, "decorator_list", None) and all(
                d is None or isinstance(d, ast.Constant) for d in value.args.defaults + value.args.kw_defaults)):
            plain.add(getattr(site, "id", None) or site.name)
            sites.add(site)
    others = {getattr(n, "id", None) or n.name for n in ast.walk(tree) if n not in sites and (isinstance(
        n, (ast.ClassDef, *_DEFS)) or isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load))}
    return plain - others  # bound elsewhere too, to anything


def _closure(names, uses: dict) -> set:
    """``names`` and, again and again, ``uses[name]`` of each name found."""
    seen, todo = set(names), list(names)
    while todo:
        for name in uses.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


_MASTERS: dict = {}  # path -> (mtime_ns, tagged_cells(path))


def tagged_cells(path: str) -> tuple[dict, list, dict]:
    """``({grade_id: (source, index)}, [code cell sources], {grade_id: source})`` of the master
    notebook at ``path``: its read-only, ungraded, non-solution cells tagged :data:`TAG`
    (``index``: the position of the cell among the master's code cells), all its code cells, and
    its grade cells; read once per process (again when the file changes)."""
    import nbformat

    mtime = os.stat(path).st_mtime_ns
    cached = _MASTERS.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    tagged, code, graded = {}, [], {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        if (TAG in cell.get("metadata", {}).get("tags", []) and meta.get("locked") and meta.get("grade_id")
                and not meta.get("grade") and not meta.get("solution")):
            tagged[meta["grade_id"]] = (cell.source, len(code))
        if meta.get("grade") and meta.get("grade_id"):
            graded[meta["grade_id"]] = cell.source
        code.append(cell.source)
    _MASTERS[path] = (mtime, (tagged, code, graded))
    return tagged, code, graded


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
        tagged, master_code, graded = tagged_cells(master_path)
    except (OSError, ValueError):
        return None
    if gid not in tagged or cell.source != tagged[gid][0]:
        return None
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    found = [facts(source) for source in cells]
    if any(f is None and source not in master_code for f, source in zip(found, cells)):
        return None  # it, or a student's cell, binds names out of sight (%run, exec, globals()...)
    uses, feeds, state = {}, {}, set()  # name -> what the cells binding it use in functions, read at all
    for f in filter(None, found):
        for name in f.binds:
            uses.setdefault(name, set()).update(f.deferred)
            feeds.setdefault(name, set()).update(f.reads)  # t = Tracker(): t.report() runs Tracker's code
        state |= f.binds - f.plain  # names that may hold state
    own = facts(cell.source)
    if own is None:
        return None
    # what it calls, and the functions it hands on (sorted(key=f)), may change state they use
    changed = own.binds | (state & (_closure(own.calls, uses) | _closure(own.reads, uses) - own.reads))
    changed |= set().union(*(f.shared for f in found if f))  # importing TensorFlow draws from random's generator
    later = [c.source for c in nb.cells[index + 1:] if c.cell_type == "code"]
    later += master_code[tagged[gid][1] + 1:]  # the grader runs the master's tests, hidden ones too...
    moved = {_meta(c).get("grade_id") for c in nb.cells[index + 1:]}
    later += [source for g, source in graded.items() if g in moved]  # ...wherever the student put them
    reads = [facts(source) for source in later]
    if None in reads or changed & _closure(set().union(*(f.reads for f in reads)), feeds):
        return None
    return f"informational cell {gid!r}: no later cell reads {', '.join(sorted(changed)) or 'anything it changes'}"


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
