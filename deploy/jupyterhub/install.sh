#!/usr/bin/env bash
# Build the shared course environment for a JupyterHub and lay out the course on this machine.
#
#   sudo deploy/jupyterhub/install.sh            # from the root of the course repository
#
# It is safe to run again (after `git pull`, or to change a setting): it reinstalls the course
# package and rewrites the configuration, and never touches the course's grading state.
#
# Settings (environment variables; the defaults are what deploy/jupyterhub/jupyterhub_config.py
# expects, so set the same variables for the hub if you change one):
#   NN_COURSE_PREFIX       /opt/nn-course          the course environment (a Python venv)
#   NN_COURSE_DIR          /srv/nn-course/course   the nbgrader course directory (instructors only)
#   NN_COURSE_EXCHANGE     /srv/nbgrader/exchange  nbgrader's exchange (release, submit, feedback)
#   NN_COURSE_HUB_STATE    /srv/nn-course/hub      the hub's database and cookie secret (root only)
#   NN_COURSE_ID           nn-practice-lecture-01  nbgrader course id (also the formgrader service)
#   NN_COURSE_GRADER       nn-grader               the account that owns the course and grades
#   NN_COURSE_INSTRUCTORS  nn-instructors          Unix group: may open the formgrader service
#   NN_COURSE_STUDENTS     nn-students             Unix group: may log in to the hub
#   NN_COURSE_PYTHON       /usr/bin/python3        the interpreter the venv is built from; it must
#                                                  be readable by every user (not one in a home)
set -euo pipefail

PREFIX=${NN_COURSE_PREFIX:-/opt/nn-course}
COURSE_DIR=${NN_COURSE_DIR:-/srv/nn-course/course}
EXCHANGE=${NN_COURSE_EXCHANGE:-/srv/nbgrader/exchange}
HUB_STATE=${NN_COURSE_HUB_STATE:-/srv/nn-course/hub}
COURSE_ID=${NN_COURSE_ID:-nn-practice-lecture-01}
GRADER=${NN_COURSE_GRADER:-nn-grader}
INSTRUCTORS=${NN_COURSE_INSTRUCTORS:-nn-instructors}
STUDENTS=${NN_COURSE_STUDENTS:-nn-students}
PYTHON=${NN_COURSE_PYTHON:-/usr/bin/python3}
SOURCE=$(cd "$(dirname "$0")/../.." && pwd)  # the course repository

