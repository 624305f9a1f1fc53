"""``import source_lib`` loads no TensorFlow; a later TensorFlow is still quiet and finds our Keras objects.

Every check runs in a fresh Python process (``subprocess``) with real imports: what a
module imports is a property of the process, and this one has loaded TensorFlow long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT

# the modules a grading kernel or a data cell may import without paying TensorFlow's ~5 CPU-s
NUMPY_ONLY = ("data", "checks", "colab", "plotting", "diagrams", "device")
# the ones that need Keras when imported (progress: its EpochProgress is a keras.callbacks.Callback)
NEED_KERAS = ("activations", "losses", "vanishing", "slowdown", "regularisation", "progress")

GENUINE = "a genuine line written to fd 2 during TensorFlow's import"


def _run(code: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}  # a fresh kernel
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def test_import_source_lib_and_its_numpy_modules_leave_tensorflow_out():
    proc = _run(
        f"""
        import json, os, sys
        import source_lib
        env = [os.environ.get("KERAS_BACKEND"), os.environ.get("TF_CPP_MIN_LOG_LEVEL")]
        for name in {NUMPY_ONLY!r}:
            __import__("source_lib." + name)
        from source_lib.checks import check
        from source_lib.data import load_mnist, one_hot
        (x, y), _ = load_mnist(n_train=300, n_test=1, source="offline")
        one_hot(y)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "pandas", "sklearn", "scipy")
                       or m in ("source_lib.activations", "source_lib.losses", "source_lib.vanishing"))
        try:
            source_lib.no_such_module
        except AttributeError as err:
            print("AttributeError:", err)
        print("RESULT" + json.dumps({{"env": env, "heavy": heavy, "dir": dir(source_lib), "x": list(x.shape)}}))
        """
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert result["heavy"] == []
    assert result["env"] == ["tensorflow", "2"]  # set at import, before anything can import TensorFlow
    assert result["x"] == [300, 784]
    assert set(NUMPY_ONLY + NEED_KERAS) <= set(result["dir"])
    assert "AttributeError: module 'source_lib' has no attribute 'no_such_module'" in proc.stdout


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A model with our activation, layer, loss and noisy optimizer, saved; with its predictions here."""
    import keras

    from source_lib import activations, losses
    from source_lib.vanishing import AnnealedGradientNoise

    d = tmp_path_factory.mktemp("saved")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.uniform(size=(16, 3)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation=activations.mish),
                              activations.Swish(), keras.layers.Dense(3, activation=activations.sigmoid)])
    model.compile(optimizer=AnnealedGradientNoise(keras.optimizers.SGD(0.1), eta=0.01, seed=0), loss=losses.half_mse)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(d / "model.keras")
    np.save(d / "x.npy", x)
    return d, model.predict(x, verbose=0)


LOAD = """
x = np.load(d + "/x.npy")
m = keras.models.load_model(d + "/model.keras")
np.save(d + "/pred.npy", m.predict(x, verbose=0))
print("RESULT" + json.dumps([type(m.optimizer).__name__, m.loss.__name__]))
"""

# a real line from inside TensorFlow's import (an audit hook writes it to fd 2 as TensorFlow imports
# its first submodule): it must come out, and nothing else
AUDIT = f"""
def _genuine(event, args, done=[]):
    if event == "import" and args[0] == "tensorflow.python" and not done:
        done.append(1)
        os.write(2, b"{GENUINE}\\n")
sys.addaudithook(_genuine)
"""


@pytest.mark.parametrize("later", ["import keras", "import tensorflow as tf\nimport keras"])
def test_a_later_tensorflow_is_quiet_and_loads_models_with_our_objects(saved_model, later):
    """``import source_lib``, a data cell, then the notebook's own ``import keras`` (which imports
    TensorFlow) or ``import tensorflow`` (which imports Keras from its ``__init__``): the start-up
    lines are dropped, a genuine line passes, and ``load_model`` finds our objects unaided."""
    d, expected = saved_model
    code = "import json, os, sys\nimport numpy as np\n" + AUDIT + textwrap.dedent(
        """
        import source_lib
        from source_lib.data import one_hot
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        one_hot([1, 2])
        """
    ) + later + textwrap.dedent(
        f"""
        assert "source_lib.losses" in sys.modules  # registered when Keras came
        d = {str(d)!r}
        """
    ) + LOAD
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr == GENUINE + "\n"
    assert json.loads(proc.stdout.split("RESULT", 1)[1]) == ["AnnealedGradientNoise", "half_mse"]
    np.testing.assert_allclose(np.load(d / "pred.npy"), expected, rtol=1e-5, atol=1e-6)


def test_source_lib_imported_after_keras_registers_at_once(saved_model):
    """Keras first, then ``import source_lib``: the objects are registered by the package's import,
    and the modules that need Keras are attributes of the package (``slowdown`` is not imported
    by the registration: ``source_lib.slowdown`` goes through the package's ``__getattr__``)."""
    d, expected = saved_model
    proc = _run(
        "import json, sys\nimport numpy as np\nimport keras\nimport source_lib\n"
        "assert 'source_lib.slowdown' not in sys.modules\n"
        "assert callable(source_lib.slowdown.train_single_neuron) and source_lib.activations.get('swish')\n"
        f"d = {str(d)!r}\n" + LOAD
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads(proc.stdout.split("RESULT", 1)[1]) == ["AnnealedGradientNoise", "half_mse"]
    np.testing.assert_allclose(np.load(d / "pred.npy"), expected, rtol=1e-5, atol=1e-6)


def test_a_later_tensorflow_imports_with_fd_2_closed():
    """Where fd 2 cannot be redirected (a daemon, a closed stderr) the hook runs TensorFlow's import as it is."""
    proc = _run("import os, sys\nos.close(2)\nimport source_lib\nimport keras\n"
                "print('ok', 'tensorflow' in sys.modules, 'source_lib.losses' in sys.modules)")
    assert proc.returncode == 0 and proc.stdout == "ok True True\n"
