"""The grading sandbox (instructor/sandbox.py) against hostile submissions.

Each category of attack is first run unconfined, where that cannot harm the machine, to show it
works (a submission that scores full marks from the masters, a write to the gradebook, a
connection to a loopback server, a process that acts after the kernel is gone), then through
the real pipeline (``course.release``, ``submitted/<student>/<assignment>/``,
``course.autograde``, ``course.collect_grades``) in the sandbox, where it must fail and change
nothing on the host. The attacker is a blank ps1 with one extra cell of attacks (and every
solution cell asking it for the master's solution); an honest perfect student is graded in
the same class. The attacks print ``ATTACK <category>: <outcome>`` lines that the tests read
from the autograded notebook; what they would have done on the host is checked on the host.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest

from instructor import course, sandbox
from instructor import submissions as S

ROOT = Path(__file__).resolve().parents[1]
A = "ps1_activation_derivatives"
PYC_NAME = "h3_attack.cpython-311.pyc"  # a name no module has: harmless even if planted
MARKER = "h3-detached-marker"
SOLUTION_IDS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "relu6", "softplus", "swish", "mish",
                "derivative_table")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bubblewrap needs Linux namespaces")


@pytest.fixture(scope="module")
def box():
    """The default sandbox; skip (with the reason) on a host where bubblewrap cannot run."""
    os.environ.pop(sandbox.NO_SANDBOX_ENV, None)
    sb = sandbox.Sandbox()
    ok, why = sb.probe()
    if not ok:
        pytest.skip(f"this host cannot run the sandbox: {why}")
    return sb


class LoopbackServer:
    """A TCP server on the host's 127.0.0.1 that records every connection (the network target)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def attacks(course_dir: Path, port: int, victim: str, safe_only: bool = False) -> str:
    """The attack cell: every category, each reporting ``ATTACK <category>: ...``.

    ``safe_only`` leaves out what must never run unconfined (planting files in the real venv
    and instructor package, resource abuse, killing).
    """
    site = next(p for p in sys.path if p.endswith("site-packages"))
    code = f"""
    import json, os, socket, sqlite3, sys, time
    COURSE = {str(course_dir.resolve())!r}
    def report(category, outcome, *detail):
        print(f"ATTACK {{category}}: {{outcome}}", *detail, flush=True)

    # --- reading the masters, another student's work, the gradebook, by absolute path ---
    _master = None
    for what, path in (("master", COURSE + "/solutions/{A}/{A}.ipynb"),
                       ("other", COURSE + "/submitted/{victim}/{A}/{A}.ipynb"),
                       ("gradebook", COURSE + "/gradebook.db")):
        try:
            data = open(path, "rb").read()
            report("read", "READ", what, len(data))
            if what == "master":
                _master = json.loads(data)
        except Exception as exc:
            report("read", "BLOCKED", what, type(exc).__name__)
    try:
        report("read", "PARENT", os.readlink(f"/proc/{{os.getppid()}}/cwd"))
    except Exception as exc:
        report("read", "BLOCKED", "parent cwd", type(exc).__name__)
    import source_lib
    _repo = os.path.dirname(os.path.dirname(source_lib.__file__))
    report("read", "LISTING", json.dumps(sorted(os.listdir(_repo))))
    def _steal(gid):
        for c in (_master or {{"cells": []}})["cells"]:
            if c["metadata"].get("nbgrader", {{}}).get("grade_id") == gid:
                exec("".join(c["source"]), globals())

    # --- writing the gradebook ---
    try:
        con = sqlite3.connect("file:" + COURSE + "/gradebook.db?mode=rw", uri=True)
        con.execute("UPDATE grade SET manual_score = 99")
        con.commit()
        report("gradebook", "WROTE")
    except Exception as exc:
        report("gradebook", "BLOCKED", type(exc).__name__)

    # --- the network: a server on the host's loopback ---
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
        report("network", "CONNECTED")
    except Exception as exc:
        report("network", "BLOCKED", type(exc).__name__)

    # --- detached processes that act after the kernel is gone ---
    _late = ("import time, sys; time.sleep(4); "
             "open(sys.argv[1], 'w').write('acted after the kernel was gone')")
    os.posix_spawn(sys.executable, [sys.executable, "-c", _late, COURSE + "/late-spawn", "{MARKER}"],
                   dict(os.environ), setsid=True)
    _pid = os.fork()
    if _pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", _late, COURSE + "/late-fork", "{MARKER}"])
        os._exit(0)
    os.waitpid(_pid, 0)
    report("detached", "SPAWNED")
    report("identity", "UID", os.getuid(), os.geteuid())
    report("identity", "STATUS", json.dumps([l.strip() for l in open("/proc/self/status")
                                              if l.startswith(("Cap", "NoNewPrivs"))]))
    """
    if safe_only:
        return textwrap.dedent(code)
    code += f"""
    # --- persistence: bytecode for the grader and the venv, IPython startup files ---
    for path in ({str(ROOT / "instructor" / "__pycache__" / PYC_NAME)!r},
                 {str(ROOT / "source_lib" / "__pycache__" / PYC_NAME)!r},
                 {os.path.join(site, "h3_attack.pth")!r},
                 os.path.expanduser("~/.ipython/profile_default/startup/00-h3-attack.py"),
                 "/root/.ipython/profile_default/startup/00-h3-attack.py"):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a") as f:
                f.write("# h3 attack\\n")
            report("persist", "WROTE", path)
        except Exception as exc:
            report("persist", "BLOCKED", path, type(exc).__name__)

    # --- resource abuse (bounded by the sandbox's rlimits) ---
    try:
        _big = bytearray(6 * 2**30)
        report("resources", "ALLOCATED")
        del _big
    except MemoryError:
        report("resources", "BLOCKED", "memory")
    try:
        with open("huge.bin", "wb") as f:
            for _ in range(200):
                f.write(b"\\0" * 2**20)
        report("resources", "WROTE", "huge file")
    except OSError as exc:
        report("resources", "BLOCKED", "file", exc.errno)
    finally:
        if os.path.exists("huge.bin"):
            os.remove("huge.bin")
    _kids = []
    try:
        for _ in range(5000):
            _pid = os.fork()
            if _pid == 0:
                time.sleep(60)
                os._exit(0)
            _kids.append(_pid)
        report("resources", "FORKED", len(_kids))
    except OSError as exc:
        report("resources", "BLOCKED", "fork", len(_kids))
    for _pid in _kids:
        os.kill(_pid, 9)
        os.waitpid(_pid, 0)
    """
    return textwrap.dedent(code)


