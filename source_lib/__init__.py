"""source_lib: the shared library of the lecture-1 course kit.

Importing the package registers every custom activation, layer, loss and
optimizer wrapper with Keras (package ``"source_lib"``), so a model saved with
them loads back with plain ``keras.models.load_model`` in a fresh process.
"""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from source_lib import activations  # noqa: E402,F401  (registers custom objects)
from source_lib import losses  # noqa: E402,F401
from source_lib import vanishing  # noqa: E402,F401
from source_lib import device  # noqa: E402,F401

__version__ = "0.1.0"
__all__ = ["activations", "losses", "vanishing", "device", "data", "slowdown", "plotting"]
