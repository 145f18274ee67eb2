"""pgcourse: helpers for an autograded course on policy gradients.

One module per idea (see README.md for the map). Notebooks import what earlier notebooks taught.
"""

__version__ = "0.1.0"
