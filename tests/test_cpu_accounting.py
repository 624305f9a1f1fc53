"""instructor.worker.TreeCPU: a grading task's CPU-seconds include the processes it starts."""

from __future__ import annotations

import subprocess
import sys
import time

from instructor.worker import TreeCPU

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def test_a_grandchild_found_late_is_counted_whole():
    # the child sleeps, then burns 1.2 CPU-s in a grandchild it starts (as bwrap starts the kernel);
    # the grandchild appears between two discoveries of the process tree (every second)
    child = (f"import subprocess, sys, time\ntime.sleep(0.5)\n"
             f"subprocess.run([sys.executable, '-c', {BURN.format(s=1.2)!r}])\n")
    with TreeCPU() as cpu:
        proc = subprocess.Popen([sys.executable, "-c", child])
        proc.wait()
    assert 1.2 - 0.2 <= cpu.seconds <= 2.0, cpu.seconds


def test_its_own_cpu_and_a_short_child_count_and_idle_time_does_not():
    with TreeCPU() as cpu:
        exec(BURN.format(s=0.3), {})
        subprocess.run([sys.executable, "-c", BURN.format(s=0.6)])
        time.sleep(0.5)
    assert 0.9 - 0.2 <= cpu.seconds <= 1.4, cpu.seconds  # at most one interval of the child's last moments is lost
