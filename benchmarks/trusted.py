"""Trusted grade cells (instructor/trusted.py) against the old in-kernel tests, in the same run.

One perfect ps1 submission is autograded once through nbgrader (to get the sanitized notebook:
grade cells with their full master source). Then the same notebook is executed ``--repeat``
times each way, alternating: by ``RobustExecute`` (every cell, tests included, in the kernel:
the old way) and by ``TrustedExecute`` (tests in the grader, with round trips to the kernel).
Per question: the median seconds of the test cell, and for the trusted way the grader's CPU
seconds in it, its round trips and the bytes they carried both ways (sources, requests, binary
buffers, answers); per notebook: the median wall seconds of the whole execution (kernel start
included) and the grader process's CPU seconds. The grader's first trusted test also pays for
importing the test's references (TensorFlow) in the grader: shown apart.

To compare two versions of the grader, run the same file with ``PYTHONPATH`` at the other
checkout (``git archive <commit> | tar -x -C /tmp/old``; the bytes column needs this version).

Run: ``.venv/bin/python benchmarks/trusted.py [--repeat 3] [--assignment ps1_activation_derivatives]``
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat


def _cpu() -> float:
    """CPU seconds of this (the grader's) process; the kernel's are not counted."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _mb(sizes, questions) -> str:
    """Megabytes moved for ``questions`` ("n/a" for a grader that does not count them)."""
    return "n/a" if sizes is None else f"{sum(sizes.get(q, 0) for q in questions) / 1e6:.2f}"


def main() -> None:
    from traitlets.config import Config, PyFileConfigLoader

    from instructor import course
    from instructor import submissions as S
    from instructor.robust_execute import RobustExecute
    from instructor.trusted import TrustedExecute, is_trusted_cell

    class Timed(TrustedExecute):
        """TrustedExecute that also records the grader's CPU seconds in each trusted test."""

        def execute_cell(self, cell, cell_index, *args, **kwargs):
            if not is_trusted_cell(cell):
                return super().execute_cell(cell, cell_index, *args, **kwargs)
            cpu = time.process_time()
            try:
                return super().execute_cell(cell, cell_index, *args, **kwargs)
            finally:
                self.trusted_cpu[cell.metadata["nbgrader"]["grade_id"]] = time.process_time() - cpu

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--assignment", default="ps1_activation_derivatives")
    args = parser.parse_args()
    a = args.assignment
    work = Path(tempfile.mkdtemp(prefix="bench-trusted-"))
    c = course.scratch_course(work / "course", [a])
    course.release(c, [a], log=lambda m: None)
    S.write(S.filled(c, a), c, "perfect", a)
    course.course_api(c, timeout=120).autograde(a, "perfect", force=True, create=True)
    sanitized = nbformat.read(c / "autograded" / "perfect" / a / f"{a}.ipynb", as_version=4)
    for cell in sanitized.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None

    config = Config()
    config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(c)).load_config())
    config.CourseDirectory.root = str(c)
    resources = {"nbgrader": {"assignment": a, "notebook": a}, "metadata": {"path": str(c / "autograded" / "perfect" / a)}}
    tests = [cell.metadata.nbgrader["grade_id"] for cell in sanitized.cells if is_trusted_cell(cell)]
    per_question = {"kernel": {t: [] for t in tests}, "trusted": {t: [] for t in tests}}
    grader_cpu = {t: [] for t in tests}
    per_notebook = {"kernel": [], "trusted": []}
    first_trusted = None
    for _ in range(args.repeat):
        for mode, cls in (("kernel", RobustExecute), ("trusted", Timed)):
            nb = copy.deepcopy(sanitized)
            ep = cls(config=config, record_timing=True)
            ep.trusted_cpu = {}
            wall, cpu = time.perf_counter(), _cpu()
            ep.preprocess(nb, copy.deepcopy(resources))
            per_notebook[mode].append((time.perf_counter() - wall, _cpu() - cpu))
            for cell in nb.cells:
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid not in tests:
                    continue
                errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                assert not errors, (mode, gid, errors[0].get("evalue"))
                if mode == "kernel":
                    t = cell.metadata["execution"]
                    per_question[mode][gid].append(_stamp(t["shell.execute_reply"]) - _stamp(t["iopub.execute_input"]))
                else:
                    per_question[mode][gid].append(ep.trusted_seconds[gid])
                    grader_cpu[gid].append(ep.trusted_cpu[gid])
                    if first_trusted is None:
                        first_trusted = (gid, ep.trusted_seconds[gid], ep.trusted_round_trips[gid])
            if mode == "trusted":
                trips, sizes = ep.trusted_round_trips, getattr(ep, "trusted_bytes", None)
    print(f"{a}: median of {args.repeat} runs each, alternating, same process "
          f"(first trusted test of the first run, {first_trusted[0]}: {first_trusted[1]:.2f} s incl. the grader's imports)")
    print(f"{'question':<24} {'in-kernel s':>11} {'trusted s':>10} {'ratio':>6} {'grader CPU s':>12} "
          f"{'round trips':>11} {'MB moved':>8}")
    for t in tests:
        k, r = statistics.median(per_question["kernel"][t]), statistics.median(per_question["trusted"][t])
        print(f"{t:<24} {k:>11.3f} {r:>10.3f} {r / k:>6.2f} {statistics.median(grader_cpu[t]):>12.3f} "
              f"{trips.get(t, 0):>11} {_mb(sizes, [t]):>8}")
    k = sum(statistics.median(per_question["kernel"][t]) for t in tests)
    r = sum(statistics.median(per_question["trusted"][t]) for t in tests)
    cpu = sum(statistics.median(grader_cpu[t]) for t in tests)
    print(f"{'all test cells':<24} {k:>11.3f} {r:>10.3f} {r / k:>6.2f} {cpu:>12.3f} {sum(trips.values()):>11} "
          f"{_mb(sizes, tests):>8}")
    for mode in ("kernel", "trusted"):
        wall = statistics.median(w for w, _ in per_notebook[mode])
        cpu = statistics.median(c for _, c in per_notebook[mode])
        print(f"notebook, {mode:<8} wall {wall:6.2f} s   grader CPU {cpu:6.2f} s")


if __name__ == "__main__":
    main()
