"""Build fake student submissions from the real notebooks, for the grading tests.

Each builder returns a notebook (or raw text) that a student could plausibly hand in: the
solutions themselves, the untouched release, one wrong function, an infinite loop, a kernel that
dies, deleted or reordered cells, an edited test cell, a file that is not JSON.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
# The grading drill (tests/drill/): two NumPy exercises and a written answer, graded in 1–3 s.
# The tests of the grader itself (hostile submissions, Dask, the term's gradebook) grade it; each
# course notebook's own grading is tested in tests/test_grading.py.
DRILL = "99_grading_drill"
DRILL_SOLUTIONS = ROOT / "tests" / "drill"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solutions_dir(assignment: str) -> Path:
    return DRILL_SOLUTIONS if assignment == DRILL else SOLUTIONS


@functools.cache
def _drill_release() -> str:
    """The drill's student version, from nbgrader's generate_assignment as `pgcourse release` makes it."""
    from pgcourse.grading.release import release
    with tempfile.TemporaryDirectory() as tmp:
        [path] = release([DRILL], DRILL_SOLUTIONS, Path(tmp))
        return path.read_text()


def _release(assignment: str) -> nbformat.NotebookNode:
    if assignment == DRILL:
        return nbformat.reads(_drill_release(), as_version=4)
    return read(NOTEBOOKS / f"{assignment}.ipynb")


def solved(assignment: str) -> nbformat.NotebookNode:
    """The release with every solution cell filled in from the instructor's notebook."""
    student = _release(assignment)
    answers = {grade_id(c): c.source for c in read(solutions_dir(assignment) / f"{assignment}.ipynb").cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in student.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return student


def blank(assignment: str) -> nbformat.NotebookNode:
    return _release(assignment)


def with_answer(nb: nbformat.NotebookNode, cell_id: str, source: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    matches = [c for c in nb.cells if grade_id(c) == cell_id]
    assert len(matches) == 1, f"no cell {cell_id}"
    matches[0].source = source
    return nb


def appended_to(nb: nbformat.NotebookNode, cell_id: str, extra: str) -> nbformat.NotebookNode:
    cell = next(c for c in nb.cells if grade_id(c) == cell_id)
    return with_answer(nb, cell_id, cell.source + "\n" + extra)


def without_cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if grade_id(c) != cell_id]
    return nb


def with_inserted_cell_before(nb: nbformat.NotebookNode, cell_id: str, source: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == cell_id)
    nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    return nb


def write(root: Path, student: str, assignment: str, nb_or_text, name: str | None = None) -> Path:
    folder = root / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{assignment}.ipynb")
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text)
    else:
        nbformat.write(nb_or_text, path)
    return path


def digest(folder: Path) -> str:
    """A hash of every file's relative path and bytes below `folder` (to prove nothing changed)."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()
