"""nbgrader preprocessors for grading real students' notebooks (used by nbgrader_config.py).

:class:`RobustExecute` is nbgrader's ``Execute`` extended in four ways:

* a dead kernel (``os._exit``, a segfault, out of memory) no longer aborts the notebook (plain
  nbgrader deletes the autograded copy and every point is lost): the cell that killed it gets a
  ``KernelDied`` error output and every later code cell a ``NotRun`` one, so ``SaveAutoGrades``
  keeps the points of the tests that passed before;
* the same for a kernel that ignores the interrupt after a cell's time limit (a loop under
  ``signal.signal(SIGINT, SIG_IGN)``: nbclient raises ``CellTimeoutError``; we record
  ``KernelHung``) and for any other exception nbclient raises (``GradingError``);
* ``notebook_timeout``: a total time budget per notebook; each cell's limit is cut to what is
  left of it, and once it is spent the remaining cells are ``NotRun``;
* the kernel runs in the bubblewrap sandbox of instructor/sandbox.py (no course directory, a
  private tmpfs home and working directory that gets a copy of the notebook's folder without
  the notebooks, its own PID and network namespaces, an unprivileged uid, rlimits), and not at
  all where the sandbox cannot run unless it was turned off (``--no-sandbox``); the autograded
  notebook's metadata says ``autograde.sandboxed``. Every process the student started dies
  with the kernel (unsandboxed, what is left in the kernel's process group is killed);
* read-only cells that the master tags ``informational`` (ps3's Keras comparison) are not run
  when no later cell needs what they compute (instructor/informational.py;
  ``skip_informational``);
* the kernel is killed after the last cell (``shutdown_kernel = "immediate"``) instead of being
  asked to shut down and waited for: every output has arrived by then;
* the kernel process's own stdout/stderr (TensorFlow's start-up lines and jupyter's warnings,
  a dozen lines per notebook) go to a temporary file instead of the instructor's terminal;
  they are logged only when the kernel fails to start. What the student's code prints still
  reaches the notebook: ipykernel captures it.

:class:`RestoreLockedCells` puts back read-only cells that are not graded (helpers such as
``visible_checks``) when a student deleted them, from the gradebook's copy of the source, as
``OverwriteCells.add_missing_cells`` does for graded cells. :class:`HideHiddenTests` keeps the
hidden tests out of the feedback pages: their lines are removed from the test cells and a
traceback that would quote one is cut to its last line.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import CheckCellMetadata, Execute, IgnorePattern, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Enum, Integer

from . import informational, sandbox
from .metadata_check import CheckCellMetadataOnce


# Start-up chatter that says nothing about the student's code: TensorFlow/absl log lines and
# jupyter's kernel warnings. Matched line by line, both in the cells' stderr outputs
# (IgnorePatternLines, set in nbgrader_config.py) and in the kernel process's own output.
KERNEL_NOISE = (
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} \d\d:\d\d:\d\d|"
    r"WARNING: All log messages before absl::InitializeLog|WARNING:tensorflow:|"
    r"To enable the following instructions: |oneDNN custom operations|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|Could not find cuda drivers|TF-TRT Warning|"
    r"\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption)"
)


def kernel_log_tail(log, lines: int = 20) -> str:
    """The last ``lines`` lines of a kernel process's own output (a binary file it wrote to),
    without the start-up chatter of :data:`KERNEL_NOISE`."""
    log.seek(0)
    text = log.read()[-20000:].decode("utf-8", "replace")
    kept = [line for line in text.splitlines() if line.strip() and not re.search(KERNEL_NOISE, line)]
    return "\n".join(kept[-lines:])


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


class RobustExecute(Execute):
    """``Execute`` that turns a dead or hung kernel into error outputs instead of an aborted notebook."""

    notebook_timeout = Integer(
        0, help="Total seconds for one notebook (0: no limit); once spent, the remaining cells are not run."
    ).tag(config=True)
    shutdown_kernel = Enum(
        ["graceful", "immediate"], default_value="immediate",
        help="How the kernel ends after the last cell: 'immediate' (killed: every output is in by then, and "
             "the sandbox takes whatever the student started with it) or nbclient's 'graceful' (a shutdown "
             "request, then waiting for it to exit: ~0.25 s and ~0.2 CPU-s more per submission)."
    ).tag(config=True)
    skip_informational = Bool(
        True, help="Leave out the master's read-only cells tagged 'informational' that no later cell depends on "
                   "(instructor/informational.py)."
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._stopped = None  # why the remaining cells are not run
        self._master = informational.master_path(self.config, resources) if self.skip_informational else None
        self._deadline = time.monotonic() + self.notebook_timeout if self.notebook_timeout else None
        resources = resources if resources is not None else {}
        metadata = resources.setdefault("metadata", {})
        original = metadata.get("path")
        workdir = tempfile.mkdtemp(prefix="autograde-kernel-")
        if original and os.path.isdir(original):
            for name in os.listdir(original):
                src = os.path.join(original, name)
                if name.endswith(".ipynb") or os.path.islink(src):
                    continue
                dst = os.path.join(workdir, name)
                (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, dst)
        metadata["path"] = workdir
        saved_env = {k: os.environ.pop(k) for k in ("PWD", "OLDPWD") if k in os.environ}
        self._pgid = None
        self._sandbox_km = None
        try:
            # the grading kernel runs in the sandbox (instructor/sandbox.py), or not at all unless
            # the sandbox was turned off on purpose; the notebook records which
            self._sandbox = sandbox.require(self.config) if km is None else None
            nb.metadata.setdefault("autograde", {})["sandboxed"] = self._sandbox is not None
            return super().preprocess(nb, resources, km)
        except Exception:  # the kernel did not start, or nbclient failed outside a cell
            self.log.error("the kernel process's own output:\n%s", self.kernel_output() or "(none)")
            raise
        finally:
            os.environ.update(saved_env)
            self._kill_leftovers()
            if getattr(self, "_kernel_log", None) is not None:
                self._kernel_log.close()
            if self._sandbox_km is not None:
                self._sandbox_km.cleanup_task()
            metadata["path"] = original
            shutil.rmtree(workdir, ignore_errors=True)

    def create_kernel_manager(self):
        """nbclient's kernel manager, or a :class:`sandbox.SandboxedKernelManager` whose kernel
        gets the submission's extra files (the copy in the temporary directory) in its cwd."""
        if getattr(self, "_sandbox", None) is None:
            return super().create_kernel_manager()
        if not self.kernel_name:
            self.kernel_name = self.nb.metadata.get("kernelspec", {}).get("name") or ""
        kwargs = {"kernel_name": self.kernel_name} if self.kernel_name else {}
        self.km = self._sandbox_km = sandbox.SandboxedKernelManager(
            config=self.config, sandbox=self._sandbox, files=self.resources["metadata"]["path"], **kwargs)
        return self.km

    def start_new_kernel(self, **kwargs):
        self._kernel_log = tempfile.TemporaryFile()
        kwargs.setdefault("stdout", self._kernel_log)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        return super().start_new_kernel(**kwargs)

    def kernel_output(self) -> str:
        """What the kernel process wrote to its own stdout/stderr (see :func:`kernel_log_tail`)."""
        log = getattr(self, "_kernel_log", None)
        return "" if log is None or log.closed else kernel_log_tail(log)

    def _kill_leftovers(self) -> None:
        """Kill what the student's code left running in the kernel's process group (a sleeper that
        would act during the next student's grading). Unsandboxed, a double fork with setsid
        escapes this; in the sandbox every process dies with the kernel's PID namespace."""
        if self._pgid and hasattr(os, "killpg") and self._pgid != os.getpgrp():
            try:
                os.killpg(self._pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if self._deadline is None:
            return timeout
        left = max(1, math.ceil(self._deadline - time.monotonic()))  # ends at or after the deadline
        return left if timeout is None else min(timeout, left)

    def _stop(self, cell, index, ename, evalue, why):
        where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index}"
        self._stopped = why.format(where=where)
        self.log.error("%s in cell %s; later cells are marked as not run", ename, where)
        cell.outputs = list(cell.get("outputs", [])) + [_error(ename, evalue)]
        return cell

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped is None and self._deadline is not None and time.monotonic() >= self._deadline:
            self._stopped = f"the notebook's total time budget ({self.notebook_timeout} s) was spent"
        if self._stopped is not None:
            cell.outputs = [_error("NotRun", f"not executed: {self._stopped}")]
            return cell, resources
        try:
            skipped = informational.skip_reason(self.nb, index, self._master) if self._master else None
        except Exception as exc:  # an analysis that fails must never cost the submission: run the cell
            self.log.warning("informational-cell analysis failed (%s: %s); the cell runs", type(exc).__name__, exc)
            skipped = None
        if skipped:
            self.log.info("not run: %s", skipped)
            cell.outputs, cell.execution_count = informational.skipped_output(), None
            return cell, resources
        if self._pgid is None:
            self._pgid = getattr(getattr(self.km, "provisioner", None), "pgid", None) or None
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell = self._stop(cell, index, "KernelDied",
                              "the kernel died while running this cell (os._exit, a crash or out of memory)",
                              "the kernel died earlier, in cell {where!r}")
        except CellTimeoutError:
            cell = self._stop(cell, index, "KernelHung",
                              "this cell ran past its time limit and the kernel did not stop when interrupted",
                              "the kernel hung earlier, in cell {where!r}")
        except Exception as exc:  # anything else nbclient raises: keep what was earned so far
            cell = self._stop(cell, index, "GradingError", f"{type(exc).__name__}: {exc}".splitlines()[0],
                              "grading stopped earlier, in cell {where!r}")
        return cell, resources


