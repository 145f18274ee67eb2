"""JupyterHub for one pgcourse class on one server: each person is their own Unix user.

    sudo python deploy/jupyterhub/setup_class.py --instructor alice --students bob carol ...
    sudo jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

`setup_class.py` writes the class file (`/etc/jupyter/pgcourse_class.json`, or $PGCOURSE_CLASS):
the course id, the roster, the exchange, the instructor's course directory and the Python of the
single-user environment. This file turns it into the hub's users, groups and spawner.

Real-world choices, and what the test (tests/test_hub.py) uses instead:
- authenticator: PAM (the machine's own accounts, the default here) or OAuth / LTI through
  `oauthenticator` for a university login; the test uses JupyterHub's dummy authenticator with one
  shared password, loaded on top of this file.
- spawner: the local-process spawner (here and in the test: every server runs as its user's Unix
  account, so the exchange's file permissions are real) or `systemdspawner` for per-user memory and
  CPU limits; on Kubernetes see deploy/kubernetes/.
- roles: JupyterHub groups in nbgrader's convention, `nbgrader-COURSE` for students and
  `formgrade-COURSE` for graders. A grader's server gets the Formgrader, Courses and
  Create-assignment extensions; a student's server only Assignments and Validate.
- formgrader: JupyterHub ≥ 4.1 forbids iframes (`frame-ancestors 'none'`, nbgrader issue 1870),
  and the Formgrader panel is an iframe. Instructors open `/user/NAME/formgrader` in its own browser
  tab. With per-user subdomains (`c.JupyterHub.subdomain_host`), `frame-ancestors 'self'` is safe
  and restores the panel (nbgrader's documentation, "Formgrader with jupyterhub>=4.1").
"""

import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 (traitlets defines it)

CLASS_FILE = Path(os.environ.get("PGCOURSE_CLASS", "/etc/jupyter/pgcourse_class.json"))
if not CLASS_FILE.is_file():
    raise SystemExit(f"no class file at {CLASS_FILE}: run deploy/jupyterhub/setup_class.py first "
                     "(or set PGCOURSE_CLASS)")
CLASS = json.loads(CLASS_FILE.read_text())
CONFIG_DIR = CLASS_FILE.parent
COURSE = CLASS["course_id"]
STUDENTS_GROUP, GRADERS_GROUP = f"nbgrader-{COURSE}", f"formgrade-{COURSE}"

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(CLASS["instructors"]) | set(CLASS["students"])
c.JupyterHub.load_groups = {
    STUDENTS_GROUP: {"users": CLASS["students"]},
    GRADERS_GROUP: {"users": CLASS["instructors"]},
}

c.JupyterHub.spawner_class = "localprocess"
# Restarting the hub (an upgrade, a config change) leaves the students' servers and kernels
# running; the new hub finds them again from its database. Nothing a student is doing is lost.
c.JupyterHub.cleanup_servers = False
c.Spawner.cmd = [str(Path(CLASS["python"]).parent / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# A server imports JupyterLab, nbgrader and, in its kernels, torch: slow on a loaded machine.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180


def role_of(spawner) -> str:
    """'instructor' for members of formgrade-COURSE, else 'student'."""
    groups = {group.name for group in spawner.user.groups}
    return "instructor" if GRADERS_GROUP in groups else "student"


def use_class_config(spawner) -> None:
    """Put the role's config directory, then the class's, first on the server's Jupyter path.

    Jupyter reads config from $JUPYTER_CONFIG_PATH before the system directories, so the role's
    `jupyter_server_config.json` (which extensions run) and `labconfig/page_config.json` (which lab
    extensions show) win over the all-enabled defaults that nbgrader installs.
    """
    spawner.environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [str(CONFIG_DIR / "roles" / role_of(spawner)), str(CONFIG_DIR)])
    spawner.environment["PGCOURSE_CLASS"] = str(CLASS_FILE)


c.Spawner.pre_spawn_hook = use_class_config
