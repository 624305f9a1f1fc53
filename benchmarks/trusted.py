"""Trusted grade cells (instructor/trusted.py) against the old in-kernel tests, in the same run.

One perfect ps1 submission is autograded once through nbgrader (to get the sanitized notebook:
grade cells with their full master source). Then the same notebook is executed ``--repeat``
times each way, alternating: by ``RobustExecute`` (every cell, tests included, in the kernel:
the old way) and by ``TrustedExecute`` (tests in the grader, with round trips to the kernel).
Per question: the median seconds of the test cell, and for the trusted way the grader's CPU
seconds in it, its round trips and the characters they carried both ways (sources, requests,
answers: arrays in base64); per notebook: the median wall seconds of the whole execution (kernel
start included), the grader process's CPU seconds and the kernel's (its sandbox's process tree,
read just before the kernel shuts down: start-up included). The grader's first trusted test
also pays for importing the test's references (TensorFlow) in the grader: shown apart.

To compare two versions of the grader, run this file with the other version's
instructor/trusted.py in place (``git show <commit>:instructor/trusted.py``): a ``PYTHONPATH``
at another checkout does not do: its kernel finds no ``source_lib`` (the sandbox binds that
checkout's, the virtual environment's editable install points at this one's).

``--per-call N`` measures one round trip instead: a small master whose one test calls a
student's ``f(x)`` (``x`` a float) N times and one that calls it once, each graded ``--repeat``
times by ``TrustedExecute``; the differences over N - 1 calls are the wall, grader CPU and
kernel CPU seconds of one call.

Run: ``.venv/bin/python benchmarks/trusted.py [--repeat 3] [--assignment ps1_activation_derivatives]``
or ``.venv/bin/python benchmarks/trusted.py --per-call 1000``
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


def _tree_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` and all its descendants (the kernel's sandbox), the
    children they have already waited for included."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for p in [root] + root.children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


class KernelCPU:
    """Mixin for an nbclient executor: ``self.kernel_cpu`` is the CPU seconds of the kernel's
    process tree, read just before the kernel is shut down."""

    def _cleanup_kernel(self):  # nbclient's setup_kernel calls it once the last cell has run
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        self.kernel_cpu = _tree_cpu(process.pid) if process is not None else float("nan")
        return super()._cleanup_kernel()


def per_call(calls: int, repeat: int) -> None:
    """Print the wall, grader CPU and kernel CPU seconds of one round trip (``--per-call``).

    Args:
        calls: how many calls the long test makes (the short one makes one).
        repeat: runs of each notebook (the medians are printed).
    """
    from traitlets.config import Config

    from instructor.trusted import TrustedExecute

    class Measured(KernelCPU, TrustedExecute):
        pass

    def grade_cell(gid, source):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": gid,
                                     "points": 1, "schema_version": 3}
        return cell

    work = Path(tempfile.mkdtemp(prefix="bench-trusted-calls-"))
    (work / "source" / "a").mkdir(parents=True)
    runs = {}
    for n in (1, calls):
        master = nbformat.v4.new_notebook(cells=[grade_cell("t", f"for _ in range({n}):\n    assert f(1.5) == 3.0")])
        nbformat.write(master, work / "source" / "a" / "nb.ipynb")
        runs[n] = []
        for _ in range(repeat):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def f(x):\n    return 2 * x"),
                                                 grade_cell("t", "# the student's copy")],
                                          metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                   "display_name": "Python 3"}})
            config = Config()
            config.CourseDirectory.root = str(work)
            config.CourseDirectory.source_directory = "source"
            config.Execute.timeout = 600
            ep = Measured(config=config)
            cpu = _cpu()
            ep.preprocess(nb, {"nbgrader": {"assignment": "a", "notebook": "nb"}, "metadata": {"path": str(work)}})
            errors = [o for o in nb.cells[1].outputs if o.get("output_type") == "error"]
            assert not errors and ep.trusted_round_trips["t"] == n + 1, (errors, ep.trusted_round_trips)
            runs[n].append((ep.trusted_seconds["t"], _cpu() - cpu, ep.kernel_cpu))
    med = {n: [statistics.median(r[i] for r in runs[n]) for i in range(3)] for n in runs}
    wall, grader, kernel = ((med[calls][i] - med[1][i]) / (calls - 1) * 1e3 for i in range(3))
    print(f"one call of f(1.5) ({calls} calls against 1, median of {repeat} runs each): "
          f"wall {wall:.2f} ms, grader CPU {grader:.2f} ms, kernel CPU {kernel:.2f} ms")


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

    class InKernel(KernelCPU, RobustExecute):
        """RobustExecute that also records the kernel's CPU seconds."""

    class Timed(KernelCPU, TrustedExecute):
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
    parser.add_argument("--per-call", type=int, default=0, metavar="N",
                        help="measure one round trip (N calls against 1) instead of an assignment")
    args = parser.parse_args()
    if args.per_call:
        return per_call(args.per_call, args.repeat)
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
        for mode, cls in (("kernel", InKernel), ("trusted", Timed)):
            nb = copy.deepcopy(sanitized)
            ep = cls(config=config, record_timing=True)
            ep.trusted_cpu = {}
            wall, cpu = time.perf_counter(), _cpu()
            ep.preprocess(nb, copy.deepcopy(resources))
            per_notebook[mode].append((time.perf_counter() - wall, _cpu() - cpu, ep.kernel_cpu))
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
        wall, cpu, kernel = (statistics.median(run[i] for run in per_notebook[mode]) for i in range(3))
        print(f"notebook, {mode:<8} wall {wall:6.2f} s   grader CPU {cpu:6.2f} s   kernel CPU {kernel:6.2f} s")


if __name__ == "__main__":
    main()
