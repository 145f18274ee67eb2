"""`pgcourse release`: regenerate the student notebooks from the instructor's solutions.

Student notebooks come from nbgrader's own `generate_assignment` (solutions replaced by stubs,
hidden tests removed, test cells locked and checksummed), never from a hand-written stripper.
`notebooks/` is committed; a test fails when it differs from what this command produces.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pgcourse.grading import course


def release(names: list[str] | None = None, solutions_dir: Path | None = None,
            notebooks_dir: Path | None = None) -> list[Path]:
    """Write notebooks_dir/{a}.ipynb for each assignment a; returns the written paths."""
    solutions_dir = Path(solutions_dir or course.default_solutions_dir())
    notebooks_dir = Path(notebooks_dir or course.default_notebooks_dir())
    assignments = course.resolve(names, solutions_dir)
    notebooks_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="pgcourse-release-") as tmp:
        root = Path(tmp)
        course.stage_sources(root, solutions_dir, assignments)
        api = course.make_api(root)
        for assignment in assignments:
            course.generate(api, assignment)
            target = notebooks_dir / f"{assignment}.ipynb"
            shutil.copyfile(root / "release" / assignment / f"{assignment}.ipynb", target)
            written.append(target)
    return written
