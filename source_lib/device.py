"""What the code runs on: platform, CPU/GPU devices, and library versions.

The experiments in this kit are written once with Keras 3 and run unchanged on
a CPU or a GPU; ``describe()`` tells the student which one they got.
"""

from __future__ import annotations

import platform
import sys


def describe(print_report: bool = True) -> dict:
    """Return (and by default print) a report of the machine and libraries.

    Args:
        print_report: print the report as a small table as well as returning it.

    Returns:
        A dict with keys ``platform``, ``python``, ``tensorflow``, ``keras``,
        ``keras_backend``, ``cpus``, ``gpus`` (lists of device names) and
        ``accelerator`` (``"GPU"`` when TensorFlow sees at least one, else ``"CPU"``).
    """
    import keras
    import tensorflow as tf

    cpus = [d.name for d in tf.config.list_physical_devices("CPU")]
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    gpu_names = []
    for d in tf.config.list_physical_devices("GPU"):
        try:
            gpu_names.append(tf.config.experimental.get_device_details(d).get("device_name", d.name))
        except Exception:  # pragma: no cover - depends on the driver
            gpu_names.append(d.name)
    report = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "cpus": cpus,
        "gpus": gpu_names or gpus,
        "accelerator": "GPU" if gpus else "CPU",
    }
    if print_report:
        print(format_report(report))
    return report


def format_report(report: dict) -> str:
    """Format a ``describe()`` report as aligned ``key : value`` lines."""
    lines = ["Device report"]
    for key in ("accelerator", "platform", "python", "tensorflow", "keras", "keras_backend", "cpus", "gpus"):
        value = report[key]
        if isinstance(value, list):
            value = ", ".join(value) if value else "none"
        lines.append(f"  {key:<13}: {value}")
    return "\n".join(lines)
