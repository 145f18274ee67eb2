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


# The answers release. A written question's model answer and its explanation live only in the
# instructor's notebook, inside the answer cell that nbgrader replaces with "YOUR ANSWER HERE"; the
# student's copy never has them. After the deadline the instructor hands out answers/NN_topic.md:
#     pgcourse answers [NN …] [--output answers/]
MARK_SCHEME = "**Mark scheme"


def written_questions(solution: Path) -> list[tuple[str, str, str]]:
    """(grade id, the question's markdown, the model answer) for each hand-graded answer cell."""
    import nbformat
    from nbgrader.utils import is_grade, is_solution

    nb = nbformat.read(solution, as_version=4)
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and is_grade(cell) and is_solution(cell):
            question = next((c.source for c in reversed(nb.cells[:i]) if c.cell_type == "markdown"), "")
            answer = cell.source.split(MARK_SCHEME)[0].strip()
            out.append((cell.metadata.nbgrader["grade_id"], question, answer))
    return out


def answers(names: list[str] | None = None, out_dir: Path = Path("answers"),
            solutions_dir: Path | None = None) -> list[Path]:
    """Write out_dir/{a}.md: each written question of assignment a with its model answer (no mark scheme)."""
    solutions_dir = Path(solutions_dir or course.default_solutions_dir())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for assignment in course.resolve(names, solutions_dir):
        questions = written_questions(solutions_dir / f"{assignment}.ipynb")
        if not questions:
            continue
        parts = [f"# {assignment}: the written questions, answered\n"]
        for grade_id, question, answer in questions:
            parts += [f"<!-- {grade_id} -->", question.strip(), "", answer, ""]
        target = out_dir / f"{assignment}.md"
        target.write_text("\n".join(parts), encoding="utf-8")
        written.append(target)
    return written
