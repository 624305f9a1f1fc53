"""Autograde seconds per submission against the floor, measured in one run.

For each assignment, in a scratch course directory:

* floor  F: start a Python kernel and run ``import tensorflow, source_lib`` (what any graded
  notebook pays before its own code), median of ``--repeats`` runs;
* plain  E: run the master notebook (solutions + hidden tests: the code autograde executes for
  a perfect submission) with nbclient alone, median of ``--repeats`` runs; its own compute is E - F;
* autograde A: ``nbgrader autograde`` of one submission (perfect and blank), through
  instructor/course.py, median of ``--repeats`` runs each.

The target is A <= 1.5 F + (E - F): nbgrader's own overhead (sanitising, the gradebook, the
feedback-ready copy) costs at most half a floor. The table prints the ratio
(A - (E - F)) / F, which must stay <= 1.5.

Run: .venv/bin/python benchmarks/autograde.py [--repeats 3] [--assignment NAME ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from instructor import course  # noqa: E402
from instructor import submissions  # noqa: E402


def _run(nb, cwd: Path) -> float:
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return time.perf_counter() - start


def floor_seconds(cwd: Path) -> float:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import tensorflow, source_lib")])
    return _run(nb, cwd)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--assignment", action="append")
    args = parser.parse_args(argv)
    from source_lib import device

    info = device.describe(print_report=False)
    with tempfile.TemporaryDirectory() as tmp:
        c = course.scratch_course(Path(tmp) / "course", args.assignment)
        names = course.assignments_in(c, args.assignment)
        course.release(c, names, log=lambda m: None)
        rows = []
        for name in names:
            perfect = submissions.filled(c, name)
            floor = statistics.median(floor_seconds(c) for _ in range(args.repeats))
            master = c / "solutions" / name / f"{name}.ipynb"
            plain = statistics.median(_run(nbformat.read(master, as_version=4), c) for _ in range(args.repeats))
            students = []
            for r in range(args.repeats):
                students += [submissions.write(perfect, c, f"perfect{r}", name).parent.parent.name,
                             submissions.write(submissions.blank(c, name), c, f"blank{r}", name).parent.parent.name]
            notes = course.autograde(c, [name], students=students, log=lambda m: None)
            totals, _ = course.collect_grades(c, [name])
            scored = {r["student"]: (r["auto_score"], r["max_auto_score"]) for r in totals}
            wrong = [f"{s} {got:g}/{top:g}" for s, (got, top) in scored.items()
                     if (got != top if s.startswith("perfect") else got != 0) or not top]
            flagged = [s for (_, s), n in notes.items() if n["flags"] or n["tampering"]]
            if wrong or flagged:
                raise SystemExit(f"{name}: the timed submissions did not score as they must (perfect: full, "
                                 f"blank: 0, none flagged): {', '.join(wrong + flagged)}")
            print(f"checked {name}: perfect {scored['perfect0'][0]:g}/{scored['perfect0'][1]:g}, "
                  f"blank {scored['blank0'][0]:g}", flush=True)
            grade = {kind: statistics.median(n["seconds"] for (_, s), n in notes.items() if s.startswith(kind))
                     for kind in ("perfect", "blank")}
            compute = max(plain - floor, 0.0)
            rows.append((name, floor, plain, compute, grade["perfect"], grade["blank"],
                         (grade["perfect"] - compute) / floor))
            print(f"measured {name}", flush=True)
    print(f"\nAutograde per submission vs the floor ({info.get('accelerator', '?')}, "
          f"{os.cpu_count()} CPUs, TensorFlow {info.get('tensorflow', '?')}; medians of {args.repeats})")
    head = f"{'assignment':<28}{'floor F':>9}{'plain E':>9}{'E-F':>7}{'A perfect':>11}{'A blank':>9}{'(A-(E-F))/F':>13}"
    print(head)
    print("-" * len(head))
    for name, floor, plain, compute, a_perfect, a_blank, ratio in rows:
        print(f"{name:<28}{floor:>8.1f}s{plain:>8.1f}s{compute:>6.1f}s{a_perfect:>10.1f}s{a_blank:>8.1f}s{ratio:>13.2f}")
    print("target: (A - (E - F)) / F <= 1.5 (A <= 1.5 x floor + the notebook's own compute)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
