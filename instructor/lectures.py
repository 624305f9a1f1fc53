"""``lectures``: execute the lecture notebooks and render them to HTML."""

from __future__ import annotations

import time
from pathlib import Path

from .coursedir import ROOT


def render_lectures(course=ROOT, out_dir=None, log=print, timeout: int = 600) -> list[Path]:
    """Execute each lecture notebook in a fresh kernel and render it to HTML (``build/lectures``).

    The published pages leave out TensorFlow's and jupyter's start-up chatter on stderr (absl
    ``I0000`` lines, "failed call to cuInit" on a machine without a GPU): the lines that
    :data:`robust_execute.KERNEL_NOISE` matches, the filter of the feedback pages. The kernel
    process's own output goes to a temporary file and is shown only if a notebook fails.
    """
    import subprocess
    import tempfile

    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    from .robust_execute import KERNEL_NOISE, IgnorePatternLines, kernel_log_tail

    course = Path(course)
    out_dir = Path(out_dir) if out_dir else course / "build" / "lectures"
    out_dir.mkdir(parents=True, exist_ok=True)
    quiet = IgnorePatternLines(pattern=KERNEL_NOISE)
    written = []
    for path in sorted((course / "lectures").glob("*.ipynb")):
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        with tempfile.TemporaryFile() as kernel_log:
            try:
                client.execute(stdout=kernel_log, stderr=subprocess.STDOUT)
            except Exception:
                log(f"{path.name} failed; the kernel process's own output:\n{kernel_log_tail(kernel_log) or '(none)'}")
                raise
        for index, cell in enumerate(nb.cells):
            quiet.preprocess_cell(cell, {}, index)
        html, _ = HTMLExporter().from_notebook_node(nb)
        target = out_dir / f"{path.stem}.html"
        target.write_text(html, encoding="utf-8")
        written.append(target)
        log(f"lectures  {path.name} -> {target.relative_to(course) if target.is_relative_to(course) else target}"
            f" ({time.perf_counter() - start:.0f} s)")
    return written
