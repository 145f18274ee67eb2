"""nbgrader settings every single-user server of the class reads (students and instructors).

Installed in a system-wide Jupyter config directory (`/etc/jupyter` by default, found on
`jupyter --paths`), never in a home directory (nbgrader discussion 1833). The course id and the
exchange come from `pgcourse_class.json`, which `deploy/jupyterhub/setup_class.py` writes next
to this file.
"""
import json
import os

c = get_config()  # noqa: F821 (traitlets defines it)

with open(os.path.join(os.path.dirname(__file__), "pgcourse_class.json")) as fh:
    _class = json.load(fh)

c.CourseDirectory.course_id = _class["course_id"]
# The built-in exchange: a directory that every user can write to and that keeps students apart
# by Unix permissions (inbound is write-only for students, submissions carry a random suffix).
c.Exchange.root = _class["exchange"]
