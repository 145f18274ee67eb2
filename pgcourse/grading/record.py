"""The one writer of the term's course: record a `GradedSubmission`, read scores back.

Grading tasks run anywhere and return data; only this module writes to the course directory,
from one process, one submission at a time. For a submission it

1. writes the autograded folder, the feedback HTML and (when grading from elsewhere) a copy of
   the submission into a staging folder inside the course, then moves them into nbgrader's
   places (`autograded/`, `feedback/`, `submitted/` STUDENT/ASSIGNMENT); a submission that this
   replaces is kept under `archive/STUDENT/ASSIGNMENT/TIME/`;
2. then records the auto scores in `gradebook.db` with nbgrader's own steps, run on the autograded
   notebook: the student and the submission are created when new, then `SaveAutoGrades` (only
   `auto_score`, `needs_manual_grade` and `auto_comment` change) and `AssignLatePenalties` (with
   the course's LateSubmissionPlugin); manual scores, manual comments, and every other student and
   assignment are left exactly as they were.

3. notes in `unsandboxed.txt` whether it was graded without the sandbox (`--no-sandbox`), so that
   the exports and the class report keep saying so until it is graded again in one.

If step 1 fails (the disk is full), nothing of the earlier grade or files has changed.
A submission that could not be graded (`error`) is not recorded: the earlier grade stays.
"""

from __future__ import annotations

import errno
import logging
import shutil
import time
import uuid
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import parse_utc

from pgcourse.grading import course
from pgcourse.grading.results import QuestionScore, SubmissionResult, first_failure
from pgcourse.grading.task import GradedSubmission, write_files

STAGING = ".pgcourse-staging"
UNSANDBOXED = "unsandboxed.txt"   # STUDENT/ASSIGNMENT per line: graded without a sandbox


class RecordError(Exception):
    """The course could not store a graded submission; nothing earlier was changed."""


def _write_staged(graded: GradedSubmission, staged: Path, keep_submission: bool) -> None:
    write_files(graded.autograded, staged / "autograded")
    name = f"{graded.assignment}.html"
    feedback = {name: graded.feedback_html} if graded.feedback_html else {}
    if feedback and graded.timestamp:   # nbgrader's release_feedback reads feedback/…/timestamp.txt
        feedback["timestamp.txt"] = graded.timestamp.encode()
    write_files(feedback, staged / "feedback")
    if keep_submission:
        write_files(graded.submission, staged / "submitted")


def _swap_in(root: Path, staged: Path, graded: GradedSubmission, steps: list[str]) -> None:
    for step in steps:
        target = root / step / graded.student / graded.assignment
        new = staged / step
        if not new.exists():
            continue
        if target.exists():
            if step == "submitted":
                archive = root / "archive" / graded.student / graded.assignment / time.strftime("%Y%m%dT%H%M%S")
                archive.parent.mkdir(parents=True, exist_ok=True)
                target.rename(archive if not archive.exists() else archive.with_name(archive.name + uuid.uuid4().hex[:6]))
            else:
                target.rename(staged / f"old-{step}")
        target.parent.mkdir(parents=True, exist_ok=True)
        new.rename(target)


def record(root: Path, graded: GradedSubmission, keep_submission: bool = True) -> None:
    """Store one graded submission in the course at `root` (see the module docstring)."""
    if graded.error:
        return
    root = Path(root)
    staged = root / STAGING / uuid.uuid4().hex
    try:
        _write_staged(graded, staged, keep_submission)
    except OSError as err:
        shutil.rmtree(staged, ignore_errors=True)
        why = "the disk is full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else str(err)
        raise RecordError(f"could not store {graded.student}/{graded.assignment} ({why}); "
                          "its earlier grade, feedback and submission are unchanged") from err
    course.quiet_gradebook_warnings()
    steps = ["autograded", "feedback"] + (["submitted"] if keep_submission else [])
    _swap_in(root, staged, graded, steps)
    shutil.rmtree(staged, ignore_errors=True)
    db_url = course.config(root).CourseDirectory.db_url
    with Gradebook(db_url, course.COURSE_ID) as gb:
        gb.update_or_create_student(graded.student)
        extra = {"timestamp": parse_utc(graded.timestamp)} if graded.timestamp else {}
        gb.update_or_create_submission(graded.assignment, graded.student, **extra)
    _save_auto_grades(root, graded, db_url)
    _note_sandbox(root, graded)


