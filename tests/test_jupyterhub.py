"""The course on a real JupyterHub: deploy/jupyterhub/ brought up on 127.0.0.1 and a whole cycle.

The fixture does what the admin guide says (instructor/README.md, "Running the course on
JupyterHub"): deploy/jupyterhub/install.sh builds the course environment, add_users.sh makes real
Unix users (an instructor and two students), configurable-http-proxy comes from npm, and the hub
runs deploy/jupyterhub/jupyterhub_config.py (plus one API token for the test). Everything else
goes through the REST APIs of the hub and of the users' servers, as a browser would: the
students fetch, work (their code runs in their own kernels, as themselves), Validate and submit;
the instructor releases, collects, autogrades and releases feedback from a kernel of the
formgrader service (the grading account, in the course directory).

Then the opt-in autograde-on-submit service: the hub restarts with it, the students submit again
at once, the service is killed half-way, and the feedback still appears, graded once each.

Needs root (users, setuid spawning) and the network for the first run only (the course
environment and the proxy are cached in NN_HUB_TEST_CACHE, default /var/cache/nn-course-hub-test).
On a machine without that cache (CI's) their downloads start in the background when the session's
tests are collected (tests/conftest.py, :func:`start_prebuild`), so that they overlap the tests
before this module; the fixture waits for them, then runs install.sh as the admin guide says.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "jupyterhub"
sys.path.insert(0, str(ROOT))
from instructor import submissions as S  # noqa: E402

from conftest import HUB_PREBUILD  # noqa: E402

# the module's fixtures run inside its first test: pytest-timeout must allow the whole cycle
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

A = "ps1_activation_derivatives"
COURSE_ID = "nn-practice-lecture-01"
INSTRUCTOR, S1, S2 = "nnhub-inst", "nnhub-s1", "nnhub-s2"
USERS = (INSTRUCTOR, S1, S2)
GRADER, GROUPS = "nnhub-grader", ("nnhub-instructors", "nnhub-students")
# what the partial student leaves blank (submissions.PARTIAL_BLANK) and the tests that costs
PARTIAL_LOST = {"test_mish", "test_derivative_table"}
CACHE = Path(os.environ.get("NN_HUB_TEST_CACHE", "/var/cache/nn-course-hub-test"))
TIMINGS: dict[str, float] = {}

if os.geteuid() != 0:
    pytest.skip("the JupyterHub test creates Unix users and spawns servers as them: it needs root "
                "(CI runs as root)", allow_module_level=True)

import requests  # noqa: E402  (jupyterlab_server's dependency, in the course extra)
import websocket  # noqa: E402  (websocket-client, jupyter_server's dependency)


# --- the pre-build: the course environment's downloads, started at collection -------------------

PREFIX = CACHE / "env"  # the course environment (NN_COURSE_PREFIX of install.sh)
CHP = CACHE / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
PYTHON = "/usr/bin/python3"  # install.sh's default NN_COURSE_PYTHON
BASE_ENV = {"PATH": f"{PREFIX / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8"}


def _npm_install() -> list[str]:
    npm = shutil.which("npm")
    assert npm, "npm is needed to install configurable-http-proxy (apt-get install npm)"
    return [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(CACHE / "chp"),
            "configurable-http-proxy"]


def start_prebuild(base: Path) -> subprocess.Popen | None:
    """Start filling the cache in the background; return the running build (None: nothing to do).

    What takes the first start of the hub two minutes is downloads and unpacking: the course
    environment's packages (TensorFlow, Jupyter, JupyterHub: ``pip install`` of this checkout with
    the course and hub extras, as install.sh does it, into ``PREFIX``, a venv of install.sh's
    Python) and ``npm install configurable-http-proxy``, the two side by side. tests/conftest.py
    starts this when the selected tests are known and one of them needs the hub, so that it
    overlaps the tests before this module; the :func:`hub` fixture waits for it and then runs
    install.sh itself, whose pip step then finds every dependency installed and only reinstalls
    the course package from this checkout. A cache already complete (the marker ``env.ok``,
    written when the environment's build last succeeded, and the proxy) is left as it is.
    An environment without the marker (a build that was interrupted) is built again from scratch.

    Args:
        base: an empty directory of the session's temporary tree (the build's log: ``prebuild.log``).
    """
    marker = CACHE / "env.ok"
    if marker.exists() and CHP.exists() and (PREFIX / "bin" / "jupyterhub").exists():
        return None
    q = shlex.quote
    py = q(str(PREFIX / "bin" / "python"))
    clean = "env -i " + " ".join(q(f"{k}={v}") for k, v in BASE_ENV.items())  # what install.sh gets from the fixture
    env_build = (f"rm -f {q(str(marker))} && "
                 f"if [ -e {q(str(PREFIX))} ]; then rm -rf {q(str(PREFIX))}; fi && "
                 f"{clean} {q(PYTHON)} -m venv {q(str(PREFIX))} && "
                 f"{clean} {py} -m pip install -q --upgrade pip && "
                 f"{clean} {py} -m pip install -q --upgrade {q(f'{ROOT}[course,hub]')} && "
                 f"touch {q(str(marker))}")
    if marker.exists() and (PREFIX / "bin" / "jupyterhub").exists():
        env_build = "true"
    chp = "true" if CHP.exists() else " ".join(map(q, _npm_install()))
    # both at once (pip mostly waits on the network and the disk; npm too); the status: pip's, else npm's
    script = (f"set -u; umask 022; mkdir -p {q(str(CACHE))}; ({chp}) & npm=$!; ({env_build}); pip=$?; "
              f"wait $npm; npm=$?; echo \"prebuild: pip $pip, npm $npm\"; [ $pip = 0 ] && [ $npm = 0 ]")
    with open(base / "prebuild.log", "wb") as log:
        return subprocess.Popen(["/bin/sh", "-c", script], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


# --- small helpers ----------------------------------------------------------------------------


def _free_ports(n: int) -> int:
    """The first of ``n`` consecutive free ports on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65000:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


