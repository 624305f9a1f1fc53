"""The course directory: where it is, its assignments and students, and nbgrader's API on it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# nbgrader runs the `alembic` executable when it creates a gradebook: make the one installed
# beside this Python findable even when the virtual environment is not activated (make, cron).
if str(Path(sys.executable).parent) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("ps1_activation_derivatives", "ps2_losses", "ps3_vanishing_gradient")
NOTES_DIR = Path("autograded") / ".course"  # hidden from nbgrader's autograded/<student> globs


def gradebook_url(course: Path | str = ROOT) -> str:
    """The gradebook's database URL: ``GRADEBOOK_URL`` if set (e.g. ``postgresql://...``), else the
    course's SQLite ``gradebook.db``. ``postgresql://`` and ``postgres://`` mean psycopg 3
    (``postgresql+psycopg://``), whatever SQLAlchemy's default driver is."""
    url = os.environ.get("GRADEBOOK_URL") or f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def course_api(course: Path | str = ROOT, timeout: float | None = None, db_url: str | None = None):
    """An ``NbGraderAPI`` for the course directory ``course``, configured by its nbgrader_config.py,
    on the gradebook ``db_url`` (default: :func:`gradebook_url`)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config, PyFileConfigLoader

    from .gradebook import reuse_engines, serialize_sqlite_writers

    serialize_sqlite_writers()
    reuse_engines()

    course = Path(course).resolve()
    config = Config()
    config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = db_url or gradebook_url(course)
    if timeout is not None:
        config.Execute.timeout = int(timeout)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def assignments_in(course: Path, names=None) -> list[str]:
    """The assignments to work on: ``names`` if given, else every folder of solutions/."""
    if names:
        return list(names)
    return sorted(p.name for p in (Path(course) / "solutions").iterdir() if p.is_dir())


def scratch_course(dest: Path | str, names=None, source: Path | str = ROOT) -> Path:
    """A fresh course directory at ``dest`` with this course's config and masters (and no state):
    for the demo, the tests and the benchmark, so they never touch the real gradebook."""
    dest, source = Path(dest), Path(source)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(source / "nbgrader_config.py", dest / "nbgrader_config.py")
    for name in assignments_in(source, names):
        shutil.copytree(source / "solutions" / name, dest / "solutions" / name)
    return dest


def check_result(result: dict, what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")


def submitted_students(course: Path, name: str) -> list[str]:
    return sorted(p.parent.name for p in (Path(course) / "submitted").glob(f"*/{name}") if p.is_dir())



def load_notes(course: Path, name: str) -> dict[str, dict]:
    folder = Path(course) / NOTES_DIR / name
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
