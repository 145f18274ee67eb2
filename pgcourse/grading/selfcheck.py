"""`pgcourse check NOTEBOOK`: the student's self-check.

Runs the notebook top to bottom in a fresh kernel, as the autograder does (with
`NBGRADER_EXECUTION=validate`, a per-cell timeout, errors allowed), then scores each test cell
with nbgrader's own rule (`nbgrader.utils.determine_grade`: an error or any stderr output scores
0). It reports one row per question and exits non-zero when anything fails, unlike
`nbgrader validate`, which always exits 0. Hidden tests are not in the student's notebook, so a
pass here is necessary, not sufficient.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.utils import determine_grade, is_grade, is_solution
from traitlets.config import Config

from pgcourse.grading import course
from pgcourse.grading.trusted_tests import TrustedTests
from pgcourse.grading.results import QuestionScore, first_failure, question_lines

UNANSWERED = "YOUR ANSWER HERE"


class CheckingClient(TrustedTests, NotebookClient):
    """nbclient's NotebookClient with the autograder's way of running test cells (outside the kernel)."""


def run_notebook(path: Path, timeout: int) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "validate"   # the kernel inherits it: training cells shorten
    try:
        # IPC sockets in a private folder: no ipykernel warning about unencrypted TCP above the table.
        with tempfile.TemporaryDirectory(prefix="pgcourse-kernel-") as sockets:
            cfg = Config()
            course.quiet_kernels(cfg, Path(sockets))
            client = CheckingClient(nb, config=cfg, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                                    kernel_name="python3", extra_arguments=list(course.GRADING_KERNEL_ARGS),
                                    shutdown_kernel=course.KERNEL_SHUTDOWN,
                                    resources={"metadata": {"path": str(path.parent)},
                                               "pgcourse_notebook": path.stem})
            client.execute()
    finally:
        if previous is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = previous
    return nb


def check(path: Path, timeout: int = 120) -> list[QuestionScore]:
    path = Path(path)
    nb = run_notebook(path, timeout)
    rows = []
    for cell in nb.cells:
        if not is_grade(cell):
            continue
        grade_id = cell.metadata.nbgrader["grade_id"]
        max_points = float(cell.metadata.nbgrader["points"])
        if is_solution(cell):  # a written answer: graded by hand
            answered = cell.source.strip() and UNANSWERED not in cell.source
            rows.append(QuestionScore(grade_id, None, max_points, "manual" if answered else "unanswered",
                                 "graded by hand" if answered else "write your answer in this cell"))
            continue
        points, _ = determine_grade(cell)
        passed = points is not None and points >= max_points
        rows.append(QuestionScore(grade_id, points, max_points, "passed" if passed else "failed",
                             "" if passed else first_failure(nb, grade_id)))
    return rows


def format_rows(rows: list[QuestionScore]) -> str:
    lines = [f"{'question':<42} {'points':>10}  result"]
    for r in rows:
        lines += question_lines(r, whole_message=True)
    auto = [r for r in rows if r.points is not None]
    lines.append(f"autograded total: {sum(r.points for r in auto):g} / {sum(r.max_points for r in auto):g}"
                 " (hidden tests run only when your instructor grades)")
    lines.append(verdict(rows))
    return "\n".join(lines)


def verdict(rows: list[QuestionScore]) -> str:
    """One plain sentence: what is left to do, and why the exit status is what it is."""
    failed = [r.question for r in rows if r.status == "failed"]
    unanswered = [r.question for r in rows if r.status == "unanswered"]
    if failed:
        return (f"To fix: {', '.join(failed)} (autograded)"
                + (f"; still to write: {', '.join(unanswered)} (graded by hand)" if unanswered else "")
                + ". Exit status 1.")
    if unanswered:
        return (f"Every autograded question passes. Only your written answer is missing: {', '.join(unanswered)} "
                "(graded by hand). Exit status 1 until you write it; nothing else is wrong.")
    return "Everything the self-check can see passes; written answers are graded by hand. Exit status 0."