def _wait(what: str, check, timeout: float, every: float = 0.5):
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _pids_of(user: str) -> list[int]:
    out = subprocess.run(["pgrep", "-u", user], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _kill_user_processes(user: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _pids_of(user):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if not _pids_of(user):
            return
        time.sleep(2)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _remove_users() -> None:
    for user in USERS + (GRADER,):
        if _user_exists(user):
            _kill_user_processes(user)
            subprocess.run(["userdel", "--remove", user], capture_output=True)
    for group in GROUPS:
        subprocess.run(["groupdel", group], capture_output=True)


class Hub:
    """A running hub: its URL, an admin token, and the users' tokens."""

    def __init__(self, run: Path, env: dict, prefix: Path):
        self.run, self.env, self.prefix = run, env, prefix
        self.url = f"http://127.0.0.1:{env['NN_COURSE_HUB_PORT']}"
        self.token = secrets.token_hex(24)
        self.tokens: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        self.log_path = run / "hub.log"

    def write_config(self) -> Path:
        path = self.run / "test_hub_config.py"
        path.write_text(
            "c = get_config()  # noqa: F821\n"
            f"load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})  # noqa: F821\n"
            "# the test's own admin token (users never log in: the test acts with their API tokens)\n"
            f"c.JupyterHub.services.append({{'name': 'nnhub-test', 'api_token': {self.token!r}}})\n"
            "c.JupyterHub.load_roles.append({'name': 'nnhub-test', 'services': ['nnhub-test'],\n"
            "    'scopes': ['admin:users', 'admin:servers', 'tokens', 'list:services', 'read:services']})\n",
            encoding="utf-8")
        return path

    def start(self, **extra_env) -> float:
        start = time.monotonic()
        env = dict(self.env, **extra_env)
        log = open(self.log_path, "a", encoding="utf-8")
        self.proc = subprocess.Popen([str(self.prefix / "bin" / "jupyterhub"), "-f", str(self.write_config())],
                                     cwd=env["NN_COURSE_HUB_STATE"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                return self.api("GET", "/").status_code == 200
            except requests.ConnectionError:
                return False

        _wait("the hub", up, 180)
        return time.monotonic() - start

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        pidfile = Path(self.env["NN_COURSE_HUB_STATE"]) / "jupyterhub-proxy.pid"
        if pidfile.exists():  # the proxy normally stops with the hub
            try:
                pid = int(pidfile.read_text().strip())
                os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                return
            # wait until it is gone: a restarted hub whose new proxy finds the old one still holding
            # the public port exits ("Repeated api_request to proxy path failed", seen in CI)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])

    def api(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}",
                                headers={"Authorization": f"token {self.token}"}, timeout=60, **kw)

    def start_servers(self, users) -> dict[str, float]:
        """Spawn the users' servers all at once (a class logging in together), then wait for each;
        the seconds from the first request until each one was ready."""
        start = time.monotonic()
        for user in users:
            r = self.api("POST", f"/users/{user}/server")
            assert r.status_code in (201, 202, 400), r.text  # 400: already running
        ready = {}
        for user in users:
            _wait(f"{user}'s server",
                  lambda: self.api("GET", f"/users/{user}").json()["servers"].get("", {}).get("ready"), 240, every=1)
            ready[user] = time.monotonic() - start
        return ready

    def user_token(self, user: str) -> str:
        if user not in self.tokens:
            r = self.api("POST", f"/users/{user}/tokens", json={"note": "tests/test_jupyterhub.py"})
            assert r.status_code == 201, r.text
            self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    def server(self, user: str, prefix: str | None = None) -> "Server":
        return Server(self, self.user_token(user), prefix or f"/user/{user}")


class Server:
    """One single-user server (or the formgrader service) through its REST and kernel APIs."""

    def __init__(self, hub: Hub, token: str, prefix: str):
        self.hub, self.token, self.base = hub, token, f"{hub.url}{prefix}"
        self.headers = {"Authorization": f"token {token}"}

    def request(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", headers=self.headers, timeout=300,
                                allow_redirects=False, **kw)

    def action(self, action: str, **data) -> dict:
        """An Assignments-tab button: fetch, submit, fetch_feedback (nbgrader's assignment_list API)."""
        r = self.request("POST", f"/assignments/{action}", json=dict(course_id=COURSE_ID, **data))
        assert r.status_code == 200, r.text
        return r.json()

    def assignments(self) -> list[dict]:
        r = self.request("GET", "/assignments", params={"course_id": COURSE_ID})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"], body
        return body["value"]

    def read_notebook(self, path: str):
        r = self.request("GET", f"/api/contents/{path}", params={"content": 1})
        assert r.status_code == 200, r.text
        return nbformat.from_dict(r.json()["content"])

    def write_notebook(self, path: str, nb) -> None:
        r = self.request("PUT", f"/api/contents/{path}", json={"type": "notebook", "format": "json", "content": nb})
        assert r.status_code in (200, 201), r.text

    def kernel(self) -> "Kernel":
        return Kernel(self)


class Kernel:
    """A kernel started through ``/api/kernels`` and driven over its websocket, as Lab does."""

    def __init__(self, server: Server):
        self.server = server
        r = server.request("POST", "/api/kernels", json={"name": "python3"})
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        self.session = uuid.uuid4().hex

    def execute(self, code: str, timeout: float = 240) -> list:
        """Run ``code``; returns its outputs as nbformat output nodes.

        One websocket per request: the server closes a socket whose pings go unanswered, and
        websocket-client answers them only while it reads.
        """
        url = self.server.base.replace("http://", "ws://") + f"/api/kernels/{self.id}/channels"
        ws = websocket.create_connection(url, header=[f"Authorization: token {self.server.token}"], timeout=timeout)
        try:
            return self._execute(ws, code, timeout)
        finally:
            ws.close()

    def _execute(self, ws, code: str, timeout: float) -> list:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": self.session, "msg_type": "execute_request",
                       "version": "5.3", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": False},
        }))
        outputs, idle, replied = [], False, False
        end = time.monotonic() + timeout
        while not (idle and replied):
            if time.monotonic() > end:
                raise TimeoutError(f"kernel did not finish in {timeout} s: {code[:200]}")
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if msg["channel"] == "shell" and kind == "execute_reply":
                replied = True
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            elif kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append(nbformat.v4.output_from_msg(msg))
        return outputs

    def run_json(self, code: str, timeout: float = 240):
        """Run ``code`` whose last line prints one JSON value; returns that value."""
        outs = self.execute(code, timeout)
        text = "".join(o.get("text", "") for o in outs if o.output_type == "stream" and o.name == "stdout")
        errors = [o for o in outs if o.output_type == "error"]
        assert not errors, "\n".join(errors[0].get("traceback", []))
        return json.loads(text.strip().splitlines()[-1])

    def run_notebook(self, nb) -> None:
        """Execute every code cell in order and keep its outputs (what "Run All" does)."""
        for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), 1):
            cell.outputs = self.execute(cell.source)
            cell.execution_count = count

    def shell(self, command: str, timeout: float = 300) -> str:
        """A shell command run by the kernel's user in the server's root (a terminal, in effect)."""
        result = self.run_json(
            "import json, subprocess\n"
            f"r = subprocess.run({command!r}, shell=True, capture_output=True, text=True)\n"
            "print(json.dumps([r.returncode, r.stdout[-6000:] + r.stderr[-6000:]]))", timeout)
        assert result[0] == 0, f"{command} failed:\n{result[1]}"
        return result[1]

    def close(self) -> None:
        self.server.request("DELETE", f"/api/kernels/{self.id}")


