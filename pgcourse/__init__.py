"""pgcourse: helpers for an autograded course on policy gradients.

One subpackage per part of the course, one module per idea (README.md's Layout draws the map):
tabular (notebooks 00–04), cartpole (05), llm (06), notebook (what a notebook needs at run time:
the grading mode, progress bars, animations), checks (the visible checks), grading (the instructor's
side: release, autograde, the sandbox), cli (the `pgcourse` command). Notebooks import what earlier
notebooks taught.
"""

__version__ = "0.1.0"
