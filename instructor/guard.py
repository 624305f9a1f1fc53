"""Tamper detection around each autograded submission.

A student's code runs, during autograde, as the instructor's user: it can write anything that
user can write (the gradebook, other students' submitted files, the masters, the editable
source_lib). Without containers we cannot stop that, but we can notice it and undo it:

* once, before grading, every protected file (``submitted/``, ``solutions/``, ``assignments/``,
  ``autograded/``, ``nbgrader_config.py``, ``instructor/``, the ``source_lib`` package) is hashed
  and copied into a private temporary directory (content-addressed, so a class of identical
  files costs one copy);
* before each submission the gradebook is copied and dumped (every row of every table);
* after each submission, :meth:`CourseGuard.verify` compares: the files (cheap ``stat`` first,
  SHA-256 when anything changed; ``ctime`` cannot be forged), the gradebook rows of everybody
  else, and the columns of the student's own rows that only a human grader writes
  (``manual_score``, ``extra_credit``, ``manual_comment``, ``extension``). Anything different is
  put back (files from the copy, the gradebook from its snapshot) and returned as a list of
  plain-English lines, which course.py records as tampering.

What the grader itself writes for this student (``autograded/<student>/<assignment>/``, the
student's own gradebook rows, the course's note) is accepted and becomes protected in turn.
"""

from __future__ import annotations

import hashlib
from collections import Counter
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

#: own gradebook columns that only a human grader (formgrader) may change
HUMAN_COLUMNS = {"grade": ("manual_score", "extra_credit"), "comment": ("manual_comment",),
                 "submitted_assignment": ("extension",)}


def _skip(path: Path) -> bool:
    return "__pycache__" in path.parts or path.suffix == ".pyc" or ".ipynb_checkpoints" in path.parts


def _stat_key(path: Path):
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_protected(course: Path) -> list[Path]:
    """The course's protected paths, plus the source_lib package wherever it is installed."""
    course = Path(course)
    paths = [course / p for p in ("submitted", "solutions", "assignments", "autograded", "nbgrader_config.py",
                                  "instructor")]
    try:
        import importlib.util

        spec = importlib.util.find_spec("source_lib")
        if spec and spec.origin:
            paths.append(Path(spec.origin).parent)
    except (ImportError, ValueError):
        pass
    return paths


