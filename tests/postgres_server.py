"""A real, throw-away PostgreSQL server for the tests: initdb into a temporary directory, the server
on a Unix socket only (no TCP port), stopped again by its PID.

PostgreSQL refuses to run as root; when the tests run as root the server runs as the system user
``postgres`` (Debian's package creates it), else ``nobody``. The binaries come from
``pg_config --bindir`` (Debian: /usr/lib/postgresql/<version>/bin); :func:`missing` says why the
tests cannot run when there are none.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


def bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists() and (Path(out) / "postgres").exists():
            return Path(out)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and (Path(initdb).parent / "postgres").exists() else None


def missing() -> str | None:
    """Why no server can start here (None if it can)."""
    if bindir() is None:
        return ("PostgreSQL server binaries not found (no `pg_config --bindir` with initdb and postgres); "
                "install them, e.g. `apt-get install -y postgresql`")
    return None


def _server_user() -> pwd.struct_passwd | None:
    if os.getuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and there is neither a 'postgres' nor a 'nobody' user to run PostgreSQL as")


class PostgresServer:
    """``with PostgresServer() as pg: pg.url("db")`` -> ``postgresql://postgres@/db?host=<socket dir>``."""

    def __init__(self):
        self.bin = bindir()
        self.user = _server_user()
        self.proc = None

    def _as_server_user(self):
        if self.user is not None:
            os.setgid(self.user.pw_gid)
            os.setgroups([])
            os.setuid(self.user.pw_uid)

    def __enter__(self):
        # mkdtemp in the system temporary directory: the server user must be able to reach it
        # (pytest's own tmp_path is private to the test user)
        self.dir = Path(tempfile.mkdtemp(prefix="course-pg-"))
        self.data, self.socket = self.dir / "data", self.dir / "socket"
        self.data.mkdir()
        self.socket.mkdir()
        if self.user is not None:
            for path in (self.dir, self.data, self.socket):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                        "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True, preexec_fn=self._as_server_user, env=env, cwd=self.dir)
        self.log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.socket), "-c", "listen_addresses=",
             "-c", "fsync=off", "-c", "max_connections=50"],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=self._as_server_user, env=env, cwd=self.dir)
        deadline = time.monotonic() + 60
        while not (self.socket / ".s.PGSQL.5432").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("PostgreSQL did not start:\n" + (self.dir / "server.log").read_text()[-3000:])
            time.sleep(0.1)
        subprocess.run([str(self.bin / "pg_isready"), "-h", str(self.socket), "-t", "30"], check=True,
                       capture_output=True)
        return self

    def createdb(self, name: str) -> str:
        """A new database ``name``; returns its URL."""
        import psycopg

        with psycopg.connect(host=str(self.socket), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@/{name}?host={self.socket}"

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # PostgreSQL's "fast shutdown"
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None) is not None:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
