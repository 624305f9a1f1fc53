"""Reference values for the hidden tests, computed once per process and remembered.

A hidden test compares the student's function with a reference: TensorFlow autodiff of
``source_lib.activations``, Keras's losses, a network's gradient norms. Almost every reference is
asked for with the same inputs in every submission (the test draws them from a fixed seed), so a
grader that grades 500 submissions in one process would compute the same TensorFlow values 500
times. ``reference(fn, *args, **kwargs)`` returns ``fn(*args, **kwargs)``; the first call computes
it, and later calls with an equal function and equal arguments get a copy of the remembered value::

    values, slopes = reference(activations.gradient_profile, lambda t: activations.elu(t, alpha=a), points)

Equal means: the same *fingerprint* (:func:`fingerprint`), which is built only from what decides
the value, and exists only where that is certain:

- plain data: None, bool, int, float, complex, str, and tuples, lists and dicts of them; NumPy
  arrays (numbers or bools: dtype, shape and a BLAKE2 digest of the bytes) and scalars;
- modules (the one ``sys.modules`` holds under that name), and functions and classes reachable by
  their module and qualified name;
- ``functools.partial`` of those, with plain-data arguments;
- a function defined in the test itself (a lambda, a helper): its compiled code, its defaults and
  the contents of its closure, when every global name its code (nested code included) loads is a
  module of the grader or an unshadowed builtin.

Anything else (a proxy of the student's function, an object, a global that is data) has no
fingerprint: the call is made as it is and nothing is remembered. So a reference that depends on
the student's work (ps3 grades the table on the student's own networks) is computed from that
work each time, and a value can never come from another submission's different inputs. A value
is remembered only when it is plain data (a TensorFlow tensor becomes its NumPy array), at most
:data:`MAX_VALUE_BYTES` of it, and at most :data:`MAX_ENTRIES` values (least recently used go).

The functions given must be deterministic, as references are. Nothing here imports TensorFlow.

Two more pieces let a grader hold the values without TensorFlow at all:

- ``lazy_module(name)`` stands for a module that is imported only when something of it is
  called (with ``act = lazy_module(...)`` of ``source_lib.activations``, ``act.gradient_profile``
  and a lambda over ``act.elu`` have fingerprints, and TensorFlow loads only if a value must
  be computed);
- :func:`save` writes the remembered values to a JSON file and :func:`load` puts them back,
  when the file was written by the same Python, NumPy, TensorFlow, Keras and ``source_lib``
  (its ``versions``); instructor/reference_cache.py computes them once per assignment from
  the master notebook, and every grading process loads them.
"""

from __future__ import annotations

import base64
import builtins
import copy
import dis
import functools
import hashlib
import importlib
import json
import os
import sys
import time
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["reference", "fingerprint", "lazy_module", "save", "load", "notes", "versions", "clear", "stats"]

#: The most values remembered at once (the least recently used are forgotten first).
MAX_ENTRIES = 512
#: The largest value remembered (bytes of its arrays); a larger one is computed each time.
MAX_VALUE_BYTES = 16_000_000

_MEMO: OrderedDict = OrderedDict()
_STATS = {"hits": 0, "misses": 0, "uncached": 0, "seconds": 0.0}
_LOADS_GLOBAL = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
# ``__future__`` flags in a code object's flags say how the code that compiled it was compiled
# (``compile()`` inherits its caller's ``from __future__ import annotations``; IPython's does not):
# the same test compiled by the grader and by a kernel differs only there
_FUTURE_FLAGS = functools.reduce(lambda a, b: a | b, (getattr(__import__("__future__"), f).compiler_flag
                                                       for f in __import__("__future__").all_feature_names))


class _Lazy:
    """A module, or a name inside one (``keras.losses.hinge``), imported when it is first called."""

    def __init__(self, module: str, path: tuple = ()):
        self._module, self._path = module, tuple(path)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Lazy(self._module, self._path + (name,))

    def _resolve(self):
        found = importlib.import_module(self._module)
        for part in self._path:
            found = getattr(found, part)
        return found

    def __call__(self, *args, **kwargs):
        return self._resolve()(*args, **kwargs)

    def __repr__(self):
        return f"lazy_module({self._module!r})" + "".join(f".{p}" for p in self._path)


def lazy_module(name: str) -> _Lazy:
    """The module ``name``, imported only when one of its functions or classes is called.

    ``act = lazy_module`` of ``"source_lib.activations"``, then ``reference(act.gradient_profile,
    act.elu, x)``: nothing is imported unless the value has to be computed. Only calls go
    through: read a constant of the module from the module itself.

    Args:
        name: the module's import name.
    """
    return _Lazy(name)


class _NoFingerprint(Exception):
    """The value may depend on something a fingerprint cannot see."""


def _digest(a: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(a).view(np.uint8).data, digest_size=20).hexdigest()


