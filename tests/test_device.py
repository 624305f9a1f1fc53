"""source_lib.device reports what TensorFlow itself sees."""

import keras
import sys
import tensorflow as tf

from source_lib import device


def test_describe_matches_tensorflow(capsys):
    report = device.describe()
    printed = capsys.readouterr().out
    assert report["tensorflow"] == tf.__version__ and report["keras"] == keras.__version__
    assert report["python"] == sys.version.split()[0]
    gpus = tf.config.list_physical_devices("GPU")
    assert report["accelerator"] == ("GPU" if gpus else "CPU")
    assert len(report["gpus"]) == len(gpus)
    assert len(report["cpus"]) == len(tf.config.list_physical_devices("CPU")) >= 1
    assert "Device report" in printed and tf.__version__ in printed


def test_describe_can_be_quiet(capsys):
    device.describe(print_report=False)
    assert capsys.readouterr().out == ""