def dump_gradebook(db: Path) -> dict[str, dict]:
    """Every row of every table, ``{table: {primary key: row dict}}``."""
    out = {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cur = con.execute(f'SELECT * FROM "{table}"')
            cols = [d[0] for d in cur.description]
            rows = {}
            for n, values in enumerate(cur.fetchall()):
                row = dict(zip(cols, values))
                rows[row.get("id", row.get("version_num", n))] = row
            out[table] = rows
    finally:
        con.close()
    return out


def _own_ids(dump: dict, assignment: str, student: str) -> dict[str, set]:
    """Primary keys of the rows that belong to ``student``'s submission of ``assignment``."""
    assignment_ids = {k for k, r in dump.get("assignment", {}).items() if r.get("name") == assignment}
    sa = {k for k, r in dump.get("submitted_assignment", {}).items()
          if r.get("student_id") == student and r.get("assignment_id") in assignment_ids}
    sn = {k for k, r in dump.get("submitted_notebook", {}).items() if r.get("assignment_id") in sa}
    return {"student": {student}, "submitted_assignment": sa, "submitted_notebook": sn,
            "grade": {k for k, r in dump.get("grade", {}).items() if r.get("notebook_id") in sn},
            "comment": {k for k, r in dump.get("comment", {}).items() if r.get("notebook_id") in sn}}


def compare_gradebooks(before: dict, after: dict, assignment: str, student: str) -> list[str]:
    """What changed in ``after`` that autograding ``student``'s ``assignment`` may not change."""
    own_before, own_after = _own_ids(before, assignment, student), _own_ids(after, assignment, student)
    problems = []
    for table in sorted(set(before) | set(after)):
        own = own_before.get(table, set()) | own_after.get(table, set())
        b, a = before.get(table, {}), after.get(table, {})
        for key in sorted(set(b) | set(a), key=str):
            if key in own:
                continue
            if key not in a:
                problems.append(f"gradebook: a row of '{table}' was deleted ({_who(before, table, b[key])})")
            elif key not in b:
                problems.append(f"gradebook: a row was added to '{table}' ({_who(after, table, a[key])})")
            elif a[key] != b[key]:
                changed = sorted(c for c in a[key] if a[key][c] != b[key].get(c))
                problems.append(f"gradebook: '{table}' {', '.join(changed)} changed ({_who(before, table, b[key])})")
        for column in HUMAN_COLUMNS.get(table, ()):
            for key in own:
                old = b.get(key, {}).get(column)
                new = a.get(key, {}).get(column) if key in a else old
                if new != old:
                    problems.append(f"gradebook: own '{table}.{column}' changed from {old!r} "
                                    "(only a human grader sets it)")
    counts = Counter(problems)
    return [p if n == 1 else f"{p} [{n} rows]" for p, n in counts.items()]


def _who(dump: dict, table: str, row: dict) -> str:
    """Which student a gradebook row belongs to, when it can be told."""
    if table in ("grade", "comment"):
        row = dump.get("submitted_notebook", {}).get(row.get("notebook_id"), {})
        table = "submitted_notebook"
    if table == "submitted_notebook":
        row = dump.get("submitted_assignment", {}).get(row.get("assignment_id"), {})
        table = "submitted_assignment"
    if table == "submitted_assignment":
        return f"student {row.get('student_id')!r}"
    if table == "student":
        return f"student {row.get('id')!r}"
    return f"id {row.get('id', '?')!r}"


class CourseGuard:
    """Backs up the protected files once; snapshots, verifies and restores around each submission."""

    def __init__(self, course: Path, protected: list[Path] | None = None):
        self.course = Path(course).resolve()
        self.db = self.course / "gradebook.db"
        self.protected = [Path(p).resolve() for p in (protected if protected is not None
                                                     else default_protected(self.course))]
        self.store = Path(tempfile.mkdtemp(prefix="autograde-guard-"))
        os.chmod(self.store, 0o700)
        self.state: dict[Path, tuple] = {}  # path -> (stat key, sha256)
        for path in self._files():
            self._remember(path)

    def close(self) -> None:
        shutil.rmtree(self.store, ignore_errors=True)

    def _files(self):
        for root in self.protected:
            if root.is_file():
                yield root
            elif root.is_dir():
                for path in root.rglob("*"):
                    if (path.is_file() or path.is_symlink()) and not _skip(path):
                        yield path

    def _remember(self, path: Path) -> None:
        if path.is_symlink():
            self.state[path] = ("symlink", os.readlink(path))
            return
        digest = _sha(path)
        blob = self.store / digest
        if not blob.exists():
            shutil.copyfile(path, blob)
        self.state[path] = (_stat_key(path), digest)

    # --- around one submission ---

    def begin(self) -> None:
        """Snapshot the gradebook before a submission runs."""
        self.snapshot = self.store / "gradebook.snapshot.db"
        if self.db.exists():
            shutil.copyfile(self.db, self.snapshot)
            self.before = dump_gradebook(self.snapshot)
        else:
            self.before = None

    def verify(self, assignment: str, student: str, allowed: list[Path]) -> list[str]:
        """What the submission changed outside ``allowed``; everything listed is restored."""
        allowed = [Path(p).resolve() for p in allowed]
        problems, restore = [], []
        current = {p: None for p in self._files()}
        for path in current:
            rel = self._rel(path)
            mine = any(path == a or a in path.parents for a in allowed)
            known = self.state.get(path)
            if known is None:
                if mine:
                    self._remember(path)
                else:
                    problems.append(f"file created: {rel}")
                    restore.append(("remove", path))
                continue
            if known[0] == "symlink" or path.is_symlink():
                same = path.is_symlink() and known == ("symlink", os.readlink(path))
            else:
                same = _stat_key(path) == known[0] or _sha(path) == known[1]
            if same:
                if known[0] != "symlink" and _stat_key(path) != known[0]:
                    self.state[path] = (_stat_key(path), known[1])
            elif mine:
                self._remember(path)
            else:
                problems.append(f"file modified: {rel}")
                restore.append(("write", path))
        for path in [p for p in self.state if p not in current]:
            if any(path == a or a in path.parents for a in allowed):
                del self.state[path]
            else:
                problems.append(f"file deleted: {self._rel(path)}")
                restore.append(("write", path))
        for action, path in restore:
            if action == "remove":
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            else:
                problems += self._restore_file(path)
        problems += self._verify_gradebook(assignment, student)
        return problems

    def accept(self, path: Path) -> None:
        """A file the grader itself wrote (the course's note): protect it from now on."""
        self._remember(Path(path).resolve())

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.course)) if path.is_relative_to(self.course) else str(path)

    def _restore_file(self, path: Path) -> list[str]:
        known = self.state[path]
        if path.is_symlink() or (path.exists() and path.is_dir()):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        elif path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        if known[0] == "symlink":
            os.symlink(known[1], path)
            return []
        blob = self.store / known[1]
        if not blob.exists() or _sha(blob) != known[1]:
            return [f"COULD NOT RESTORE {self._rel(path)}: its backup copy was changed too"]
        shutil.copyfile(blob, path)
        self.state[path] = (_stat_key(path), known[1])
        return []

    def _verify_gradebook(self, assignment: str, student: str) -> list[str]:
        if self.before is None or not self.db.exists():
            return [] if self.before is None else ["gradebook.db was deleted"]
        try:
            after = dump_gradebook(self.db)
        except sqlite3.Error as exc:
            problems = [f"gradebook.db is no longer readable ({exc})"]
        else:
            problems = compare_gradebooks(self.before, after, assignment, student)
        if problems:
            for suffix in ("-journal", "-wal", "-shm"):
                Path(str(self.db) + suffix).unlink(missing_ok=True)
            self.db.unlink(missing_ok=True)
            shutil.copyfile(self.snapshot, self.db)
            if dump_gradebook(self.db) != self.before:
                problems.append("COULD NOT RESTORE gradebook.db: its snapshot was changed too")
        return problems