def _is_named(obj) -> bool:
    """Whether ``obj`` is what its module holds under its qualified name (a module-level def or class)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return False
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is obj


def _code_globals(code: types.CodeType) -> set:
    """The global names that ``code`` and the code nested in it load."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in _LOADS_GLOBAL}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_globals(const)
    return names


def _code_key(code: types.CodeType) -> tuple:
    """What decides the behaviour of ``code``: its bytecode, constants (nested code by this same
    key), names and argument layout (``marshal`` would do, but its bytes vary with reference counts)."""
    consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c)) for c in code.co_consts)
    return (code.co_code.hex(), consts, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags & ~_FUTURE_FLAGS)


def _function_key(fn: types.FunctionType, depth: int):
    for name in _code_globals(fn.__code__):
        value = fn.__globals__.get(name, _NoFingerprint)
        if value is _NoFingerprint:
            if not hasattr(builtins, name):
                raise _NoFingerprint(f"the global {name!r} is not bound yet")
        elif isinstance(value, _Lazy) and not value._path:
            continue
        elif not isinstance(value, types.ModuleType) or sys.modules.get(value.__name__) is not value:
            raise _NoFingerprint(f"the global {name!r} is not a module")
    cells = [c.cell_contents for c in fn.__closure__ or ()]
    return ("code", _code_key(fn.__code__),
            fingerprint(fn.__defaults__, depth + 1), fingerprint(fn.__kwdefaults__, depth + 1),
            fingerprint(tuple(cells), depth + 1))


def fingerprint(x, depth: int = 0):
    """A hashable key that equals another's only when the two values are interchangeable.

    Args:
        x: a value (see the module docstring for what has a fingerprint).
        depth: nesting so far (at most 50).

    Returns:
        A tuple of strings and tuples.

    Raises:
        _NoFingerprint: for anything whose behaviour a key could not capture.
    """
    if depth > 50:
        raise _NoFingerprint("nested too deeply")
    if x is None or isinstance(x, (bool, int, float, complex, str)):
        return (type(x).__name__, repr(x))
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biufc":
            raise _NoFingerprint(f"an array of dtype {x.dtype}")
        return ("array", x.dtype.str, x.shape, _digest(x))
    if isinstance(x, np.generic):
        if x.dtype.kind not in "biufc":
            raise _NoFingerprint(f"a NumPy {x.dtype}")
        return ("scalar", x.dtype.str, x.tobytes().hex())
    if type(x) in (tuple, list):
        return (type(x).__name__, tuple(fingerprint(v, depth + 1) for v in x))
    if type(x) is dict:
        return ("dict", tuple(sorted((fingerprint(k, depth + 1), fingerprint(v, depth + 1)) for k, v in x.items())))
    if isinstance(x, _Lazy):
        return ("named", x._module, ".".join(x._path)) if x._path else ("module", x._module)
    if isinstance(x, types.ModuleType):
        if sys.modules.get(x.__name__) is not x:
            raise _NoFingerprint("a module that is not the imported one")
        return ("module", x.__name__)
    if isinstance(x, functools.partial):
        return ("partial", fingerprint(x.func, depth + 1), fingerprint(x.args, depth + 1),
                fingerprint(x.keywords, depth + 1))
    if isinstance(x, (types.FunctionType, types.BuiltinFunctionType, type)) and _is_named(x):
        return ("named", x.__module__, x.__qualname__)
    if isinstance(x, types.FunctionType):
        return _function_key(x, depth)
    raise _NoFingerprint(f"a {type(x).__name__}")


