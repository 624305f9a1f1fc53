"""Shared test helpers. Nothing here touches the network."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]


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