# --- the fixture: install, users, hub --------------------------------------------------------


def _assert_installed_from_this_checkout(prefix: Path, since: float) -> None:
    """install.sh (re)installed the course package, not editable, and it is this checkout's code:
    with a pre-built environment its pip step must still replace what the pre-build installed."""
    (dist,) = prefix.glob("lib/python3*/site-packages/source_lib-*.dist-info")
    assert (dist / "RECORD").stat().st_mtime >= since - 1, "install.sh did not reinstall the course package"
    assert not list(dist.parent.glob("__editable__*source_lib*")), "the course package is installed editable"
    for package in ("source_lib", "instructor"):
        for src in (ROOT / package).rglob("*.py"):
            installed = dist.parent / src.relative_to(ROOT)
            assert installed.exists() and installed.read_bytes() == src.read_bytes(), installed


@pytest.fixture(scope="module")
def hub(request):
    t0 = time.monotonic()
    build = request.config.stash.get(HUB_PREBUILD, None)  # started at collection (tests/conftest.py)
    if build is not None:
        proc, base = build
        proc.wait()
        log = (base / "prebuild.log").read_text(encoding="utf-8", errors="replace")
        assert proc.returncode == 0, f"pre-building the course environment failed:\n{log[-6000:]}"
        TIMINGS["waited for the pre-build"] = time.monotonic() - t0
    chp = CHP
    if not chp.exists():  # no pre-build (pytest-xdist)
        subprocess.run(_npm_install(), check=True)
    _remove_users()  # a previous run that was killed before its clean-up
    run = Path(tempfile.mkdtemp(prefix="nnhub-", dir="/var/tmp"))
    run.chmod(0o755)  # the students reach the exchange inside it
    prefix = PREFIX
    base = _free_ports(3)
    env = {
        **BASE_ENV, "NN_COURSE_PREFIX": str(prefix), "NN_COURSE_DIR": str(run / "course"),
        "NN_COURSE_EXCHANGE": str(run / "exchange"), "NN_COURSE_HUB_STATE": str(run / "hub"),
        "NN_COURSE_ID": COURSE_ID, "NN_COURSE_GRADER": GRADER, "NN_COURSE_INSTRUCTORS": GROUPS[0],
        "NN_COURSE_STUDENTS": GROUPS[1], "NN_COURSE_HUB_PORT": str(_free_ports(1)),
        "NN_COURSE_INTERNAL_PORT": str(base), "NN_COURSE_CHP": str(chp),
    }
    hub = Hub(run, env, prefix)
    try:
        t, since = time.monotonic(), time.time()
        done = subprocess.run([str(DEPLOY / "install.sh")], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        TIMINGS["install.sh"] = time.monotonic() - t
        _assert_installed_from_this_checkout(prefix, since)
        for kind, names in (("instructor", [INSTRUCTOR]), ("student", [S1, S2])):
            done = subprocess.run([str(DEPLOY / "add_users.sh"), kind, *names], env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
        TIMINGS["hub start"] = hub.start()
        r = hub.api("POST", "/users", json={"usernames": list(USERS)})
        assert r.status_code in (201, 409), r.text
        for user, seconds in hub.start_servers(USERS).items():
            TIMINGS[f"server start {user}"] = seconds
        TIMINGS["fixture"] = time.monotonic() - t0
        yield hub
    finally:
        for user in USERS:
            try:
                hub.api("DELETE", f"/users/{user}/server")
            except requests.RequestException:
                pass
        hub.stop()
        _remove_users()
        shutil.rmtree(run, ignore_errors=True)
        print("\nJupyterHub test timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items()))


# --- the cycle --------------------------------------------------------------------------------


def _grades(course: Path, student: str) -> dict[str, float]:
    """Auto-graded points per test cell, read from the gradebook as root."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(A, A, student)
        return {g.name: g.auto_score for g in nb.grades if g.auto_score is not None}


def _rubric() -> dict[str, float]:
    master = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in master.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def _work(hub: Hub, student: str, skip=()) -> dict:
    """A student fetches, fills in the solutions (all, or all but ``skip``), runs, validates, submits."""
    server = hub.server(student)
    listed = server.action("fetch", assignment_id=A)
    assert listed["success"], listed
    path = f"{A}/{A}.ipynb"
    fetched = server.read_notebook(path)
    assert [c.source for c in fetched.cells] == [c.source for c in S.blank(ROOT, A).cells]
    nb = S.filled(ROOT, A, skip=skip)
    kernel = server.kernel()
    try:
        kernel.run_notebook(nb)
    finally:
        kernel.close()
    server.write_notebook(path, nb)
    r = server.request("POST", "/assignments/validate", json={"path": path})
    assert r.status_code == 200, r.text
    validation = r.json()
    submitted = server.action("submit", assignment_id=A)
    assert submitted.get("success"), submitted
    return {"validation": validation, "nb": nb}


@pytest.fixture(scope="module")
def cycle(hub):
    t0 = time.monotonic()
    course = Path(hub.env["NN_COURSE_DIR"])
    grader = hub.server(INSTRUCTOR, prefix=f"/services/{COURSE_ID}")
    instructor = grader.kernel()
    out = {"course": course}
    try:
        steps = [
            ("release", lambda: instructor.shell(f"python -m instructor release --course . --assignment {A}"
                                                 f" && nbgrader release_assignment {A}")),
            ("perfect", lambda: _work(hub, S1)),
            ("partial", lambda: _work(hub, S2, skip=S.PARTIAL_BLANK[A])),
            ("collect", lambda: instructor.shell(f"nbgrader collect {A}")),
            ("autograde", lambda: instructor.shell(f"python -m instructor autograde --course . --assignment {A}", 600)),
            ("feedback", lambda: instructor.shell(f"python -m instructor feedback --course . --assignment {A}")),
            ("release_feedback", lambda: instructor.shell(f"nbgrader release_feedback {A}")),
        ]
        for name, step in steps:
            t = time.monotonic()
            out[name] = step()
            TIMINGS[name] = time.monotonic() - t
        out["formgrader"] = grader.request("GET", "/formgrader/api/assignments").json()
    finally:
        instructor.close()
    for student in (S1, S2):
        server = hub.server(student)
        server.action("fetch_feedback", assignment_id=A)
        out[f"feedback {student}"] = {
            p: server.request("GET", f"/api/contents/{p}", params={"content": 1}).json()["content"]
            for p in _feedback_pages(server)}
    TIMINGS["cycle"] = time.monotonic() - t0
    if os.environ.get("NN_HUB_TEST_SCREENSHOTS"):
        _screenshots(hub, Path(os.environ["NN_HUB_TEST_SCREENSHOTS"]))
    return out


def _login_cookies(hub: Hub, user: str) -> list[dict]:
    """Log ``user`` in through the hub's login form (PAM, a password set for the purpose)."""
    password = secrets.token_hex(12)
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
    session = requests.Session()
    form = session.get(f"{hub.url}/hub/login", timeout=60)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
    r = session.post(f"{hub.url}/hub/login", data={"username": user, "password": password, "_xsrf": xsrf},
                     allow_redirects=False, timeout=60)
    assert r.status_code == 302, (r.status_code, r.text[:500])
    return [{"name": c.name, "value": c.value, "domain": "127.0.0.1", "path": c.path or "/"} for c in session.cookies]


def _screenshot(chromium: str, url: str, cookies: list[dict], out: Path, settle: float = 12.0) -> None:
    """One headless-Chromium screenshot of ``url`` with ``cookies``, over the DevTools protocol."""
    port = _free_ports(1)
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             f"--remote-debugging-port={port}", "--window-size=1400,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            def page_target():
                try:
                    return next(t for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                                if t["type"] == "page")
                except (requests.ConnectionError, StopIteration):
                    return None

            ws = websocket.create_connection(_wait("Chromium", page_target, 60)["webSocketDebuggerUrl"], timeout=60)
            ids = iter(range(1, 1000))

            def call(method, **params):
                n = next(ids)
                ws.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    msg = json.loads(ws.recv())
                    if msg.get("id") == n:
                        return msg.get("result", {})

            for cookie in cookies:
                call("Network.setCookie", **cookie)
            call("Page.navigate", url=url)
            time.sleep(settle)  # Lab and the formgrader draw themselves after the page loads
            out.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
            ws.close()
        finally:
            os.kill(browser.pid, signal.SIGKILL)
            browser.wait(10)


def _screenshots(hub: Hub, folder: Path) -> None:
    """Headless-Chromium pictures of the formgrader and of a student's Assignments tab (opt-in)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "NN_HUB_TEST_SCREENSHOTS needs Chromium (apt-get install chromium)"
    folder.mkdir(parents=True, exist_ok=True)
    tab = "nbgrader-assignment-list:nbgrader-assignment-list"  # the plugin's layout-restorer key
    workspace = {"data": {"layout-restorer:data": {"main": {"dock": {"type": "tab-area", "currentIndex": 0,
                                                                      "widgets": [tab]}, "current": tab},
                                                   "left": {"collapsed": True, "widgets": []}},
                          tab: {"data": {}}}, "metadata": {"id": "assignments"}}
    r = hub.server(S1).request("PUT", "/lab/api/workspaces/assignments", json=workspace)
    assert r.status_code in (200, 204), r.text
    _screenshot(chromium, f"{hub.url}/services/{COURSE_ID}/formgrader", _login_cookies(hub, INSTRUCTOR),
                folder / "formgrader.png")
    _screenshot(chromium, f"{hub.url}/user/{S1}/lab/workspaces/assignments", _login_cookies(hub, S1),
                folder / "student_assignments.png", settle=20)


def _feedback_pages(server: Server) -> list[str]:
    """Every feedback page in the student's home (``<assignment>/feedback/<timestamp>/*.html``)."""
    pages = []
    r = server.request("GET", f"/api/contents/{A}/feedback")
    if r.status_code != 200:
        return pages
    for folder in r.json()["content"]:
        for item in server.request("GET", f"/api/contents/{folder['path']}").json()["content"]:
            if item["name"].endswith(".html"):
                pages.append(item["path"])
    return sorted(pages)


def test_validate_passes_for_the_complete_notebook(cycle):
    result = cycle["perfect"]["validation"]
    assert result["success"] and result["value"] == {}, result  # nbgrader's Validator: {} is "all passed"


def test_validate_reports_the_blank_questions(cycle):
    result = cycle["partial"]["validation"]
    assert result["success"], result
    failed = result["value"]["failed"]
    assert failed and all("NotImplementedError" in f["raw_error"] for f in failed), failed


def test_scores_full_and_exactly_the_partial_marks(cycle):
    rubric = _rubric()
    assert _grades(cycle["course"], S1) == rubric
    partial = _grades(cycle["course"], S2)
    assert partial == {q: (0.0 if q in PARTIAL_LOST else p) for q, p in rubric.items()}


def test_autograde_on_the_hub_ran_in_the_sandbox(cycle):
    for student in (S1, S2):
        note = json.loads((cycle["course"] / "autograded" / ".course" / A / f"{student}.json").read_text())
        assert note["graded"] and note["sandboxed"] is True, note


def test_formgrader_sees_the_course(cycle):
    assert A in {a["name"] for a in cycle["formgrader"]}, cycle["formgrader"]


def _page_scores(page: str) -> tuple[float, dict[str, float]]:
    """The total and the per-test scores a feedback page shows (nbgrader's feedback template)."""
    total = re.search(r"\(Score: ([\d.]+) / [\d.]+\)</h4>", page)
    tests = re.findall(r'<a href="#([\w-]+)">Test cell</a> \(Score: ([\d.]+) / [\d.]+\)', page)
    assert total, page[:2000]
    return float(total.group(1)), {q: float(v) for q, v in tests}


def test_each_student_has_their_feedback_and_nobody_elses(cycle):
    rubric = _rubric()
    expected = {S1: rubric, S2: {q: (0.0 if q in PARTIAL_LOST else p) for q, p in rubric.items()}}
    for student, scores in expected.items():
        pages = cycle[f"feedback {student}"]
        assert len(pages) == 1, pages  # one page: their own, and not the other student's
        assert _page_scores(next(iter(pages.values()))) == (sum(scores.values()), scores), student


PROBE = """
import json, os
def attempt(how, path):
    try:
        os.listdir(path) if how == "list" else open(path, "rb").read(1)
        return "allowed"
    except OSError as exc:
        return type(exc).__name__
print(json.dumps({f"{how} {path}": attempt(how, path) for how, path in %r}))
"""


def test_a_student_reads_neither_the_course_nor_another_students_files(hub, cycle):
    course, exchange = Path(hub.env["NN_COURSE_DIR"]), Path(hub.env["NN_COURSE_EXCHANGE"])
    other_home = Path(pwd.getpwnam(S2).pw_dir)
    targets = [
        ("list", str(course)), ("read", str(course / "solutions" / A / f"{A}.ipynb")),
        ("read", str(course / "gradebook.db")), ("list", str(course / "submitted")),
        ("read", str(course / "submitted" / S2 / A / f"{A}.ipynb")),
        ("list", str(other_home)), ("read", str(other_home / A / f"{A}.ipynb")),
        ("list", str(exchange / COURSE_ID / "inbound")),
    ]
    for target in targets:  # each exists: a denial is a denial, not a typo
        assert Path(target[1]).exists(), target
    kernel = hub.server(S1).kernel()
    try:
        seen = kernel.run_json(PROBE % (targets,))
        own = kernel.run_json(PROBE % ([("read", f"{A}/{A}.ipynb")],))
    finally:
        kernel.close()
    assert all(v == "PermissionError" for v in seen.values()), seen
    assert list(own.values()) == ["allowed"], own  # the probe itself can read


def test_students_have_no_formgrader_and_no_create_assignment(hub, cycle):
    student = hub.server(S1)
    assert student.request("GET", "/formgrader").status_code == 404  # server extension off
    page = student.request("GET", "/lab").text
    data = json.loads(page.split('id="jupyter-config-data" type="application/json">')[1].split("</script>")[0])
    disabled = set(data["disabledExtensions"])
    instructor_only = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"}
    assert instructor_only <= disabled, disabled
    # the attack: switch it back on through Lab's plugin manager (JupyterLab >= 4.1 allows it
    # for a plugin disabled but not locked); install.sh locks them
    for plugin in instructor_only:
        r = student.request("POST", "/lab/api/plugins", json={"cmd": "enable", "plugin_name": plugin})
        assert r.status_code != 201 and "locked" in r.text, (plugin, r.status_code, r.text[:300])
    assert "@jupyter/nbgrader:assignment-list" not in disabled
    r = hub.server(S1, prefix=f"/services/{COURSE_ID}").request("GET", "/api/status")
    assert r.status_code == 403, r.status_code
    # the instructor's own server is a student's server; the formgrader service is theirs
    assert hub.server(INSTRUCTOR, prefix=f"/services/{COURSE_ID}").request("GET", "/api/status").status_code == 200


# --- autograde on submit ------------------------------------------------------------------------


def _service_pid(hub: Hub) -> int | None:
    """PID of the autograde service's main process (the grading account's, by command line)."""
    for pid in _pids_of(GRADER):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"instructor.hub_service" in argv:
            return pid
    return None


def _parent(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    return int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))


def _service_lines(hub: Hub) -> list[str]:
    text = hub.log_path.read_text(encoding="utf-8", errors="replace")
    return [line.split("hub_service: ", 1)[1] for line in text.splitlines() if "hub_service: " in line]


def _latest_feedback(server: Server, after: str) -> dict | None:
    """The student's submission newer than ``after`` once its feedback is in the exchange."""
    for item in server.assignments():
        if item["assignment_id"] == A and item["status"] == "submitted":
            for sub in item["submissions"]:
                if sub["timestamp"] > after and sub.get("has_exchange_feedback"):
                    return sub
    return None


@pytest.fixture(scope="module")
def on_submit(hub, cycle):
    """Hub restarted with the service; both students resubmit at once; the service is killed once."""
    course = Path(hub.env["NN_COURSE_DIR"])
    hub.stop()
    TIMINGS["hub restart with the service"] = hub.start(NN_COURSE_AUTOGRADE_ON_SUBMIT="1")
    for user in (S1, S2):  # their servers kept running through the restart (cleanup_servers = False)
        assert hub.api("GET", f"/users/{user}").json()["servers"][""]["ready"]
    state = course / ".hub_service" / "state.json"
    _wait("the service to see the instructor-graded submissions",
          lambda: state.exists() and len(json.loads(state.read_text())["done"]) >= 2, 120)
    before = dict(json.loads(state.read_text())["done"])

    # S2 finishes the blank questions; S1 resubmits as is. Then both press Submit at once.
    s2 = hub.server(S2)
    path = f"{A}/{A}.ipynb"
    nb = S.filled(ROOT, A)
    kernel = s2.kernel()
    try:
        kernel.run_notebook(nb)
    finally:
        kernel.close()
    s2.write_notebook(path, nb)
    last = max(sub["timestamp"] for item in s2.assignments() if item["status"] == "submitted"
               for sub in item["submissions"])
    submitted_at = {}
    for student in (S1, S2):
        assert hub.server(student).action("submit", assignment_id=A).get("success")
        submitted_at[student] = time.monotonic()

    # kill the service while it grades the first of them; the hub starts it again
    _wait("the service to start grading", lambda: any(l.startswith("grading") for l in _service_lines(hub)), 120)
    killed = _service_pid(hub)
    assert killed
    children = [p for p in _pids_of(GRADER) if _parent(p) == killed]  # the step it was running
    os.kill(killed, signal.SIGKILL)
    _wait("the hub to restart the service", lambda: (_service_pid(hub) or killed) != killed, 60)

    seconds, pages = {}, {}
    pending = {S1, S2}
    end = time.monotonic() + 600  # a busy 2-core machine: ~2 min per submission
    while pending and time.monotonic() < end:
        for student in sorted(pending):
            sub = _latest_feedback(hub.server(student), last)
            if sub:
                seconds[student] = time.monotonic() - submitted_at[student]
                pending.discard(student)
        time.sleep(1)
    assert not pending, f"no feedback for {pending} after 600 s:\n" + "\n".join(_service_lines(hub))
    for student in (S1, S2):
        server = hub.server(student)
        server.action("fetch_feedback", assignment_id=A)
        pages[student] = {p: server.request("GET", f"/api/contents/{p}", params={"content": 1}).json()["content"]
                          for p in _feedback_pages(server)}
    time.sleep(6)  # three polls more: nothing is graded again
    for student, s in seconds.items():
        TIMINGS[f"submit to feedback {student}"] = s
    return dict(course=course, before=before, after=json.loads(state.read_text())["done"], lines=_service_lines(hub),
                killed=killed, children=children, seconds=seconds, pages=pages)


def test_feedback_appears_after_submit_without_an_instructor(on_submit):
    rubric = _rubric()
    assert _grades(on_submit["course"], S2) == rubric  # S2 finished the blank questions: full marks now
    for student in (S1, S2):
        assert len(on_submit["pages"][student]) == 2, on_submit["pages"][student]  # the first and this one
        newest = on_submit["pages"][student][max(on_submit["pages"][student])]
        assert _page_scores(newest) == (sum(rubric.values()), rubric), student


def test_the_service_never_grades_a_submission_twice(on_submit):
    before, after = on_submit["before"], on_submit["after"]
    # the instructor's grading counts: the first submissions were not graded again
    assert all(v["status"] == "graded by an instructor" for v in before.values()), before
    new = {k: v for k, v in after.items() if k not in before}
    assert sorted(k.split("+")[0] for k in new) == [S1, S2], new
    assert all(v["status"] == "released" for v in new.values()), new
    released = [l for l in on_submit["lines"] if ": released" in l]
    assert sorted(l.split()[0] for l in released) == [S1, S2], on_submit["lines"]
    # the grader that was running when the service was killed died with it
    for pid in on_submit["children"]:
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/cmdline").read_bytes() == b""


def test_the_service_survives_a_restart_and_queues_a_burst(on_submit):
    lines = on_submit["lines"]
    started = [l for l in lines if l.startswith("watching")]
    assert len(started) == 2, lines  # when the hub restarted with it, and after the kill
    # one submission at a time: every "grading" is followed by its result before the next one,
    # except the one that was killed
    grading = [i for i, l in enumerate(lines) if l.startswith("grading")]
    assert any("(1 waiting)" in lines[i] for i in grading), lines
    after_kill = lines[max(i for i, l in enumerate(lines) if l.startswith("watching")):]
    kinds = [("G" if l.startswith("grading") else "R") for l in after_kill if l.startswith("grading") or ": released" in l]
    assert kinds == ["G", "R"] * (len(kinds) // 2) and kinds, after_kill