def _plain(value, depth: int = 0):
    """``value`` as plain data (tensors as NumPy arrays), and the bytes of its arrays."""
    if depth > 50:
        raise _NoFingerprint("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return value, 0
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return value, value.nbytes
    if not isinstance(value, np.ndarray) and type(value).__module__.startswith("tensorflow") and hasattr(value, "numpy"):
        value = np.asarray(value.numpy())
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return value.copy(), value.nbytes
    if type(value) in (tuple, list):
        items = [_plain(v, depth + 1) for v in value]
        return type(value)(v for v, _ in items), sum(n for _, n in items)
    if type(value) is dict:
        items = {k: _plain(v, depth + 1) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, sum(n for _, n in items.values())
    raise _NoFingerprint(f"a result of type {type(value).__name__}")


def reference(fn, *args, **kwargs):
    """Return ``fn(*args, **kwargs)``, remembered by the fingerprint of the function and arguments.

    The value is computed on the first call; a later call whose fingerprint is the same gets a
    deep copy of it (so a test may change what it gets). Without a fingerprint, or for a value
    that is not plain data, the function is simply called. Exceptions are never remembered.

    Args:
        fn: a deterministic function (a reference).
        *args: its positional arguments.
        **kwargs: its keyword arguments.

    Returns:
        What ``fn`` returns; a TensorFlow tensor (alone or inside tuples, lists and dicts) comes
        back as its NumPy array when the value is remembered.

    Reference:
        https://docs.python.org/3/library/functools.html#functools.lru_cache (the same idea, keyed
        by content instead of by hash and equality).
    """
    try:
        key = fingerprint((fn, args, kwargs))
    except (_NoFingerprint, ValueError, TypeError):
        _STATS["uncached"] += 1
        return fn(*args, **kwargs)
    if key in _MEMO:
        _MEMO.move_to_end(key)
        _STATS["hits"] += 1
        return copy.deepcopy(_MEMO[key])
    start = time.perf_counter()
    try:
        value = fn(*args, **kwargs)
    finally:
        _STATS["seconds"] += time.perf_counter() - start
    _STATS["misses"] += 1
    try:
        plain, size = _plain(value)
    except _NoFingerprint:
        return value
    if size <= MAX_VALUE_BYTES:
        _MEMO[key] = plain
        while len(_MEMO) > MAX_ENTRIES:
            _MEMO.popitem(last=False)
    return copy.deepcopy(plain)


def versions() -> dict:
    """What the remembered values depend on besides their fingerprints: the versions of Python,
    NumPy, TensorFlow and Keras, and a digest of ``source_lib``'s own code."""
    from importlib import metadata

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return {"python": list(sys.version_info[:2]), "numpy": np.__version__, "tensorflow": version("tensorflow"),
            "keras": version("keras"), "source_lib": digest.hexdigest()}


def _to_json(x):
    """A remembered value (or a fingerprint) as JSON, exactly: arrays as their bytes in base64."""
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return {"F": repr(x)}  # NaN, infinities and -0.0 included
    if isinstance(x, complex):
        return {"C": [repr(x.real), repr(x.imag)]}
    if isinstance(x, np.ndarray):
        return {"A": [x.dtype.str, list(x.shape), base64.b64encode(np.ascontiguousarray(x).tobytes()).decode()]}
    if isinstance(x, np.generic):
        return {"N": [x.dtype.str, base64.b64encode(x.tobytes()).decode()]}
    if type(x) is tuple:
        return {"T": [_to_json(v) for v in x]}
    if type(x) is list:
        return [_to_json(v) for v in x]
    if type(x) is dict:
        return {"D": [[_to_json(k), _to_json(v)] for k, v in x.items()]}
    raise TypeError(f"cannot store a {type(x).__name__}")


def _from_json(x):
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, list):
        return [_from_json(v) for v in x]
    (tag, v), = x.items()
    if tag == "F":
        return float(v)
    if tag == "C":
        return complex(float(v[0]), float(v[1]))
    if tag == "A":
        return np.frombuffer(base64.b64decode(v[2]), dtype=np.dtype(v[0])).reshape(v[1]).copy()
    if tag == "N":
        return np.frombuffer(base64.b64decode(v[1]), dtype=np.dtype(v[0]))[0]
    if tag == "T":
        return tuple(_from_json(i) for i in v)
    if tag == "D":
        return {_from_json(k): _from_json(i) for k, i in v}
    raise ValueError(f"unknown tag {tag!r}")


def save(path, about: dict | None = None, notes: dict | None = None) -> int:
    """Write every remembered value to the JSON file ``path`` (atomically); how many.

    Args:
        path: the file.
        about: more that the values depend on (e.g. the master notebook's digest), kept beside
            :func:`versions` and required equal by :func:`load`.
        notes: plain JSON kept in the file for its readers (:func:`notes`); :func:`load` ignores it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [[_to_json(key), _to_json(value)] for key, value in _MEMO.items()]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"versions": versions(), "about": about or {}, "notes": notes or {},
                               "entries": entries}), encoding="utf-8")
    os.replace(tmp, path)
    return len(entries)


def _current(path, about: dict | None) -> dict | None:
    """The file ``path`` written by :func:`save`, parsed; None where it is missing, unreadable, or
    was written for other versions or another ``about``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("versions") != versions() or data.get("about") != (about or {}):
        return None
    return data


def load(path, about: dict | None = None) -> int | None:
    """Remember the values of the file ``path`` (written by :func:`save`); how many, or None when
    the file is missing, unreadable, or was written for other versions or another ``about``."""
    data = _current(path, about)
    if data is None:
        return None
    try:
        entries = [(_from_json(key), _from_json(value)) for key, value in data["entries"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    for key, value in entries:
        _MEMO[key] = value
    while len(_MEMO) > MAX_ENTRIES:
        _MEMO.popitem(last=False)
    return len(entries)


def notes(path, about: dict | None = None) -> dict | None:
    """The ``notes`` that :func:`save` kept in the file ``path``; None where :func:`load` would
    not load that file."""
    data = _current(path, about)
    return dict(data.get("notes") or {}) if data is not None else None


def clear() -> None:
    """Forget every remembered value (and reset :func:`stats`)."""
    _MEMO.clear()
    _STATS.update(hits=0, misses=0, uncached=0, seconds=0.0)


def stats() -> dict:
    """``{"hits", "misses", "uncached", "seconds", "entries"}`` since the last :func:`clear`
    (``seconds``: the time spent computing the misses)."""
    return {**_STATS, "entries": len(_MEMO)}
