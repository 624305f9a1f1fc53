"""nbgrader's ``Execute`` preprocessor, extended to survive a dead kernel.

Plain nbgrader aborts the whole notebook when the kernel dies (``DeadKernelError``): the
student's autograded copy is deleted and every point is lost, even the ones earned before the
crash. :class:`RobustExecute` instead records an error output in the cell that killed the
kernel (``KernelDied``) and in every later code cell (``NotRun``), so ``SaveAutoGrades`` gives
the points of the tests that passed before the crash, 0 for the rest, and the feedback shows
where and why. Everything else (timeouts, interrupts, errors) is nbgrader's own behaviour.
"""

from __future__ import annotations

from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


class RobustExecute(Execute):
    """``Execute`` that turns a kernel crash into error outputs instead of an aborted notebook."""

    def preprocess(self, nb, resources=None, km=None):
        self._dead_at = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._dead_at is not None:
            cell.outputs = [_error("NotRun", f"not executed: the kernel died earlier, in cell {self._dead_at!r}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead_at = cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index}"
            self.log.error("Kernel died in cell %s; later cells are marked as not run", self._dead_at)
            cell.outputs = list(cell.get("outputs", [])) + [
                _error("KernelDied", "the kernel died while running this cell (os._exit, a crash or out of memory)")
            ]
            return cell, resources


def autograde_preprocessors() -> list:
    """nbgrader's default autograde preprocessors with ``Execute`` replaced by ``RobustExecute``."""
    from nbgrader.converters.autograde import Autograde

    return [RobustExecute if p is Execute else p for p in Autograde.class_traits()["autograde_preprocessors"].default()]
