"""Autograde on submit: a JupyterHub service that grades each submission and releases its feedback.

nbgrader leaves autograding on submit out of its scope (jupyter/nbgrader#988). This service
watches the exchange's inbound folder of one course; for every new submission it runs what an
instructor would, for that one student: ``nbgrader collect --update``, the course's autograde
(``python -m instructor autograde``: sandboxed, the same grader), feedback, and
``nbgrader release_feedback``. The student presses *Fetch Feedback* a minute later. An
instructor can still change any grade in the formgrader and release the feedback again.

    python -m instructor.hub_service --course /srv/nn-course/course \
        --exchange /srv/nbgrader/exchange --course-id nn-practice-lecture-01

JupyterHub starts it (deploy/jupyterhub/jupyterhub_config.py, ``NN_COURSE_AUTOGRADE_ON_SUBMIT=1``)
as the grading account, and starts it again if it exits.

- **Never twice.** Each inbound entry (``student+assignment+timestamp+random``, one per
  submission) is recorded in ``<course>/.hub_service/state.json`` once its feedback is released;
  an entry that a newer submission of the same student replaced before it was graded is recorded
  as superseded (``nbgrader collect`` takes the newest), and one that an instructor already
  collected and autograded by hand as such.
- **Survives a restart.** The state file is rewritten atomically after every submission; on start
  the service grades what arrived while it was down. A submission interrupted half-way is graded
  again from the start (nothing of it was released).
- **Bursts queue.** One submission at a time, oldest first; the log says how many wait.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

STATE = Path(".hub_service") / "state.json"


def parse_entry(name: str) -> dict | None:
    """Split an inbound entry name into its parts.

    nbgrader names each submission ``{student}+{assignment}+{timestamp}+{random}``.

    Args:
        name: a folder name in ``<exchange>/<course id>/inbound``.

    Returns:
        ``{"entry", "student", "assignment", "timestamp"}``, or ``None`` for a name of another shape.

    Reference: nbgrader's ``ExchangeSubmit`` (nbgrader/exchange/default/submit.py).
    """
    parts = name.split("+")
    if len(parts) != 4 or not all(parts[:3]):
        return None
    return {"entry": name, "student": parts[0], "assignment": parts[1], "timestamp": parts[2]}


def load_state(course: Path) -> dict:
    path = Path(course) / STATE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"done": {}}


def save_state(course: Path, state: dict) -> None:
    path = Path(course) / STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a restart finds the old state or the new one


def pending(inbound: Path, state: dict, assignments=None) -> list[dict]:
    """Inbound submissions not yet handled, oldest first (nbgrader's timestamps sort as text)."""
    if not inbound.is_dir():
        return []
    found = []
    for path in inbound.iterdir():
        entry = parse_entry(path.name)
        if entry and entry["entry"] not in state["done"] and (not assignments or entry["assignment"] in assignments):
            found.append(entry)
    return sorted(found, key=lambda e: (e["timestamp"], e["entry"]))


def _die_with_parent() -> None:
    """In the child, before exec: the kernel kills it when the service dies (Linux PR_SET_PDEATHSIG).

    A service killed half-way must not leave a grader running that releases feedback after the
    restarted service has begun the same submission again.
    """
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _run(cmd: list[str], course: Path) -> None:
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    result = subprocess.run(cmd, cwd=course, capture_output=True, text=True, preexec_fn=preexec)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed (exit {result.returncode}):\n{tail}")


def graded_by_instructor(course: Path, entry: dict) -> bool:
    """Whether this submission is the one already collected and autograded (by an instructor's
    ``nbgrader collect`` and ``python -m instructor autograde``, before the service ran)."""
    stamp = Path(course) / "submitted" / entry["student"] / entry["assignment"] / "timestamp.txt"
    autograded = Path(course) / "autograded" / entry["student"] / entry["assignment"]
    return stamp.exists() and stamp.read_text(encoding="utf-8").strip() == entry["timestamp"] and autograded.is_dir()


def grade_submission(course: Path, assignment: str, student: str) -> None:
    """Collect, autograde, write feedback and release it, for one student's newest submission.

    The instructor's own commands, each in its own process, so a submission that breaks the
    grader cannot break the service. Autograde and feedback touch this student's submission only
    (``--student``), so a submission costs the same in a class of 10 or of 500.
    """
    py = sys.executable
    _run([py, "-m", "nbgrader", "collect", assignment, "--student", student, "--update"], course)
    one = ["--course", str(course), "--assignment", assignment, "--student", student]
    _run([py, "-m", "instructor", "autograde", *one, "--jobs", "1"], course)
    _run([py, "-m", "instructor", "feedback", *one], course)  # this student's pages only
    _run([py, "-m", "nbgrader", "release_feedback", assignment, "--student", student], course)


def serve(course: Path, exchange: Path, course_id: str, assignments=None, poll: float = 2.0,
          once: bool = False, log=print) -> dict:
    """Grade new submissions until stopped (or, with ``once``, until the queue is empty)."""
    course = Path(course).resolve()
    inbound = Path(exchange) / course_id / "inbound"
    state = load_state(course)
    log(f"hub_service: watching {inbound}; {len(state['done'])} submissions already handled")
    while True:
        queue = pending(inbound, state, assignments)
        if not queue:
            if once:
                return state
            time.sleep(poll)
            continue
        entry = queue[0]
        newer = [e for e in queue[1:] if (e["student"], e["assignment"]) == (entry["student"], entry["assignment"])]
        now = datetime.now(timezone.utc).isoformat()
        if newer or graded_by_instructor(course, entry):
            # collect takes the newest submission: this one was replaced before it was graded;
            # or an instructor collected and graded it by hand
            state["done"][entry["entry"]] = {"status": "superseded" if newer else "graded by an instructor", "at": now}
            save_state(course, state)
            continue
        log(f"hub_service: grading {entry['student']} {entry['assignment']} ({len(queue) - 1} waiting)")
        start = time.perf_counter()
        try:
            grade_submission(course, entry["assignment"], entry["student"])
            status = "released"
        except RuntimeError as exc:
            log(f"hub_service: {entry['student']} {entry['assignment']}: {exc}")
            status = "failed"  # the instructor grades it by hand; it is not retried in a loop
        state["done"][entry["entry"]] = {"status": status, "at": datetime.now(timezone.utc).isoformat(),
                                         "seconds": round(time.perf_counter() - start, 1)}
        save_state(course, state)
        log(f"hub_service: {entry['student']} {entry['assignment']}: {status} "
            f"({time.perf_counter() - start:.1f} s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.hub_service", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", required=True, help="the course directory")
    parser.add_argument("--exchange", default="/srv/nbgrader/exchange", help="nbgrader's exchange root")
    parser.add_argument("--course-id", default="nn-practice-lecture-01")
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable; default: all)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the inbound folder")
    parser.add_argument("--once", action="store_true", help="grade what is waiting, then exit")
    args = parser.parse_args(argv)
    serve(Path(args.course), Path(args.exchange), args.course_id, args.assignment, args.poll, args.once,
          log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
