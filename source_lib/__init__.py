"""source_lib: the shared library of the lecture-1 course kit.

Importing the package is cheap: it loads neither TensorFlow nor Keras, so a
kernel that only needs ``source_lib.data``, ``checks``, ``colab``, ``plotting``
or ``diagrams`` never pays their import. The modules that need Keras
(``activations``, ``losses``, ``vanishing``, ``slowdown``, ...) load on first
use, also as attributes of the package (``source_lib.activations``, PEP 562).

What the package still does at import, for whatever imports TensorFlow later
(a ``source_lib`` module, or the notebook's own ``import tensorflow as tf`` or
``import keras``):

- it sets ``KERAS_BACKEND`` (``"tensorflow"``) and ``TF_CPP_MIN_LOG_LEVEL``
  (``"2"``) unless they are set, before TensorFlow can read them;
- it puts an import hook first in ``sys.meta_path`` (``_ImportHook``) that runs
  TensorFlow's import, and the device discovery after it, with its known
  start-up lines held back. The C++ runtime writes those straight to file
  descriptor 2 before its logging is configured, so no environment variable
  hides them; see ``_startup_lines_dropped``;
- once Keras (and TensorFlow, when it is being imported) has finished loading,
  the same hook imports ``activations``, ``losses`` and ``vanishing``, which
  registers every custom activation, layer, loss and optimizer wrapper with
  Keras (package ``"source_lib"``): a model saved with them loads back with
  plain ``keras.models.load_model`` in a fresh process after ``import
  source_lib``. When Keras is already loaded, ``import source_lib`` registers
  them at once.

Import the package before ``keras`` or ``tensorflow``: a TensorFlow imported
earlier has already printed its start-up lines.
"""

import contextlib as _contextlib
import importlib as _importlib
import os as _os
import re as _re
import sys as _sys
import tempfile as _tempfile
import warnings as _warnings

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own INFO and WARNING lines

# What TensorFlow writes to fd 2 while it loads and finds its devices, on a laptop, in a
# JupyterHub container or on Colab, when nothing is wrong: absl's notice that logging is not
# initialised yet, INFO/WARNING lines (oneDNN, "Could not find cuda drivers", the CPU feature
# guard and its second line), and the CUDA errors of a machine with CUDA libraries but no GPU
# (cuInit) or of Colab's duplicate plugin registration. Any other line is passed on.
_ABSL = r"\d{4} \d\d:\d\d:\d+\.\d+ +\d+ "  # I0000 00:00:1796159367.631001    9043 port.cc:153] ...
_GLOG = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: "  # 2025-09-17 14:44:05.157831: I external/...
_STARTUP_LINE = _re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    rf"|[IW]{_ABSL}|{_GLOG}[IW] "
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$"
    rf"|(E{_ABSL}|{_GLOG}E ).*(failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory))"
)


@_contextlib.contextmanager
def _startup_lines_dropped():
    """Hold back what native code writes to fd 2 inside the block; pass on all but start-up lines.

    The lines matching ``_STARTUP_LINE`` are dropped; every other line is written to
    ``sys.stderr`` when the block ends, so a real error still shows. Where fd 2 cannot be
    redirected, the block runs as it is.
    """
    held = None
    try:  # no fd 2, no sys.stderr (pythonw) or no writable temporary directory: run the block as it is
        _sys.stderr.flush()
        held = _tempfile.TemporaryFile()
        saved = _os.dup(2)
    except (OSError, AttributeError, ValueError):
        if held is not None:
            held.close()
        yield
        return
    with held:
        _os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            _os.dup2(saved, 2)
            _os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines()
                    if line.strip() and not _STARTUP_LINE.match(line)]
            if kept:
                print("\n".join(kept), file=_sys.stderr)


# The modules whose import registers custom objects with Keras (``vanishing`` for its noisy
# optimizer wrapper), and every module the package's attributes reach lazily.
_REGISTERING = ("activations", "losses", "vanishing")
_SUBMODULES = frozenset(
    {"activations", "checks", "colab", "data", "device", "diagrams", "losses", "plotting", "progress",
     "references", "regularisation", "slowdown", "vanishing"}
)

_loading = set()  # the hooked modules whose code is running now (an import under way)
_registered = False  # the custom objects are registered (or registering failed: not retried)


def _register_when_ready():
    """Import the ``_REGISTERING`` modules once Keras is loaded and no hooked import is under way.

    Called when a hooked module (``tensorflow``, ``keras``, a ``source_lib`` submodule)
    has run its code, and at the end of the package's own import. It waits while one of
    them is still running: a ``source_lib`` module that imports Keras on its first lines,
    or TensorFlow, which imports Keras from its own ``__init__``, is only half there, and
    importing the others from it would fail. The outermost import finishing registers.
    A failure is a warning, not an error of the user's ``import keras``.
    """
    global _registered
    if _registered or "keras" not in _sys.modules or _loading:
        return
    _registered = True  # first: the imports below come back here through the hook
    try:
        for name in _REGISTERING:
            _importlib.import_module(f"{__name__}.{name}")
    except Exception as err:  # noqa: BLE001  (the user's import of Keras must not fail for it)
        _warnings.warn(
            f"source_lib could not register its Keras objects ({type(err).__name__}: {err}); "
            f"models saved with them will not load. `import source_lib.{name}` shows why.",
            RuntimeWarning,
            stacklevel=2,
        )


class _HookedLoader:
    """The loader of one hooked module: the real loader's, with the start-up filter or registration after it.

    During the module's code ``__loader__`` and ``__spec__.loader`` are the real loader
    again, so nothing after the import sees this wrapper; every other attribute
    (``get_code``, ``is_package``, ``get_resource_reader``, ...) is the real loader's.
    """

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        if name == "loader":  # not yet set (a copy, an unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def create_module(self, spec):
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        name = module.__name__
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        _loading.add(name)
        try:
            if name == "tensorflow":
                with _startup_lines_dropped():
                    self.loader.exec_module(module)
                    module.config.list_physical_devices()  # CUDA's start-up (and its cuInit line) happens here
            else:
                self.loader.exec_module(module)
        finally:
            _loading.discard(name)
        _register_when_ready()


class _ImportHook:
    """A ``sys.meta_path`` finder that hooks the import of ``tensorflow``, ``keras`` and ``source_lib.*``.

    It finds nothing itself: it asks the finders after it for the module's spec and
    wraps that spec's loader in ``_HookedLoader``. ``tensorflow``'s code then runs inside
    ``_startup_lines_dropped``; after each hooked module ``_register_when_ready`` runs.

    Reference:
        - [PEP 451, a ModuleSpec type for the import system](https://peps.python.org/pep-0451/)
    """

    def find_spec(self, name, path=None, target=None):
        if name not in ("tensorflow", "keras") and not name.startswith(__name__ + "."):
            return None
        try:
            later = _sys.meta_path[_sys.meta_path.index(self) + 1:]
        except ValueError:
            return None
        for finder in later:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _HookedLoader(spec.loader)
                return spec
        return None


_sys.meta_path[:] = [f for f in _sys.meta_path if type(f).__qualname__ != "_ImportHook"]  # importlib.reload
_sys.meta_path.insert(0, _ImportHook())


def __getattr__(name):
    """``source_lib.activations`` and the other submodules, imported on first use (PEP 562)."""
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)


__version__ = "0.1.0"
__all__ = ["activations", "losses", "vanishing", "device", "data", "slowdown", "plotting", "progress", "diagrams"]

_register_when_ready()  # Keras already loaded: register now
