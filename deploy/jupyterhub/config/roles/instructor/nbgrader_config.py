"""nbgrader settings for the instructor's server only: where the term's course directory is.

The formgrader, `nbgrader release_assignment`, `collect`, `generate_feedback` and
`pgcourse grade --course` all work in this one course directory for the whole term.
"""
import json
import os

c = get_config()  # noqa: F821

with open(os.path.join(os.path.dirname(__file__), "..", "..", "pgcourse_class.json")) as fh:
    c.CourseDirectory.root = json.load(fh)["course_dir"]
