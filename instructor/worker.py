"""One (student, assignment) graded: the task that the serial loop, the local pool and a Dask cluster run.

A worker process keeps one ``NbGraderAPI`` per course (nbgrader's configuration and
preprocessors are loaded once) and grades many submissions with it. Each task:

* runs ``nbgrader autograde`` for its own submission only (force: a re-run replaces that
  submission's rows in place, so the gradebook never holds it twice);
* writes its note, ``autograded/.course/<assignment>/<student>.json``, atomically (a temporary
  file renamed over the old one), and returns it;
* is idempotent within one run: a retry (Dask re-runs a task whose worker died, even after it
  finished) finds the note of the same ``run_id`` and returns it instead of grading again.

The note: ``graded``, ``problems``, ``flags``, ``tampering``, ``seconds`` (as before), plus
``sandboxed``, ``cpu_seconds`` (the grader's and the kernel's CPU time), ``submission_sha256``,
``assignment_version`` (what an incremental re-run compares) and ``run_id``.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .coursedir import NOTES_DIR, course_api

_APIS: dict = {}  # (course, db_url, timeout) -> NbGraderAPI, one per worker process


@dataclass(frozen=True)
class Task:
    """What one grading task needs: plain data, so it travels to a Dask worker as it is."""

    course: str
    assignment: str
    student: str
    db_url: str
    timeout: float | None
    run_id: str
    submission_sha256: str
    assignment_version: str

    @property
    def key(self) -> str:
        return f"autograde-{self.assignment}-{self.student}-{self.run_id}"


def tree_sha256(*paths: Path) -> str:
    """One SHA-256 over every file under ``paths`` (relative names and contents, in sorted order)."""
    digest = hashlib.sha256()
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digest.update(str(path.relative_to(root.parent if root.is_file() else root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def note_path(course, assignment: str, student: str) -> Path:
    return Path(course) / NOTES_DIR / assignment / f"{student}.json"


def read_note(course, assignment: str, student: str) -> dict | None:
    try:
        return json.loads(note_path(course, assignment, student).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_note(course, note: dict) -> Path:
    """Write ``note`` atomically: a reader (or a killed writer) never sees half a file."""
    out = note_path(course, note["assignment"], note["student"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(note, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, out)
    return out


def sandboxed(api) -> bool | None:
    """Whether this worker's kernels run in the sandbox (instructor/sandbox.py decides from the
    configuration); None where this grader has no sandbox to ask."""
    try:
        from . import sandbox
    except ImportError:
        return None
    return bool(sandbox.status(api.config)["sandboxed"])


def _api(task: Task):
    key = (task.course, task.db_url, task.timeout)
    if key not in _APIS:
        # the grade cells run here (instructor/trusted.py); their references come from the
        # assignment's reference file (instructor/reference_cache.py), so TensorFlow loads only
        # if a submission needs a reference that the master's run did not compute
        _APIS[key] = course_api(task.course, timeout=task.timeout, db_url=task.db_url)
    return _APIS[key]


#: Linux lists each thread's children in /proc (CONFIG_PROC_CHILDREN, on by default since 3.5).
_CHILDREN_LISTS = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


class TreeCPU:
    """CPU-seconds of this process and every process it starts while the block runs (the kernel).

    Only processes started while the block runs count: descendants that were already running
    (a PostgreSQL server, a test session's background builds) are someone else's work.

    The kernel runs under bwrap, whose processes die without being waited for by this one
    (``RUSAGE_CHILDREN`` never sees them), so a thread samples the descendants' CPU times
    every ``interval`` seconds and keeps each one's last value: at most ``interval`` of a
    process's last moments goes uncounted. The descendants are found through Linux's
    ``/proc/<pid>/task/<tid>/children`` lists, from this process down (a fraction of a
    millisecond); psutil's ``children(recursive=True)`` reads the whole process table (6 ms of
    CPU on a machine of 100 processes, 3% of a core at 5 Hz) and is used only where those lists
    do not exist.
    """

    def __init__(self, interval: float = 0.2):
        self.interval, self.seconds = interval, 0.0

    def __enter__(self):
        import psutil

        self._me, self._seen, self._stop = psutil.Process(), {}, threading.Event()
        self._procs: dict = {}  # pid -> psutil.Process (its identity checked by psutil on each read)
        self._others = set(self._descendants())  # running before the block: not its work
        self._own = self._self_seconds()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.seconds = self._self_seconds() - self._own + sum(self._seen.values())

    @staticmethod
    def _self_seconds() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return own.ru_utime + own.ru_stime

    def _descendants(self) -> list[int]:
        if not _CHILDREN_LISTS:
            return [c.pid for c in self._me.children(recursive=True)]
        found, stack = [], [self._me.pid]
        while stack:
            pid = stack.pop()
            try:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                        kids = [int(k) for k in f.read().split()]
                    found += kids
                    stack += kids
            except OSError:  # the process or the thread ended meanwhile
                continue
        return found

    def _sample(self) -> None:
        import psutil

        for pid in self._descendants():
            if pid not in self._procs and pid not in self._others:
                try:
                    self._procs[pid] = psutil.Process(pid)
                except psutil.Error:
                    continue
        for pid, proc in list(self._procs.items()):
            try:
                t = proc.cpu_times()
                self._seen[(pid, proc.create_time())] = t.user + t.system
            except psutil.Error:  # it ended (or its pid was reused): its last value stays counted
                del self._procs[pid]

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()


def grade(task: Task) -> dict:
    """Grade one submission and return its note (see the module docstring)."""
    stored = read_note(task.course, task.assignment, task.student)
    if stored and stored.get("run_id") == task.run_id:
        return stored  # this run graded it already: a retry after the result was lost
    start = time.perf_counter()
    with TreeCPU() as cpu:
        note = _grade(task)
    note["seconds"] = round(time.perf_counter() - start, 2)
    note["cpu_seconds"] = round(cpu.seconds, 2)
    write_note(task.course, note)
    return note


def _grade(task: Task) -> dict:
    from . import autograde as ag
    from . import integrity, reference_cache

    course, name, student = Path(task.course), task.assignment, task.student
    api = _api(task)
    reference_cache.load(course, name)  # once per worker (again if autograde made it anew)
    folder = course / "submitted" / student / name
    invalid = ag.invalid_notebooks(folder)
    flags = integrity.check_submission(folder, course / "assignments" / name)
    with warnings.catch_warnings():
        # nbgrader's gradebook makes SQLAlchemy warn about its own session handling (harmless)
        warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session")
        result = api.autograde(name, student, force=True, create=False)
    graded = bool(result.get("success"))
    problems = list(invalid)
    if graded:
        problems += ag.cell_problems(course, name, student, result.get("log", ""))
    elif not invalid:
        tail = (result.get("error") or result.get("log") or "").strip().splitlines()[-1:]
        problems.append("nbgrader could not grade this submission: " + (tail[0] if tail else "unknown error"))
    note = {
        "assignment": name,
        "student": student,
        "graded": graded,
        "problems": problems,
        "flags": flags,
        "tampering": [],  # kept for older notes' readers: the sandbox leaves nothing to tamper with
        "seconds": None,  # set by grade()
        "cpu_seconds": None,
        "sandboxed": sandboxed(api),
        "submission_sha256": task.submission_sha256,
        "assignment_version": task.assignment_version,
        "run_id": task.run_id,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    return note