class RestoreLockedCells(NbGraderPreprocessor):
    """Put back deleted read-only cells that are not graded (e.g. ``visible_checks``)."""

    notification = "# This read-only cell (id:{cell_id}) was missing from the submission; the grader put it back.\n"

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(resources["nbgrader"]["db_url"]) as gb:
            try:
                source_nb = gb.find_notebook(resources["nbgrader"]["notebook"], resources["nbgrader"]["assignment"])
            except MissingEntry:
                return nb, resources
            graded = {c.name for c in source_nb.grade_cells} | {c.name for c in source_nb.task_cells}
            sources = [(c.name, c.cell_type, c.locked, c.source, c.checksum) for c in source_nb.source_cells]
        present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
        for k, (name, cell_type, locked, source, checksum) in enumerate(sources):
            if name in present or not locked or name in graded:
                continue
            self.log.warning("Missing read-only cell %s encountered, adding it back", name)
            meta = {"deletable": False, "editable": False,
                    "nbgrader": {"grade": False, "solution": False, "locked": True, "grade_id": name,
                                 "checksum": checksum, "cell_type": cell_type, "schema_version": 3}}
            cell = NotebookNode(id=_new_cell_id(), cell_type=cell_type, metadata=NotebookNode(meta), source=source)
            if cell_type == "code":
                cell.source = self.notification.format(cell_id=name) + source
                cell.outputs, cell.execution_count = [], None
            # after the nearest earlier source cell still in the notebook (else at the top)
            position = 0
            for prev, *_ in reversed(sources[:k]):
                idx = next((i for i, c in enumerate(nb.cells)
                            if c.metadata.get("nbgrader", {}).get("grade_id") == prev), None)
                if idx is not None:
                    position = idx + 1
                    break
            nb.cells.insert(position, cell)
            present.add(name)
        return nb, resources


