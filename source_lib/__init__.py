"""source_lib: the shared library of the lecture-1 course kit.

Importing the package registers every custom activation, layer, loss and
optimizer wrapper with Keras (package ``"source_lib"``), so a model saved with
them loads back with plain ``keras.models.load_model`` in a fresh process.

Import it before ``keras`` or ``tensorflow``: it sets ``KERAS_BACKEND`` and
``TF_CPP_MIN_LOG_LEVEL`` first, then imports TensorFlow with its known start-up
lines held back. The C++ runtime writes those straight to file descriptor 2
before its logging is configured, so no environment variable hides them; see
``_startup_lines_dropped``.
"""

import contextlib as _contextlib
import os as _os
import re as _re
import sys as _sys
import tempfile as _tempfile

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


if _os.environ["KERAS_BACKEND"] == "tensorflow":
    with _startup_lines_dropped():
        import tensorflow as _tf

        _tf.config.list_physical_devices()  # CUDA's start-up (and its cuInit line) happens here

from source_lib import activations  # noqa: E402,F401  (registers custom objects)
from source_lib import losses  # noqa: E402,F401
from source_lib import vanishing  # noqa: E402,F401
from source_lib import device  # noqa: E402,F401

__version__ = "0.1.0"
__all__ = ["activations", "losses", "vanishing", "device", "data", "slowdown", "plotting", "progress", "diagrams"]