KILL = """import os, signal
for _what, _sig in (("parent", signal.SIGKILL), ("parent", signal.SIGTERM), ("pid 1", signal.SIGKILL)):
    try:
        os.kill(os.getppid() if _what == "parent" else 1, _sig)
        print("ATTACK kill: SENT", _what, _sig, flush=True)
    except Exception as exc:
        print("ATTACK kill: BLOCKED", _what, type(exc).__name__, flush=True)
if os.getuid() != 0:  # never as root: unconfined, kill(-1) would stop the whole machine
    print("ATTACK kill: EVERYONE", flush=True)
    os.kill(-1, signal.SIGKILL)
"""


def attacker(c: Path, cell: str, kill: bool):
    """A blank ps1 with the attack cell after its first cell, every solution cell stealing."""
    nb = S.blank(c, A)
    for gid in SOLUTION_IDS:
        nb = S.replace_cell(nb, gid, f"_steal({gid!r})")
    nb.cells.insert(1, nbformat.v4.new_code_cell(cell))
    if kill:
        nb.cells.append(nbformat.v4.new_code_cell(KILL))
    return nb


def attack_lines(c: Path, student: str) -> list[str]:
    nb = nbformat.read(c / "autograded" / student / A / f"{A}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")
    return [line for line in text.splitlines() if line.startswith("ATTACK ")]