export PATH="$PATH:/usr/sbin:/sbin"  # groupadd, useradd (sudo's PATH may lack them)
say() { printf '== %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh must run as root (it creates accounts, /opt and /srv directories)" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "$PYTHON cannot build a venv: on Debian/Ubuntu run  apt-get install python3-venv" >&2
    exit 1
fi

say "groups $INSTRUCTORS, $STUDENTS and the grading account $GRADER"
getent group "$INSTRUCTORS" >/dev/null || groupadd --system "$INSTRUCTORS"
getent group "$STUDENTS" >/dev/null || groupadd --system "$STUDENTS"
if ! id -u "$GRADER" >/dev/null 2>&1; then
    # its home holds only Jupyter's runtime files (kernels' connection files), not the course
    useradd --system --gid "$INSTRUCTORS" --home-dir "/var/lib/$GRADER" --create-home \
        --shell /usr/sbin/nologin "$GRADER"
fi
chmod 0700 "$(getent passwd "$GRADER" | cut -d: -f6)"

say "course environment in $PREFIX (non-editable source_lib and instructor, course + hub extras)"
umask 022  # the environment is read by every user
[ -x "$PREFIX/bin/python" ] || "$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install -q --upgrade pip
# Not editable: the environment must not depend on this checkout (or its owner's home).
"$PREFIX/bin/python" -m pip install -q --upgrade "$SOURCE[course,hub]"
"$PREFIX/bin/python" -m ipykernel install --sys-prefix --name python3 \
    --display-name "Python 3 (nn-course)" >/dev/null
chmod -R a+rX "$PREFIX"

say "system-wide Jupyter configuration in $PREFIX/etc/jupyter (every user's server reads it)"
mkdir -p "$PREFIX/etc/jupyter"
cat >"$PREFIX/etc/jupyter/nbgrader_config.py" <<EOF
# Written by deploy/jupyterhub/install.sh: nbgrader settings for every user of this environment.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "$COURSE_ID"
c.Exchange.root = "$EXCHANGE"
# Validate runs the notebook in the student's server, possibly under load: the course's own
# limits (nbgrader's defaults are 30 s per cell and nbclient's 4 s wait for kernel output).
c.Execute.timeout = 120
c.Execute.iopub_timeout = 60
EOF
# Students see Assignments and Validate; the formgrader, Create Assignment and the course list
# are for instructors, who get them back in the formgrader service (jupyter-instructors below).
"$PREFIX/bin/jupyter" server extension disable --sys-prefix nbgrader.server_extensions.formgrader >/dev/null 2>&1
"$PREFIX/bin/jupyter" server extension disable --sys-prefix nbgrader.server_extensions.course_list >/dev/null 2>&1
"$PREFIX/bin/jupyter" labextension disable --level=sys_prefix \
    @jupyter/nbgrader:formgrader @jupyter/nbgrader:create-assignment @jupyter/nbgrader:course-list >/dev/null 2>&1
# locked: since JupyterLab 4.1 a user could otherwise switch a disabled plugin back on in Lab
"$PREFIX/bin/jupyter" labextension lock --level=sys_prefix \
    @jupyter/nbgrader:formgrader @jupyter/nbgrader:create-assignment @jupyter/nbgrader:course-list >/dev/null 2>&1
# and Lab's "get notified about Jupyter news?" pop-up (it would fetch news from the internet)
"$PREFIX/bin/jupyter" labextension disable --level=sys_prefix @jupyterlab/apputils-extension:announcements >/dev/null 2>&1

say "instructors' configuration in $PREFIX/etc/jupyter-instructors (the formgrader service's JUPYTER_CONFIG_PATH)"
INSTR_CONF="$PREFIX/etc/jupyter-instructors"
mkdir -p "$INSTR_CONF/labconfig"
cat >"$INSTR_CONF/nbgrader_config.py" <<EOF
# Written by deploy/jupyterhub/install.sh: the formgrader service works in the course directory.
c = get_config()  # noqa: F821
c.CourseDirectory.root = "$COURSE_DIR"
EOF
cat >"$INSTR_CONF/jupyter_server_config.json" <<EOF
{"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": true,
                                       "nbgrader.server_extensions.course_list": true}}}
EOF
cat >"$INSTR_CONF/labconfig/page_config.json" <<EOF
{"disabledExtensions": {"@jupyter/nbgrader:formgrader": false,
                        "@jupyter/nbgrader:create-assignment": false,
                        "@jupyter/nbgrader:course-list": false}}
EOF
chmod -R a+rX "$PREFIX/etc"

say "course directory $COURSE_DIR (owner $GRADER, group $INSTRUCTORS, nobody else)"
mkdir -p "$COURSE_DIR"
if [ ! -e "$COURSE_DIR/nbgrader_config.py" ]; then
    cp -a "$SOURCE/nbgrader_config.py" "$SOURCE/solutions" "$SOURCE/assignments" "$COURSE_DIR/"
fi
chown -R "$GRADER:$INSTRUCTORS" "$COURSE_DIR"
chmod 2750 "$COURSE_DIR"
chmod -R g+rX,o-rwx "$COURSE_DIR"

say "exchange $EXCHANGE (every user writes; the course's folder belongs to $GRADER)"
mkdir -p "$EXCHANGE"
chmod 1777 "$EXCHANGE"  # sticky: nobody removes or replaces another user's folder
# Made here, so that no student can create the course's folder first and plant assignments in it.
mkdir -p "$EXCHANGE/$COURSE_ID"
chown "$GRADER:$INSTRUCTORS" "$EXCHANGE/$COURSE_ID"
chmod 0755 "$EXCHANGE/$COURSE_ID"

say "hub state $HUB_STATE (root only)"
mkdir -p "$HUB_STATE"
chmod 0700 "$HUB_STATE"

say "done. Next: add users (deploy/jupyterhub/add_users.sh), then start the hub:"
echo "   cd $HUB_STATE && $PREFIX/bin/jupyterhub -f $SOURCE/deploy/jupyterhub/jupyterhub_config.py"
