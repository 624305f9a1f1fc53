"""Wall time of each lecture notebook, run top to bottom in a fresh kernel, against the 90 s budget.

    .venv/bin/python benchmarks/notebooks.py [NOTEBOOK...]     # default: lectures/*.ipynb

Each notebook is executed with nbclient in a new python3 kernel (kernel start-up and the
TensorFlow import included, as a student would see it), one after another. The table shows the
seconds per notebook, the fraction of the budget used and the CPU count of the machine (the
budget is for a 2-core CPU). A notebook that fails is reported as FAILED with its error and
the exit status is 1; a slow one is only flagged OVER BUDGET.
Nothing is asserted: speed goals live here, not in the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BUDGET_S = 90.0
ROOT = Path(__file__).resolve().parents[1]


def run(path: Path) -> tuple[float, str | None]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        # the kernel process's own start-up lines (jupyter's TCP warning) would break up the table
        client.execute(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        error = None
    except Exception as exc:  # report, don't stop the table
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:120]}"
    return time.perf_counter() - start, error


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted((ROOT / "lectures").glob("*.ipynb"))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"Lecture notebooks, fresh kernel each, {cpus} CPU(s) visible, budget {BUDGET_S:.0f} s per notebook\n")
    print(f"{'notebook':<36} {'wall s':>8} {'of budget':>10}  status")
    worst = 0
    for path in paths:
        seconds, error = run(path)
        status = f"FAILED {error}" if error else ("ok" if seconds <= BUDGET_S else "OVER BUDGET")
        worst = max(worst, 1 if error else 0)
        print(f"{path.name:<36} {seconds:>8.1f} {seconds / BUDGET_S:>9.0%}  {status}", flush=True)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
