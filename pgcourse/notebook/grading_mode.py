"""Is nbgrader running this notebook right now?

While nbgrader executes a notebook (autograde, or a student's Validate) it sets the environment
variable `NBGRADER_EXECUTION` ("autograde" or "validate"), and the kernel inherits it. The course
then trains on short budgets, draws no animation and writes progress as plain text. This is the
one place the library asks. Notebooks ask in their first cell: `GRADING = bool(os.environ.get(…))`.
"""

from __future__ import annotations

import os


def is_grading() -> bool:
    """True while nbgrader runs the notebook (`NBGRADER_EXECUTION` set and non-empty)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))
