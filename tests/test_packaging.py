"""The two setup commands, the CI entry and the two environment files agree."""

import re
import subprocess
import sys

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    everything = project["dependencies"] + project["optional-dependencies"]["course"] + project["optional-dependencies"]["dev"]
    wanted = {_name(r) for r in everything}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r) for r in pip_section if not r.startswith("-e")}
    assert listed == wanted
    # and the pinned lower bounds are the same
    pins = {_name(r): r.replace(" ", "") for r in everything}
    assert {_name(r): r.replace(" ", "") for r in pip_section if not r.startswith("-e")} == pins
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])


def test_colab_install_leaves_colabs_jupyter_alone():
    """Colab's setup cell installs the bare package (source_lib.colab.pip_target has no extra):
    its dependencies are what the library imports, and no Jupyter server or nbgrader, which
    would replace the notebook/jupyter-server versions Colab's runtime pins."""
    from source_lib import colab

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    assert core == {"tensorflow", "keras", "numpy", "matplotlib", "mlxtend", "tqdm"}  # tqdm: source_lib.progress
    assert {"jupyter", "nbgrader", "notebook", "jupyterlab", "nbclient", "nbconvert"}.isdisjoint(core)
    assert "[" not in colab.pip_target().split("@")[0]
    assert {"jupyter", "nbgrader", "ipykernel"} <= {_name(r) for r in project["optional-dependencies"]["course"]}
    assert "pip install -q -e '.[course,dev]'" in (ROOT / "Makefile").read_text()  # make venv gets all


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme


def test_python_m_source_lib_prints_device_report_and_table():
    proc = subprocess.run([sys.executable, "-m", "source_lib"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "Device report" in out and "tensorflow" in out
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "swish", "mish"):
        assert re.search(rf"^{name}\s", out, re.M), name
    swish_row = next(line for line in out.splitlines() if line.startswith("swish"))
    assert "-0.0998393" in swish_row and "1.09984" in swish_row


def test_package_discovery_ships_every_source_lib_subpackage():
    """setuptools' find with pyproject's include finds source_lib.vanishing (a package since
    the split), so a wheel or a non-editable install has every module the notebooks import."""
    import importlib
    import pkgutil

    from setuptools import find_packages

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    found = set(find_packages(where=str(ROOT), include=include))
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "source_lib").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert {"source_lib", "source_lib.vanishing"} <= on_disk <= found
    import source_lib.vanishing as vanishing

    modules = {m.name for m in pkgutil.iter_modules(vanishing.__path__)}
    assert {"models", "speeds", "training", "noise", "chain", "experiments"} <= modules
    for name in modules:
        importlib.import_module(f"source_lib.vanishing.{name}")


def test_source_lib_modules_stay_small():
    """One idea per module: each module of source_lib.vanishing at most 450 lines, losses under 700."""
    for path in (ROOT / "source_lib" / "vanishing").glob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 450, f"{path.relative_to(ROOT)} has {lines} lines"
    assert len((ROOT / "source_lib" / "losses.py").read_text(encoding="utf-8").splitlines()) < 700