def outcomes(lines: list[str], category: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in lines if line.startswith(f"ATTACK {category}:")]


def marker_processes() -> list[int]:
    """PIDs on the host whose command line carries the detached attack's marker."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if MARKER.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def scratch(tmp_path_factory, name: str, extra_config: str = "") -> Path:
    c = course.scratch_course(tmp_path_factory.mktemp(name) / "course", [A])
    if extra_config:
        with open(c / "nbgrader_config.py", "a") as f:
            f.write("\n" + extra_config + "\n")
    course.release(c, [A], log=lambda m: None)
    return c


def auto_score(totals: list[dict], student: str) -> float:
    return next(r for r in totals if r["student"] == student)["auto_score"]


def full_marks(c: Path) -> float:
    """The automatic points of ps1, read from the master (the instructor's rubric)."""
    master = nbformat.read(c / "solutions" / A / f"{A}.ipynb", as_version=4)
    return sum(float(cell.metadata["nbgrader"].get("points", 0)) for cell in master.cells
               if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code")


# --- without the sandbox, the attacks work (only those that cannot harm the machine) -----------


@pytest.mark.slow
def test_unconfined_the_attacks_work(tmp_path_factory, box):
    c = scratch(tmp_path_factory, "unconfined")
    server = LoopbackServer()
    try:
        S.write(S.blank(c, A), c, "victim", A)  # only read, never graded here
        S.write(attacker(c, attacks(c, server.port, "victim", safe_only=True), kill=False), c, "attacker", A)
        env = dict(os.environ)
        env.pop(sandbox.NO_SANDBOX_ENV, None)
        proc = subprocess.run([sys.executable, "-m", "instructor", "autograde", "--course", str(c), "--no-sandbox",
                               "--jobs", "1"], capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "WITHOUT the sandbox" in proc.stdout
        lines = attack_lines(c, "attacker")
        totals = course.collect_grades(c, [A])[0]
        # the master read by absolute path gives full marks
        assert "READ master" in " ".join(outcomes(lines, "read")) and "READ other" in " ".join(outcomes(lines, "read"))
        assert auto_score(totals, "attacker") == full_marks(c) > 0
        assert outcomes(lines, "gradebook") == ["WROTE"]
        assert outcomes(lines, "network") == ["CONNECTED"] and server.connections >= 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (c / "late-spawn").exists():
            time.sleep(0.5)
        assert (c / "late-spawn").exists(), "the setsid process did not outlive the kernel"
        nb = nbformat.read(c / "autograded" / "attacker" / A / f"{A}.ipynb", as_version=4)
        assert nb.metadata["autograde"]["sandboxed"] is False
    finally:
        server.close()
        for pid in marker_processes():
            os.kill(pid, 9)


# --- in the sandbox, through the real pipeline -------------------------------------------------


# honest but unusual: reads a file handed in beside the notebook, saves a figure in a new folder
HONEST_FILES = """import os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = open("my_points.csv").read().split()
os.makedirs("figures", exist_ok=True)
plt.plot([0, 1], [0.5, 0.73])
plt.savefig("figures/sigmoid.png")
print("HONEST", len(rows), os.path.getsize("figures/sigmoid.png") > 0)"""

SANDBOX_LIMITS = "c.Sandbox.max_processes = 128\nc.Sandbox.max_file_size = 64 * 2**20"


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory, box):
    """A class of an honest perfect student and an attacker, graded in the sandbox."""
    c = scratch(tmp_path_factory, "hostile", SANDBOX_LIMITS)
    server = LoopbackServer()
    try:
        honest = S.filled(c, A)
        honest.cells.append(nbformat.v4.new_code_cell(HONEST_FILES))
        S.write(honest, c, "honest", A)
        (c / "submitted" / "honest" / A / "my_points.csv").write_text("x,y\n0,0.5\n1,0.73\n")
        S.write(attacker(c, attacks(c, server.port, "honest"), kill=True), c, "attacker", A)
        before = (c / "submitted" / "honest" / A / f"{A}.ipynb").read_bytes()
        notes = course.autograde(c, [A], log=lambda m: None)
        time.sleep(6)  # the detached processes would act after 4 s
        totals, questions = course.collect_grades(c, [A])
        return dict(course=c, notes=notes, totals=totals, lines=attack_lines(c, "attacker"),
                    connections=server.connections, honest_before=before, leftovers=marker_processes())
    finally:
        server.close()


@pytest.mark.slow
def test_the_class_is_graded_and_the_honest_student_gets_full_marks(hostile_class):
    c, totals = hostile_class["course"], hostile_class["totals"]
    assert auto_score(totals, "honest") == full_marks(c)
    for student in ("honest", "attacker"):
        nb = nbformat.read(c / "autograded" / student / A / f"{A}.ipynb", as_version=4)
        assert nb.metadata["autograde"]["sandboxed"] is True
    # a file handed in with the notebook is in the kernel's working directory, which it may write
    nb = nbformat.read(c / "autograded" / "honest" / A / f"{A}.ipynb", as_version=4)
    assert nb.cells[-1].outputs[0]["text"].strip() == "HONEST 3 True"


@pytest.mark.slow
def test_reading_the_masters_or_another_student_by_absolute_path_fails(hostile_class):
    read = outcomes(hostile_class["lines"], "read")
    assert [o.split()[:2] for o in read if o.startswith(("READ", "BLOCKED"))] == [
        ["BLOCKED", "master"], ["BLOCKED", "other"], ["BLOCKED", "gradebook"], ["BLOCKED", "parent"]]
    listing = json.loads(next(o for o in read if o.startswith("LISTING")).split(" ", 1)[1])
    assert "solutions" not in listing and "instructor" not in listing and "submitted" not in listing
    assert auto_score(hostile_class["totals"], "attacker") == 0  # stole nothing: scores as blank


@pytest.mark.slow
def test_writing_the_gradebook_fails(hostile_class):
    assert [o.split()[0] for o in outcomes(hostile_class["lines"], "gradebook")] == ["BLOCKED"]
    assert all(r["manual_score"] != 99 for r in hostile_class["totals"])
    c = hostile_class["course"]
    assert (c / "submitted" / "honest" / A / f"{A}.ipynb").read_bytes() == hostile_class["honest_before"]


@pytest.mark.slow
def test_detached_processes_die_with_the_kernel(hostile_class):
    c = hostile_class["course"]
    assert outcomes(hostile_class["lines"], "detached") == ["SPAWNED"]
    assert hostile_class["leftovers"] == []
    assert not (c / "late-spawn").exists() and not (c / "late-fork").exists()


@pytest.mark.slow
def test_the_kernel_cannot_kill_or_signal_the_grader(hostile_class):
    kill = outcomes(hostile_class["lines"], "kill")
    assert [o.split()[0] for o in kill[:3]] == ["BLOCKED"] * 3 and kill[3] == "EVERYONE"
    # the grader lived on: both students have grades and notes
    assert {r["student"] for r in hostile_class["totals"]} == {"honest", "attacker"}
    assert hostile_class["notes"][(A, "honest")]["graded"]


@pytest.mark.slow
def test_the_kernel_is_an_unprivileged_user_without_capabilities(hostile_class):
    uid = outcomes(hostile_class["lines"], "identity")[0].split()
    assert uid[0] == "UID" and int(uid[1]) != 0 and int(uid[2]) != 0
    status = json.loads(outcomes(hostile_class["lines"], "identity")[1].split(" ", 1)[1])
    caps = {line.split(":")[0]: line.split()[-1] for line in status}
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapBnd"] == caps["CapAmb"] == "0000000000000000"
    assert caps["NoNewPrivs"] == "1"


@pytest.mark.slow
def test_nothing_persists_no_bytecode_no_startup_file(hostile_class):
    persist = outcomes(hostile_class["lines"], "persist")
    assert len(persist) == 5
    # the grader's package, source_lib, the venv and root's home are out of reach
    assert all(o.startswith("BLOCKED") for o in persist[:3] + persist[4:]), persist
    # the kernel's own IPython profile is writable, but a private tmpfs
    assert persist[3].startswith("WROTE /home/student/.ipython")
    for path in (ROOT / "instructor" / "__pycache__" / PYC_NAME, ROOT / "source_lib" / "__pycache__" / PYC_NAME,
                 Path(next(p for p in sys.path if p.endswith("site-packages"))) / "h3_attack.pth",
                 Path("/home/student"), Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ipython" / "profile_default"
                 / "startup" / "00-h3-attack.py"):
        assert not path.exists(), path


@pytest.mark.slow
def test_resource_abuse_is_bounded(hostile_class):
    res = outcomes(hostile_class["lines"], "resources")
    assert res[0] == "BLOCKED memory"
    assert res[1].startswith("BLOCKED file")  # EFBIG at 64 MiB
    assert res[2].startswith("BLOCKED fork")
    assert 0 < int(res[2].split()[-1]) < 128


@pytest.mark.slow
def test_the_network_is_unreachable(hostile_class):
    assert [o.split()[0] for o in outcomes(hostile_class["lines"], "network")] == ["BLOCKED"]
    assert hostile_class["connections"] == 0


# --- refusing to grade unconfined ---------------------------------------------------------------


def test_a_host_without_the_sandbox_refuses_to_grade(tmp_path, capsys, monkeypatch):
    from instructor.__main__ import main

    c = course.scratch_course(tmp_path / "course", [A])
    with open(c / "nbgrader_config.py", "a") as f:
        f.write("\nc.Sandbox.bwrap = '/nonexistent/bwrap'\n")
    S.write(nbformat.v4.new_notebook(), c, "someone", A)
    monkeypatch.delenv(sandbox.NO_SANDBOX_ENV, raising=False)
    assert main(["autograde", "--course", str(c)]) == 2
    err = capsys.readouterr().err
    assert "refusing to grade" in err and "/nonexistent/bwrap" in err and "--no-sandbox" in err
    assert not (c / "autograded").exists() and not (c / "gradebook.db").exists()
    config = sandbox.course_config(c)
    assert sandbox.status(config)["sandboxed"] is False
    with pytest.raises(sandbox.SandboxUnavailable, match="refusing to grade"):
        sandbox.require(config)


def test_status_says_how_grading_is_confined(box, monkeypatch):
    assert sandbox.status() == {"sandboxed": True, "bwrap": box.find_bwrap(), "reason": ""}
    monkeypatch.setenv(sandbox.NO_SANDBOX_ENV, "1")
    off = sandbox.status()
    assert off["sandboxed"] is False and "--no-sandbox" in off["reason"]
    assert sandbox.require() is None


# What tells NumPy's BLAS how many threads to use, and what it then uses (threadpoolctl asks the library).
THREADS = ("import json, os, threadpoolctl, numpy\n"
           "print(json.dumps({'env': {k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', "
           "'MKL_NUM_THREADS')}, 'blas': [p['num_threads'] for p in threadpoolctl.threadpool_info() "
           "if p['user_api'] == 'blas']}))")


def in_box(sb: sandbox.Sandbox, code: str) -> dict:
    """What ``code`` prints (one JSON line) when run in ``sb``'s sandbox, as a kernel would be."""
    with sandbox._UidSlot(sb) as uid:
        proc = subprocess.run(sb.command([sys.executable, "-c", code], "/", uid=uid, probe=True),
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_every_kernel_computes_with_one_blas_thread_whatever_the_graders_environment(box, monkeypatch):
    pytest.importorskip("threadpoolctl")
    # the grader's own setting, as in a Dask worker (whose nanny sets OMP_NUM_THREADS=1 and the like)
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    for name in sandbox.THREAD_VARIABLES[1:]:
        monkeypatch.delenv(name, raising=False)
    inside = in_box(box, THREADS)
    assert inside["env"] == dict.fromkeys(sandbox.THREAD_VARIABLES, "1")
    assert inside["blas"] and set(inside["blas"]) == {1}
    # the reference, unconfined on the host with the same environment: BLAS takes the grader's 8
    # (capped at the CPUs); the sandbox's threads=0 passes it through as before, and nothing more
    host = subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True, timeout=120)
    host = json.loads(host.stdout.splitlines()[-1])
    loose = in_box(sandbox.Sandbox(threads=0), THREADS)
    assert loose == host and loose["env"] == {"OMP_NUM_THREADS": "8", "OPENBLAS_NUM_THREADS": None,
                                              "MKL_NUM_THREADS": None}
    assert max(host["blas"]) == min(8, len(os.sched_getaffinity(0)))


# --- an ordinary user as the grader ----------------------------------------------------------------


USER = "h3sandboxtest"


@pytest.mark.slow
def test_an_ordinary_user_grades_in_the_sandbox(box):
    if os.getuid() != 0:
        pytest.skip("needs root to create a throwaway user (the root grader is the other tests)")
    if not (shutil.which("useradd") and shutil.which("userdel") and shutil.which("unshare")):
        pytest.skip("useradd, userdel and unshare (util-linux) are needed")
    subprocess.run(["userdel", USER], capture_output=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
    tmp_path = Path(tempfile.mkdtemp(prefix="h3-sandbox-user-"))  # pytest's own tmp is root's (0700)
    os.chmod(tmp_path, 0o755)
    try:
        uid = pwd.getpwnam(USER).pw_uid
        c = course.scratch_course(tmp_path / "course", [A])
        course.release(c, [A], log=lambda m: None)
        nb = S.filled(c, A)
        nb.cells.insert(1, nbformat.v4.new_code_cell(
            "import os\nprint('ATTACK identity: UID', os.getuid(), flush=True)\n"
            f"print('ATTACK read:', os.path.exists({str(c / 'solutions')!r}), flush=True)"))
        S.write(nb, c, "honest", A)
        home = tmp_path / "home"
        home.mkdir()
        shutil.chown(tmp_path, uid, uid)
        for path in [home, *[p for p in tmp_path.rglob("*")]]:
            os.chown(path, uid, uid, follow_symlinks=False)
        # The Python here lives under /root (mode 0700): in a private mount namespace, put only
        # the Python install back under a traversable /root, then become the user.
        python_home = os.path.realpath(sys.base_prefix)
        script = textwrap.dedent(f"""
            set -e
            case {python_home!r} in /root/*)
                mkdir -p /tmp/h3-python-$$ && mount --bind {python_home!r} /tmp/h3-python-$$
                mount -t tmpfs -o mode=0755 tmpfs /root
                mkdir -p {python_home!r} && mount --move /tmp/h3-python-$$ {python_home!r}
                rmdir /tmp/h3-python-$$ ;;
            esac
            exec setpriv --reuid={uid} --regid={uid} --clear-groups -- \\
                env -i HOME={home} PATH=/usr/bin:/bin LANG=C.UTF-8 \\
                {sys.executable} -m instructor autograde --course {c} --jobs 1
        """)
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        totals = course.collect_grades(c, [A])[0]
        assert auto_score(totals, "honest") == full_marks(c)
        lines = attack_lines(c, "honest")
        inner = outcomes(lines, "identity")[0].split()
        assert int(inner[1]) == box.inner_uid != uid  # a user namespace: not the grader's uid inside
        assert outcomes(lines, "read") == ["False"]
        nb = nbformat.read(c / "autograded" / "honest" / A / f"{A}.ipynb", as_version=4)
        assert nb.metadata["autograde"]["sandboxed"] is True
    finally:
        subprocess.run(["userdel", USER], capture_output=True)
        shutil.rmtree(tmp_path, ignore_errors=True)