_HIDDEN = re.compile(r"^\s*#+\s*BEGIN HIDDEN TESTS.*?^\s*#+\s*END HIDDEN TESTS[^\n]*\n?", re.M | re.S)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class OverwriteCellsWithIds(OverwriteCells):
    """nbgrader's ``OverwriteCells`` whose re-added cells (a grade cell the student deleted) carry
    a cell id, which nbformat >= 4.5 requires (without one nbformat warns on every such
    notebook, and will refuse it in a future version), and go after the nearest earlier cell
    that is still in the notebook.

    nbgrader 0.9.6 puts a missing grade cell right after the master's previous source cell and
    raises ``KeyError`` when that one is missing too (every solution cell retyped into fresh
    cells: ps1's ``review_question`` after ``plot_derivatives``), so the whole notebook scored 0.
    """

    def add_missing_grade_cells(self, nb, resources):
        """Put back each missing grade cell, in the master's order, after the nearest earlier
        source cell still present (else at the top), and after the student's own cells without
        nbgrader metadata that follow it (a retyped solution stays before its test)."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        grade_ids = {c.name: c for c in source_nb.grade_cells}
        solution_ids = {c.name for c in source_nb.solution_cells}
        order = [c.name for c in source_cells]

        def position(name):
            return next((i for i, c in enumerate(nb.cells)
                         if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == name), None)

        for k, name in enumerate(order):
            if name not in grade_ids or position(name) is not None:
                continue
            self.log.warning(f"Missing grade cell {name} encountered, adding to notebook")
            cell = self.missing_cell_transform(source_cells[k], grade_ids[name].max_score,
                                               is_solution=name in solution_ids)
            at = next((p + 1 for p in map(position, reversed(order[:k])) if p is not None), 0)
            while at and at < len(nb.cells) and "grade_id" not in nb.cells[at].get("metadata", {}).get("nbgrader", {}):
                at += 1
            nb.cells.insert(at, cell)
        return nb, resources

    def missing_cell_transform(self, source_cell, max_score, is_solution=False, is_task=False):
        cell = super().missing_cell_transform(source_cell, max_score, is_solution, is_task)
        cell["id"] = _new_cell_id()
        return cell


def _new_cell_id() -> str:
    from nbformat.corpus.words import generate_corpus_id

    return generate_corpus_id()


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback: remove hidden tests from the test cells and from tracebacks that quote them.

    The kernel never sees a hidden test (instructor/trusted.py runs the test cells in the
    grader, and its error outputs never quote the master), but the autograded notebook keeps
    each test cell's full source (``OverwriteCells`` copies it from the gradebook, hidden tests
    included, for the formgrader), so the feedback pages still need the source cut here; the
    traceback cut stays as a second line of defence.
    """

    placeholder = "# (hidden tests: not shown)\n"

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or "BEGIN HIDDEN TESTS" not in cell.source:
            return cell, resources
        hidden = [line.strip() for block in _HIDDEN.findall(cell.source) for line in block.splitlines()]
        hidden = {line for line in hidden if len(line) >= 6 and "HIDDEN TESTS" not in line}
        cell.source = _HIDDEN.sub(self.placeholder, cell.source)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                text = _ANSI.sub("", "\n".join(out.get("traceback", [])))
                if any(line in text for line in hidden):
                    out["traceback"] = [f"{out.get('ename')}: {out.get('evalue')}",
                                        "(raised by a hidden test; its code is not shown)"]
        return cell, resources


