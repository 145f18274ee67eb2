"""A throw-away nbgrader course directory, built from `solutions/` on demand.

nbgrader wants `{root}/source/{assignment}/{notebook}.ipynb`; the course keeps one notebook per
assignment, flat in `solutions/`, and the assignment id is the notebook's stem
(`01_importance_weighting`). These helpers stage the sources and configure nbgrader.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import GetGrades
from traitlets.config import Config

from pgcourse.grading.feedback import StripHiddenTests

COURSE_ID = "pgcourse"
DEFAULT_TIMEOUT_S = 120  # per cell, while autograding; training cells are shortened when grading


def project_root() -> Path:
    """The checkout this package was installed from (it holds `solutions/` and `notebooks/`)."""
    return Path(__file__).resolve().parents[2]


def default_solutions_dir() -> Path:
    return project_root() / "solutions"


def default_notebooks_dir() -> Path:
    return project_root() / "notebooks"


def available(solutions_dir: Path) -> list[str]:
    """Assignment ids: the stems of the solution notebooks, in course order."""
    return sorted(p.stem for p in Path(solutions_dir).glob("*.ipynb"))


def resolve(names: list[str] | None, solutions_dir: Path) -> list[str]:
    """Map `01`, `01_importance_weighting` or `…/01_importance_weighting.ipynb` to assignment ids."""
    known = available(solutions_dir)
    if not names:
        return known
    resolved = []
    for name in names:
        stem = Path(name).stem
        matches = [k for k in known if k == stem or k.split("_", 1)[0] == stem]
        if len(matches) != 1:
            raise SystemExit(f"unknown notebook {name!r}; the course has: {', '.join(known)}")
        resolved.append(matches[0])
    return resolved


def config(root: Path, timeout: int = DEFAULT_TIMEOUT_S) -> Config:
    """nbgrader settings for a course rooted at `root`."""
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"
    # nbgrader's own per-cell limit (ExecutePreprocessor.timeout has no effect here).
    c.Execute.timeout = timeout
    # Restore test cells that a student deleted, instead of silently dropping their points.
    c.OverwriteCells.add_missing_cells = True
    # Feedback must not show the hidden tests (nbgrader issue 917).
    c.GenerateFeedback.preprocessors = [GetGrades, StripHiddenTests, CSSHTMLHeaderPreprocessor]
    return c


def _ensure_tools_on_path() -> None:
    """nbgrader runs `alembic` and kernels by name: find them next to this Python, venv or not."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def make_api(root: Path, timeout: int = DEFAULT_TIMEOUT_S) -> NbGraderAPI:
    _ensure_tools_on_path()
    cfg = config(root, timeout)
    return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def stage_sources(root: Path, solutions_dir: Path, assignments: list[str]) -> None:
    """Copy solutions/{a}.ipynb to {root}/source/{a}/{a}.ipynb for each assignment a."""
    for assignment in assignments:
        target = Path(root) / "source" / assignment
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(solutions_dir) / f"{assignment}.ipynb", target / f"{assignment}.ipynb")


def generate(api: NbGraderAPI, assignment: str) -> None:
    """Run nbgrader's generate_assignment (which also records the cells in the gradebook)."""
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment failed for {assignment}:\n"
                           f"{result.get('error') or result.get('log')}")
