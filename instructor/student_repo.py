"""``student-repo``: the public student repository, a git repository with one commit per release.

    python -m instructor student-repo                      # every released assignment
    python -m instructor student-repo --assignment ps1_activation_derivatives   # add/refresh one

builds ``build/student_repo/`` from the student tree (:func:`instructor.bundle.student_tree`:
lectures, released assignments, ``source_lib`` with its packaging, a student README, all stamped
for ``student_repository`` in pyproject.toml) and commits it, one commit per release whose message
names each assignment with its version, so the instructor can ``git push`` it to the public
remote. Assignments already in the student repository stay when ``--assignment`` names others.
It refuses to build when the tree would leak a solution or hidden test (``bundle_leaks``), and it
also builds ``source_lib``'s wheel into ``build/student_wheel/``, for students whose setup cell
cannot reach the repository (they upload the wheel next to the notebook).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .bundle import _project_version, _released, student_tree
from .coursedir import ROOT

AUTHOR = ("Course kit", "course-kit@localhost")  # the commits' author where git has no user configured


def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ)
    for key, value in (("GIT_AUTHOR_NAME", AUTHOR[0]), ("GIT_AUTHOR_EMAIL", AUTHOR[1]),
                       ("GIT_COMMITTER_NAME", AUTHOR[0]), ("GIT_COMMITTER_EMAIL", AUTHOR[1])):
        env.setdefault(key, value)
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}:\n{done.stderr.strip()}")
    return done.stdout.strip()


def assignment_version(notebook: Path) -> str:
    """An assignment's version: the first 8 hex digits of the SHA-256 of its released notebook."""
    return hashlib.sha256(Path(notebook).read_bytes()).hexdigest()[:8]


def release_message(repo: Path, course: Path) -> str:
    """The commit message of a release: one line naming each assignment and its version (new or
    changed ones first), then one line per assignment and the version of ``source_lib``."""
    status = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", "assignments").splitlines()
    lines, changed = [], []
    for name in _released(repo):
        notebook = repo / "assignments" / name / f"{name}.ipynb"
        mine = [line[:2] for line in status if line[3:].startswith(f"assignments/{name}/")]
        state = "new" if "??" in mine or "A " in mine else "changed" if mine else "unchanged"
        lines.append(f"- {name} {assignment_version(notebook)} ({state})")
        if state != "unchanged":
            changed.append(f"{name} {assignment_version(notebook)}")
    title = "Release " + (", ".join(changed) if changed else "(lectures and source_lib only)")
    return "\n".join([title, "", *lines, f"- source_lib {_project_version(course)}"]) + "\n"


def build_wheel(source: Path, out_dir: Path) -> Path:
    """``pip wheel`` of ``source`` (no dependencies) into ``out_dir`` (emptied first); return the wheel."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:  # build from a copy: no build/ or egg-info in the repo
        copy = Path(tmp) / "src"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".git"))
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                               "-w", str(out_dir), str(copy)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the source_lib wheel failed:\n{done.stdout}{done.stderr}")
    wheels = sorted(out_dir.glob("source_lib-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one source_lib wheel in {out_dir}, found {[w.name for w in wheels]}")
    return wheels[0]


def student_repo(course=ROOT, out_dir=None, assignments=None, url: str | None = None, wheel: bool = True,
                 log=print) -> tuple[Path, str | None]:
    """Build the student repository and commit this release.

    Args:
        course: the instructors' course directory.
        out_dir: the student repository (default: ``build/student_repo``); created on first use,
            its git history kept afterwards.
        assignments: the assignments to release now (default: every released one); those already
            in the student repository stay.
        url: the student repository's public URL (default: ``[tool.course].student_repository``).
        wheel: also build ``source_lib``'s wheel into ``build/student_wheel/`` (beside ``out_dir``).
        log: where progress lines go.

    Returns:
        ``(out_dir, commit)``: the commit's hash, or None when nothing changed since the last release.
    """
    course = Path(course)
    out_dir = Path(out_dir) if out_dir else course / "build" / "student_repo"
    names = set(_released(course) if assignments is None else assignments)
    if assignments is not None and out_dir.is_dir():
        names |= set(_released(out_dir)) & set(_released(course))  # released before: kept
    with tempfile.TemporaryDirectory() as tmp:
        tree = student_tree(course, Path(tmp) / "tree", sorted(names), url)  # raises on a leak
        if not (out_dir / ".git").is_dir():
            out_dir.mkdir(parents=True, exist_ok=True)
            _git(out_dir, "init", "-q", "-b", "main")
        for entry in out_dir.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        for entry in tree.iterdir():
            (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, out_dir / entry.name)
    message = release_message(out_dir, course)
    _git(out_dir, "add", "-A")
    commit = None
    if _git(out_dir, "status", "--porcelain"):
        _git(out_dir, "commit", "-q", "-m", message)
        commit = _git(out_dir, "rev-parse", "HEAD")
        log(f"student-repo: {out_dir}: committed {commit[:8]} {message.splitlines()[0]}")
    else:
        log(f"student-repo: {out_dir}: nothing changed since the last release")
    if wheel:
        built = build_wheel(out_dir, out_dir.parent / "student_wheel")
        log(f"student-repo: wheel {built} (upload it as a release asset of the student repository)")
    return out_dir, commit