class IgnorePatternLines(IgnorePattern):
    """``IgnorePattern`` by line: nbgrader's drops a whole stderr output (often several lines,
    e.g. TensorFlow's start-up chatter followed by the student's own warning) when any line
    matches; this one removes only the matching lines (and the output if nothing is left)."""

    def preprocess_cell(self, cell, resources, cell_index):
        if self.pattern and cell.cell_type == "code":
            outputs = []
            for out in cell.outputs:
                if out.output_type == "stream" and out.name == "stderr":
                    lines = out.text.splitlines(keepends=True)
                    kept = [line for line in lines if not re.search(self.pattern, line)]
                    if not kept:
                        continue
                    out.text = "".join(kept)
                outputs.append(out)
            cell.outputs = outputs
        return cell, resources


def autograde_preprocessors() -> list:
    """nbgrader's default autograde preprocessors with ``Execute`` replaced by
    :class:`instructor.trusted.TrustedExecute` (``RobustExecute`` whose grade cells are decided
    in the grader process), ``IgnorePattern`` by :class:`IgnorePatternLines` and
    ``CheckCellMetadata`` by :class:`instructor.metadata_check.CheckCellMetadataOnce`."""
    from nbgrader.converters.autograde import Autograde

    from .trusted import TrustedExecute  # a subclass of RobustExecute (imported here: no cycle)

    swap = {Execute: TrustedExecute, IgnorePattern: IgnorePatternLines, CheckCellMetadata: CheckCellMetadataOnce}
    return [swap.get(p, p) for p in Autograde.class_traits()["autograde_preprocessors"].default()]


def sanitize_preprocessors() -> list:
    """nbgrader's default sanitizing preprocessors, with ``OverwriteCells`` replaced by
    :class:`OverwriteCellsWithIds` and followed by :class:`RestoreLockedCells`, and
    ``CheckCellMetadata`` by :class:`instructor.metadata_check.CheckCellMetadataOnce`."""
    from nbgrader.converters.autograde import Autograde

    out = []
    for p in Autograde.class_traits()["sanitize_preprocessors"].default():
        if p is OverwriteCells:
            out += [OverwriteCellsWithIds, RestoreLockedCells]
        elif p is CheckCellMetadata:
            out.append(CheckCellMetadataOnce)
        else:
            out.append(p)
    return out


def feedback_preprocessors() -> list:
    """nbgrader's default feedback preprocessors plus :class:`HideHiddenTests`."""
    from nbgrader.converters.generate_feedback import GenerateFeedback

    return list(GenerateFeedback.class_traits()["preprocessors"].default()) + [HideHiddenTests]
