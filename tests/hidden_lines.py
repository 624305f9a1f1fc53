"""The hidden-test lines of a master notebook: what no student-facing page may show."""


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
