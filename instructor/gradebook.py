"""The gradebook database: SQLite by default, PostgreSQL for real classes, safe under parallel graders.

Every verb opens the gradebook through nbgrader's ``Gradebook`` with :func:`gradebook_url`
(``GRADEBOOK_URL`` if set, else the course's ``gradebook.db``); nothing reads it with ``sqlite3``.

SQLite allows one writer at a time, and a transaction that starts as a reader and then writes
fails at once with "database is locked" when another process wrote in between (SQLite's busy
timeout does not help there). :func:`serialize_sqlite_writers` makes every SQLite transaction of
this process ``BEGIN IMMEDIATE``: it takes the write lock when it starts, so concurrent graders
queue (up to ``SQLITE_BUSY_SECONDS``) instead of failing, and each of nbgrader's short
transactions is applied whole or not at all. PostgreSQL needs nothing of the kind.

    sqlite:   transaction = BEGIN IMMEDIATE ... COMMIT   (one writer at a time, the others wait)

nbgrader opens a ``Gradebook`` about ten times per graded submission (the converter, then each
preprocessor), and each one creates a new SQLAlchemy engine: its cache of compiled statements
starts empty, so every query is compiled again. :func:`reuse_engines` keeps one engine per URL in
the process, as SQLAlchemy intends; ``Gradebook.close`` still disposes of its connections.

Reference: https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
Reference: https://docs.sqlalchemy.org/en/20/core/connections.html#basic-usage
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from .coursedir import gradebook_url

SQLITE_BUSY_SECONDS = 600  # far longer than any of nbgrader's transactions (milliseconds)
_installed = False


def serialize_sqlite_writers(target=None) -> None:
    """Make every SQLite transaction on ``target`` take the write lock when it begins.

    ``target`` is one SQLAlchemy engine, or by default SQLAlchemy's ``Engine`` class, installed
    once per process (the grader, each worker): that covers the engines nbgrader creates inside
    its own code. Other databases are untouched.
    """
    global _installed
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if target is None:
        if _installed:
            return
        target, _installed = Engine, True
    event.listen(target, "connect", _on_connect)
    event.listen(target, "begin", _on_begin)


#: Engines kept per process (one per database URL and options); the oldest goes beyond this many.
MAX_ENGINES = 32
_engines: dict = {}
_engines_lock = threading.Lock()


def reuse_engines() -> None:
    """Make nbgrader's ``Gradebook`` use one SQLAlchemy engine per database URL in this process.

    SQLAlchemy's engine is meant to be created once per URL and kept: it holds the cache of
    compiled SQL. nbgrader makes a new one for every ``Gradebook`` it opens, about ten times a
    submission, and so compiles each query anew. Sharing changes no query and no transaction:
    ``Gradebook.close`` disposes of the engine's pooled connections as before (SQLAlchemy makes
    new ones on the next use), and the compiled statements stay.
    """
    import nbgrader.api

    nbgrader.api.create_engine = shared_engine


def shared_engine(url, **kwargs):
    """``sqlalchemy.create_engine(url, **kwargs)``, made once per (url, kwargs) in this process."""
    from sqlalchemy import create_engine

    key = (str(url), tuple(sorted(kwargs.items())))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            if len(_engines) >= MAX_ENGINES:
                _engines.pop(next(iter(_engines))).dispose()
            engine = _engines[key] = create_engine(url, **kwargs)
    return engine


def _on_connect(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None  # no implicit BEGIN from the sqlite3 module
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")


def _on_begin(conn) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_gradebook(course, db_url: str | None = None):
    """nbgrader's ``Gradebook`` on the course's database (the course row is created if missing)."""
    from nbgrader.api import Gradebook

    serialize_sqlite_writers()
    reuse_engines()
    return Gradebook(db_url or gradebook_url(course), course_id=_course_id(course))


def _course_id(course) -> str:
    from traitlets.config import PyFileConfigLoader

    settings = PyFileConfigLoader("nbgrader_config.py", path=str(Path(course).resolve())).load_config().CourseDirectory
    return settings.course_id if "course_id" in settings else "default_course"


def prepare(course, students, db_url: str | None = None) -> None:
    """Before fanning out: the schema, the course row and every student exist, so parallel
    graders only ever update their own submission's rows (two graders creating the same student
    at once would collide on PostgreSQL)."""
    with open_gradebook(course, db_url) as gb:
        known = {s.id for s in gb.students}
        for student in sorted(set(students) - known):
            gb.update_or_create_student(student)


def submission_counts(course, db_url: str | None = None) -> dict[tuple[str, str], int]:
    """How many submission rows each (assignment, student) has (nbgrader keeps exactly one)."""
    from nbgrader.api import Assignment, Student, SubmittedAssignment
    from sqlalchemy import func

    with open_gradebook(course, db_url) as gb:
        rows = (gb.db.query(Assignment.name, Student.id, func.count(SubmittedAssignment.id))
                .join(SubmittedAssignment, SubmittedAssignment.assignment_id == Assignment.id)
                .join(Student, SubmittedAssignment.student_id == Student.id)
                .group_by(Assignment.name, Student.id).all())
    return {(a, s): n for a, s, n in rows}