def unsandboxed(root: Path) -> set[tuple[str, str]]:
    """(student, assignment) of the recorded submissions last graded without a sandbox."""
    path = Path(root) / UNSANDBOXED
    lines = path.read_text().split() if path.exists() else []
    return {tuple(line.split("/", 1)) for line in lines if "/" in line}


def _note_sandbox(root: Path, graded: GradedSubmission) -> None:
    marked = unsandboxed(root)
    key = (graded.student, graded.assignment)
    if graded.sandboxed == (key not in marked):
        return
    marked = marked - {key} if graded.sandboxed else marked | {key}
    path = Path(root) / UNSANDBOXED
    path.write_text("".join(f"{s}/{a}\n" for s, a in sorted(marked)))


def _save_auto_grades(root: Path, graded: GradedSubmission, db_url: str) -> None:
    """nbgrader's SaveAutoGrades and AssignLatePenalties on the autograded notebook, into the term's
    gradebook, with the course's settings (its nbgrader_config.py: the late-submission plugin)."""
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    nb = nbformat.reads(graded.autograded[f"{graded.assignment}.ipynb"].decode("utf-8"), as_version=4)
    resources = {"nbgrader": {"notebook": graded.assignment, "assignment": graded.assignment,
                              "student": graded.student, "db_url": db_url}}
    config = course.read_config_file(root, need_gradebook=False)
    for step in (SaveAutoGrades, AssignLatePenalties):
        step(config=config, log=QUIET).preprocess(nb, resources)


QUIET = logging.getLogger("pgcourse.grading.record")   # nbgrader's "N seconds late" warnings: the log says it
QUIET.setLevel(logging.ERROR)


def question_order(root: Path, assignment: str) -> dict[str, int]:
    """Position of each grade cell in the instructor's notebook, so tables follow the notebook."""
    source = nbformat.read(Path(root) / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in source.cells]
    return {grade_id: i for i, grade_id in enumerate(ids) if grade_id}


def scores(root: Path, assignment: str, student: str) -> list[QuestionScore]:
    """Every question of a recorded submission, from the gradebook and the autograded notebook."""
    root = Path(root)
    autograded_path = root / "autograded" / student / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(autograded_path, as_version=4) if autograded_path.exists() else None
    result = []
    with Gradebook(course.config(root).CourseDirectory.db_url, course.COURSE_ID) as gb:
        submission = gb.find_submission_notebook(assignment, assignment, student)
        order = question_order(root, assignment)
        for grade in sorted(submission.grades, key=lambda g: order.get(g.cell.name, len(order))):
            if grade.manual_score is not None:
                status, message = "passed" if grade.score >= grade.max_score else "failed", "graded by hand"
            elif grade.needs_manual_grade:
                status, message = "manual", "awaits grading by hand"
            elif grade.cell.cell_type == "markdown":
                status, message = "failed", "not answered"
            else:
                status = "passed" if grade.score >= grade.max_score else "failed"
                message = first_failure(nb, grade.cell.name) if (nb is not None and status == "failed") else ""
            points = None if status == "manual" else float(grade.score)
            result.append(QuestionScore(grade.cell.name, points, float(grade.max_score), status, message))
    return result


def zero_scores(root: Path, assignment: str, error: str) -> list[QuestionScore]:
    """Every question of an assignment at 0 points, for a submission that could not be graded."""
    with Gradebook(course.config(root).CourseDirectory.db_url, course.COURSE_ID) as gb:
        try:
            nb = gb.find_notebook(assignment, assignment)
        except MissingEntry:
            return []
        order = question_order(root, assignment)
        return [QuestionScore(c.name, 0.0, float(c.max_score), "error", error)
                for c in sorted(nb.grade_cells, key=lambda c: order.get(c.name, len(order)))]


def recorded(root: Path) -> list[tuple[str, str]]:
    """(student, assignment) of every submission in the course's gradebook."""
    with Gradebook(course.config(root).CourseDirectory.db_url, course.COURSE_ID) as gb:
        return sorted((s.student.id, s.assignment.name) for a in gb.assignments for s in a.submissions)


def term_results(root: Path, assignment: str | None = None) -> list[SubmissionResult]:
    """Every recorded submission (of one assignment, or all) as SubmissionResults."""
    marked = unsandboxed(root)
    return [SubmissionResult(student, a, scores(root, a, student), sandboxed=(student, a) not in marked)
            for student, a in recorded(root) if assignment in (None, a)]
