"""Notebook helpers shared by the grading tests: small notebooks to flag, and the hidden-test
lines that no student-facing page may show."""

import nbformat


def hidden_lines(master, release) -> set[str]:
    """The lines between ``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS`` in ``master`` (longer than
    12 characters) that ``release`` does not show anyway (an import, a visible test's twin)."""
    shown = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    hidden = set()
    for cell in master.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                hidden.add(line.strip())
    return hidden - shown


def code_notebook(*sources, locked=()):
    """A notebook of code cells ``sources``; those at the indices in ``locked`` are read-only
    nbgrader helper cells (``helper<i>``), as in a release."""
    cells = []
    for i, src in enumerate(sources):
        cell = nbformat.v4.new_code_cell(src)
        if i in locked:
            cell.metadata["nbgrader"] = {"grade_id": f"helper{i}", "locked": True, "grade": False, "solution": False}
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells)
