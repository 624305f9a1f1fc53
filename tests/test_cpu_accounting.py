"""instructor.worker.TreeCPU: a grading task's CPU-seconds include the processes it starts.

Each measurement runs in a fresh process: TreeCPU counts every descendant of the process it runs
in, and the test session's own (tests/conftest.py's background venv builds) are not the task's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def _measured(body: str) -> float:
    """The CPU-seconds TreeCPU gives for ``body`` (Python, run inside ``with TreeCPU() as cpu:``)."""
    script = ("import subprocess, sys, time\nfrom instructor.worker import TreeCPU\nwith TreeCPU() as cpu:\n"
              + "".join(f"    {line}\n" for line in body.splitlines()) + "print(cpu.seconds)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


def test_a_grandchild_found_late_is_counted_whole():
    # the child sleeps, then burns 1.2 CPU-s in a grandchild it starts (as bwrap starts the kernel)
    child = f"import subprocess, sys, time\ntime.sleep(0.5)\nsubprocess.run([sys.executable, '-c', {BURN.format(s=1.2)!r}])\n"
    seconds = _measured(f"subprocess.run([sys.executable, '-c', {child!r}])")
    assert 1.2 - 0.2 <= seconds <= 2.0, seconds  # at most one interval of its last moments is lost


def test_its_own_cpu_and_a_short_child_count_and_idle_time_does_not():
    seconds = _measured(f"exec({BURN.format(s=0.3)!r}, {{}})\n"
                        f"subprocess.run([sys.executable, '-c', {BURN.format(s=0.6)!r}])\ntime.sleep(0.5)")
    assert 0.9 - 0.2 <= seconds <= 1.4, seconds


def test_a_descendant_that_was_running_before_is_not_counted():
    # a busy process started before the block (as a benchmark's PostgreSQL server is) is not the task's
    busy = f"subprocess.Popen([sys.executable, '-c', {BURN.format(s=3.0)!r}])"
    script = ("import subprocess, sys, time\nfrom instructor.worker import TreeCPU\n"
              f"p = {busy}\ntime.sleep(0.3)\nwith TreeCPU() as cpu:\n    time.sleep(1.0)\np.kill()\nprint(cpu.seconds)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) < 0.2
