"""Where the course's own files are: the instructor's notebooks (`solutions/`) and the release (`notebooks/`).

In a checkout (an editable install, `make setup`) they sit next to the package. A wheel
(`pip install .`, as a hub's `setup_class.py` installs the course) puts them in
PREFIX/share/pgcourse (pyproject's data files): outside the package, which grading kernels can read.
"""

from __future__ import annotations

import sys
from pathlib import Path


def project_root() -> Path:
    """The checkout this package was installed from (it holds `solutions/` and `notebooks/`), or, for
    an installation from a wheel, PREFIX/share/pgcourse."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "solutions").is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "pgcourse"


def default_solutions_dir() -> Path:
    return project_root() / "solutions"


def default_notebooks_dir() -> Path:
    return project_root() / "notebooks"
