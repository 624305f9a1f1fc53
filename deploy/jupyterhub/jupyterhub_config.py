"""JupyterHub for the course: one shared course environment, real Unix users, nbgrader's exchange.

Start it as root, after ``deploy/jupyterhub/install.sh`` (see instructor/README.md, "Running the
course on JupyterHub")::

    cd /srv/nn-course/hub && /opt/nn-course/bin/jupyterhub -f /path/to/deploy/jupyterhub/jupyterhub_config.py

Every setting that names a path, a port or an account reads an ``NN_COURSE_*`` environment
variable first, with install.sh's defaults, so one file serves the real hub and the test's.

- Users log in with their Unix password (PAM); members of the students' and the instructors'
  groups may log in. Each user's server runs as that user (LocalProcessSpawner) from the course
  environment, so everyone gets the same Python, the course kernel and the system-wide nbgrader
  settings (exchange, course id, Validate's time limits) in ``$PREFIX/etc/jupyter``.
- Instructors grade in the formgrader service ``/services/<course id>/``: a Jupyter server that
  runs as the grading account in the course directory, which only that account and the
  instructors' group can read. Students' Lab has no formgrader and no Create Assignment.
- ``NN_COURSE_AUTOGRADE_ON_SUBMIT=1`` adds the autograde-on-submit service
  (``python -m instructor.hub_service``): each submission is graded and its feedback released
  within minutes, without an instructor command.

Production: this binds to 127.0.0.1. To serve students, put a TLS-terminating reverse proxy
(nginx, Caddy) in front of port 8000, or set ``c.JupyterHub.ip = "0.0.0.0"`` together with
``c.JupyterHub.ssl_cert`` / ``c.JupyterHub.ssl_key``; never serve PAM passwords over plain HTTP.
For accounts that are not Unix passwords, use an OAuth authenticator (``oauthenticator``:
GitHub, Google, GitLab, generic OIDC) or ``jupyterhub-nativeauthenticator``, still with Unix
accounts made by ``add_users.sh`` (LocalProcessSpawner needs them; or ``LocalAuthenticator``'s
``create_system_users``).
"""

import grp
import os

c = get_config()  # noqa: F821  (injected by traitlets when JupyterHub loads this file)

PREFIX = os.environ.get("NN_COURSE_PREFIX", "/opt/nn-course")
COURSE_DIR = os.environ.get("NN_COURSE_DIR", "/srv/nn-course/course")
EXCHANGE = os.environ.get("NN_COURSE_EXCHANGE", "/srv/nbgrader/exchange")
HUB_STATE = os.environ.get("NN_COURSE_HUB_STATE", "/srv/nn-course/hub")
COURSE_ID = os.environ.get("NN_COURSE_ID", "nn-practice-lecture-01")
GRADER = os.environ.get("NN_COURSE_GRADER", "nn-grader")
INSTRUCTORS = os.environ.get("NN_COURSE_INSTRUCTORS", "nn-instructors")
STUDENTS = os.environ.get("NN_COURSE_STUDENTS", "nn-students")
HUB_PORT = int(os.environ.get("NN_COURSE_HUB_PORT", "8000"))  # the one port users open
INTERNAL_PORT = int(os.environ.get("NN_COURSE_INTERNAL_PORT", "8081"))  # hub API; 8082 proxy API, 8083 formgrader
AUTOGRADE_ON_SUBMIT = os.environ.get("NN_COURSE_AUTOGRADE_ON_SUBMIT", "0") == "1"


def _members(group: str) -> list[str]:
    try:
        return sorted(grp.getgrnam(group).gr_mem)
    except KeyError:
        return []


# --- network: local only by default (see the docstring for TLS) --------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = HUB_PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = INTERNAL_PORT
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{INTERNAL_PORT + 1}"
# configurable-http-proxy: `npm install -g configurable-http-proxy`, or a path in NN_COURSE_CHP
c.ConfigurableHTTPProxy.command = [os.environ.get("NN_COURSE_CHP", "configurable-http-proxy")]

# --- the hub's own state, outside the course and out of users' reach ---------------------------
c.JupyterHub.db_url = f"sqlite:///{HUB_STATE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{HUB_STATE}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = f"{HUB_STATE}/jupyterhub-proxy.pid"
# Restarting the hub (a config change, the autograde service switched on) keeps users' servers
# and their running kernels; `systemctl stop` of the whole machine still ends them.
c.JupyterHub.cleanup_servers = False

# --- who may log in ------------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_groups = {STUDENTS, INSTRUCTORS}  # a Unix account alone is not enough
c.Authenticator.admin_users = set()  # hub admins (user management) are not needed to teach

# --- each user's server: the course environment, as that user, in their (0700) home -----------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [f"{PREFIX}/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180  # a loaded machine takes ~20 s; the first start after install more
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    "PATH": f"{PREFIX}/bin:/usr/local/bin:/usr/bin:/bin",  # terminals find python, nbgrader here
    "TF_CPP_MIN_LOG_LEVEL": "2",  # no TensorFlow start-up lines in students' notebooks
}

# --- the formgrader: one shared grading server for the instructors' group ----------------------
# nbgrader's "one class, several graders" setup: a hub-managed service named like the course,
# running jupyterhub-singleuser as the grading account in the course directory. Members of the
# instructors' group (read when the hub starts) may open it; students get 403.
FORMGRADE_GROUP = f"formgrade-{COURSE_ID}"
c.JupyterHub.load_groups = {FORMGRADE_GROUP: {"users": _members(INSTRUCTORS)}}
c.JupyterHub.load_roles = [
    {
        "name": FORMGRADE_GROUP,
        "groups": [FORMGRADE_GROUP],
        "scopes": [f"access:services!service={COURSE_ID}", "list:services", f"read:services!service={COURSE_ID}"],
    },
]
_service_env = {
    "PATH": f"{PREFIX}/bin:/usr/local/bin:/usr/bin:/bin",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # formgrader, Create Assignment and the course list, switched off for everyone else
    "JUPYTER_CONFIG_PATH": f"{PREFIX}/etc/jupyter-instructors",
    "JUPYTERHUB_DEFAULT_URL": "/lab",
}
if os.environ.get("NN_COURSE_GRADEBOOK_URL"):  # PostgreSQL for several graders at once (see the README)
    _service_env["GRADEBOOK_URL"] = os.environ["NN_COURSE_GRADEBOOK_URL"]
c.JupyterHub.services = [
    {
        "name": COURSE_ID,
        "url": f"http://127.0.0.1:{INTERNAL_PORT + 2}",
        "command": [f"{PREFIX}/bin/jupyterhub-singleuser"],
        "user": GRADER,
        "cwd": COURSE_DIR,
        "environment": _service_env,
        "oauth_no_confirm": True,
    },
]

# --- opt-in: autograde on submit ---------------------------------------------------------------
if AUTOGRADE_ON_SUBMIT:
    c.JupyterHub.services.append(
        {
            "name": "nn-autograde",
            "command": [f"{PREFIX}/bin/python", "-m", "instructor.hub_service",
                        "--course", COURSE_DIR, "--exchange", EXCHANGE, "--course-id", COURSE_ID],
            "user": GRADER,
            "cwd": COURSE_DIR,
            "environment": dict(_service_env, PYTHONUNBUFFERED="1"),
        }
    )
