"""Shared test helpers. Nothing here touches the network, but for starting tests/test_colab_path.py's
venv build and tests/test_jupyterhub.py's pre-build (PyPI and npm, or their caches) when the
selected tests need them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]

# tests/test_colab_path.py's venv build, started at collection: (process, its directory)
COLAB_VENV = pytest.StashKey[tuple]()
# tests/test_jupyterhub.py's pre-build of the course environment and the proxy: (process, its directory)
HUB_PREBUILD = pytest.StashKey[tuple]()


def _needs_colab_venv(item) -> bool:
    return item.path.name == "test_colab_path.py" and "colab_python" in getattr(item, "fixturenames", ())


def _needs_hub(item) -> bool:
    return item.path.name == "test_jupyterhub.py" and "hub" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    """Run tests/test_colab_path.py last (its tests in their own order), so that its venv, whose
    build starts before the first test, has the whole session before it to download in."""
    colab = [item for item in items if item.path.name == "test_colab_path.py"]
    if colab and len(colab) < len(items):
        items[:] = [item for item in items if item.path.name != "test_colab_path.py"] + colab


def pytest_collection_finish(session):
    """Start the downloads of the suite's two slow set-ups in the background as soon as the
    selected tests are known and one of them needs it: the Colab-like venv
    (tests/test_colab_path.py) and the hub's course environment and proxy
    (tests/test_jupyterhub.py, only what its cache lacks). Not under pytest-xdist (each worker
    collects every test; the fixtures build them in the worker that runs them), nor with
    ``--collect-only``."""
    config = session.config
    if config.option.collectonly or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if COLAB_VENV not in config.stash:
        needing = [item for item in session.items if _needs_colab_venv(item)]
        if needing:
            base = config._tmp_path_factory.mktemp("colab_venv")  # what the tmp_path_factory fixture hands out
            config.stash[COLAB_VENV] = (needing[0].module.start_colab_venv(base), base)
    if HUB_PREBUILD not in config.stash:
        needing = [item for item in session.items if _needs_hub(item)]
        if needing:
            base = config._tmp_path_factory.mktemp("hub_prebuild")
            proc = needing[0].module.start_prebuild(base)
            if proc is not None:
                config.stash[HUB_PREBUILD] = (proc, base)


def pytest_sessionfinish(session):
    """A build still running when the session ends (stopped early, interrupted) is killed."""
    for key in (COLAB_VENV, HUB_PREBUILD):
        build = session.config.stash.get(key, None)
        if build is not None and build[0].poll() is None:
            os.killpg(build[0].pid, signal.SIGKILL)
            build[0].wait()


def predict_in_fresh_process(models: dict, x: np.ndarray, tmp_path: Path) -> dict:
    """Save each Keras model to ``.keras``, load them all in ONE fresh Python
    process that only imports ``source_lib`` (no ``custom_objects``), and
    return that process's predictions on ``x`` keyed like ``models``.
    """
    tmp_path = Path(tmp_path)
    np.save(tmp_path / "x.npy", x)
    for name, model in models.items():
        model.save(tmp_path / f"{name}.keras")
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        import source_lib  # registers the custom objects; nothing else is passed
        import keras
        x = np.load({str(tmp_path / "x.npy")!r})
        for name in {list(models)!r}:
            m = keras.models.load_model({str(tmp_path)!r} + "/" + name + ".keras")
            np.save({str(tmp_path)!r} + "/" + name + ".pred.npy", m.predict(x, verbose=0))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {name: np.load(tmp_path / f"{name}.pred.npy") for name in models}


@pytest.fixture
def fresh_process_predict(tmp_path):
    """Fixture form of :func:`predict_in_fresh_process`."""
    return lambda models, x: predict_in_fresh_process(models, x, tmp_path)


# The fewest figures each lecture draws: a cell that stops drawing loses a slide's picture.
LECTURE_MIN_FIGURES = {"01_activation_functions.ipynb": 10, "02_loss_functions.ipynb": 8,
                       "03_vanishing_gradient.ipynb": 12}


def assert_lecture_ran_clean(nb, name: str) -> None:
    """Assert what every execution of a lecture notebook must show, wherever it ran.

    Checked on the outputs of an executed notebook: no error, nothing at all on stderr (red text:
    TensorFlow's start-up lines, Python warnings, pip's complaints), at least
    ``LECTURE_MIN_FIGURES[name]`` figures, the device report, the MNIST line saying where the
    digits came from, and no ``nan`` printed. tests/test_lectures.py asserts it on the run in
    this environment, tests/test_colab_path.py on the student copy in the Colab-like one.

    Args:
        nb: the executed notebook (``nbformat.NotebookNode``).
        name: its file name, a key of ``LECTURE_MIN_FIGURES``.
    """
    outputs = [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.outputs]
    errors = [o for _, o in outputs if o.output_type == "error"]
    assert errors == [], f"{name}: " + "\n".join(f"{e.ename}: {e.evalue}" for e in errors)
    red = {i: o.text for i, o in outputs if o.output_type == "stream" and o.name == "stderr"}
    assert red == {}, f"{name}: stderr output in cells {sorted(red)}: {red}"
    figures = [o for _, o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= LECTURE_MIN_FIGURES[name], (name, len(figures))
    text = "".join(o.get("text", "") for _, o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "Device report" in text and re.search(r"accelerator\s*: (CPU|GPU)", text), name
    assert "MNIST:" in text, name
    assert not re.search(r"\bnan\b", text.lower()), f"{name}: a NaN was printed"


def close_thread_event_loop() -> None:
    """Close the event loop that nbclient made for this (pool) thread, once its notebook ran.

    nbclient runs its coroutines through jupyter_core's ``run_sync``, which makes each thread an
    event loop and leaves it open. A pool thread that ends with it open leaves the loop and its
    self-pipe sockets to the garbage collector, which reports them (``ResourceWarning: unclosed
    <socket.socket family=1 ...>``) in whatever test happens to run then. The lectures run in
    pool threads here (tests/test_lectures.py, tests/test_colab_path.py).
    """
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # this thread has none
        return
    if not loop.is_running():
        loop.close()
    asyncio.set_event_loop(None)
