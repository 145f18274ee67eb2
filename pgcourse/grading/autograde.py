"""`pgcourse grade`: autograde a folder of submissions with nbgrader, robustly.

SUBMISSIONS_DIR is laid out like nbgrader's `submitted/` folder: STUDENT/ASSIGNMENT/NOTEBOOK.ipynb.
Everything is copied into a fresh course directory under the output folder, so the submissions
are never modified and an earlier run is never overwritten. Per student and assignment:

1. a notebook that is not valid JSON is recorded as an error (score 0), without stopping others;
2. a notebook saved under another name (`…-Copy1.ipynb`) is graded under the expected name;
3. nbgrader autogrades it: a per-cell timeout interrupts infinite loops, edited test cells are
   restored from their checksums, deleted test cells are added back; a kernel that dies fails
   only this submission;
4. feedback HTML is generated with the hidden tests stripped.

The course directory stays in OUTPUT/course, so an instructor can grade the written answers in
nbgrader's formgrader (`nbgrader formgrader --CourseDirectory.root=OUTPUT/course`) afterwards.
"""

from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from pgcourse.grading import course


@dataclass
class QuestionScore:
    question: str          # the grade cell's id, e.g. test_iw_gradient_estimate
    points: float | None   # None while a written answer awaits manual grading
    max_points: float
    status: str            # passed | failed | manual | error
    message: str = ""      # the first failure's message, for the student and the table


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    questions: list[QuestionScore] = field(default_factory=list)
    error: str = ""        # why the submission could not be graded, if it could not
    note: str = ""         # anything fixed up on the way (e.g. a renamed notebook)
    seconds: float = 0.0
    feedback: Path | None = None

    @property
    def points(self) -> float:
        return sum(q.points or 0.0 for q in self.questions)

    @property
    def max_points(self) -> float:
        return sum(q.max_points for q in self.questions)


def first_failure(nb: nbformat.NotebookNode, grade_id: str, full: bool = False) -> str:
    """The first error (or stderr text) of a test cell: one line, or the whole message if `full`."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") != grade_id:
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                text = f"{output.ename}: {output.evalue.strip() or 'a test failed'}"
                return text if full else text.splitlines()[0][:200]
            if output.output_type == "stream" and output.name == "stderr":
                first_line = (output.text.strip().splitlines() or [""])[0]
                return "the cell wrote to stderr, which nbgrader scores 0: " + first_line[:150]
    return ""


def _question_order(root: Path, assignment: str) -> dict[str, int]:
    """Position of each grade cell in the instructor's notebook, so tables follow the notebook."""
    source = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in source.cells]
    return {grade_id: i for i, grade_id in enumerate(ids) if grade_id}


def _scores(root: Path, assignment: str, student: str) -> list[QuestionScore]:
    autograded_path = root / "autograded" / student / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(autograded_path, as_version=4) if autograded_path.exists() else None
    scores = []
    with Gradebook(course.config(root).CourseDirectory.db_url) as gb:
        submission = gb.find_submission_notebook(assignment, assignment, student)
        order = _question_order(root, assignment)
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
            scores.append(QuestionScore(grade.cell.name, points, float(grade.max_score), status, message))
    return scores


def _stage_submission(src: Path, dest: Path, assignment: str) -> tuple[str, str]:
    """Copy one submission; returns (error, note). The expected notebook is ASSIGNMENT.ipynb."""
    shutil.copytree(src, dest)
    expected = dest / f"{assignment}.ipynb"
    notebooks = sorted(dest.glob("*.ipynb"))
    note = ""
    if not expected.exists():
        if len(notebooks) != 1:
            return f"expected {expected.name}, found {[p.name for p in notebooks] or 'no notebook'}", ""
        notebooks[0].rename(expected)
        note = f"graded {notebooks[0].name} as {expected.name}"
    try:
        nbformat.read(expected, as_version=4)
    except Exception as err:  # not JSON, or not a notebook: nbformat says which
        return f"{expected.name} is not a valid notebook ({type(err).__name__}: {str(err)[:120]})", note
    return "", note


def grade(submissions_dir: Path, output_dir: Path, timeout: int = course.DEFAULT_TIMEOUT_S,
          solutions_dir: Path | None = None, log=print) -> list[SubmissionResult]:
    """Autograde every STUDENT/ASSIGNMENT submission; write feedback and grades.csv to output_dir."""
    submissions_dir, output_dir = Path(submissions_dir), Path(output_dir)
    solutions_dir = Path(solutions_dir or course.default_solutions_dir())
    if not submissions_dir.is_dir():
        raise SystemExit(f"{submissions_dir} is not a folder of STUDENT/ASSIGNMENT/NOTEBOOK.ipynb submissions")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise SystemExit(f"{output_dir} already exists and is not empty: choose a new --output folder "
                         "(grading never overwrites an earlier run)")
    known = course.available(solutions_dir)
    pairs = sorted((s.name, a.name) for s in submissions_dir.iterdir() if s.is_dir()
                   for a in s.iterdir() if a.is_dir())
    root = output_dir / "course"
    assignments = sorted({a for _, a in pairs if a in known})
    course.stage_sources(root, solutions_dir, assignments)
    api = course.make_api(root, timeout)
    for assignment in assignments:
        course.generate(api, assignment)

    results = []
    for student, assignment in pairs:
        result = SubmissionResult(student, assignment)
        results.append(result)
        start = time.perf_counter()
        if assignment not in known:
            result.error = f"unknown assignment (the course has {', '.join(known)})"
            continue
        dest = root / "submitted" / student / assignment
        result.error, result.note = _stage_submission(submissions_dir / student / assignment, dest, assignment)
        if not result.error:
            log(f"grading {student}/{assignment} …")
            outcome = api.autograde(assignment, student, force=True, create=True)
            if not outcome["success"]:
                result.error = _explain_failure(outcome.get("log", "") + (outcome.get("error") or ""))
        if not result.error:
            result.questions = _scores(root, assignment, student)
            fb = api.generate_feedback(assignment, student, force=True)
            html = root / "feedback" / student / assignment / f"{assignment}.html"
            if fb["success"] and html.exists():
                result.feedback = output_dir / "feedback" / student / assignment / html.name
                result.feedback.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(html, result.feedback)
        if result.error:  # still list every question, with zero points, so the CSV is complete
            result.questions = _zero_scores(root, assignment, result.error) if assignment in assignments else []
        result.seconds = time.perf_counter() - start
    write_csv(results, output_dir / "grades.csv")
    return results


def _zero_scores(root: Path, assignment: str, error: str) -> list[QuestionScore]:
    with Gradebook(course.config(root).CourseDirectory.db_url) as gb:
        try:
            nb = gb.find_notebook(assignment, assignment)
        except MissingEntry:
            return []
        order = _question_order(root, assignment)
        return [QuestionScore(c.name, 0.0, float(c.max_score), "error", error)
                for c in sorted(nb.grade_cells, key=lambda c: order.get(c.name, len(order)))]


def _explain_failure(log: str) -> str:
    if "DeadKernelError" in log or "Kernel died" in log:
        return ("the kernel died while running the notebook (os._exit, a crash or running out of memory), "
                "so no cell could be graded")
    lines = [line.strip() for line in log.splitlines() if "Error" in line or "Exception" in line]
    return "autograding failed: " + (lines[-1][:200] if lines else "see the nbgrader log")


def write_csv(results: list[SubmissionResult], path: Path) -> None:
    """One row per student, assignment and question, plus a TOTAL row per submission."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "assignment", "question", "points", "max_points", "status", "message"])
        for r in results:
            for q in r.questions:
                writer.writerow([r.student, r.assignment, q.question,
                                 "" if q.points is None else q.points, q.max_points, q.status, q.message])
            status = "error" if r.error else ("needs manual grading" if any(q.status == "manual" for q in r.questions)
                                              else "autograded")
            writer.writerow([r.student, r.assignment, "TOTAL", r.points, r.max_points, status, r.error or r.note])


def format_table(results: list[SubmissionResult]) -> str:
    """A plain-text table per student and question."""
    lines = []
    for r in results:
        header = f"{r.student} / {r.assignment}: {r.points:g} / {r.max_points:g} points"
        lines.append(header + (f"  [{r.note}]" if r.note else "") + f"  ({r.seconds:.1f} s)")
        if r.error:
            lines.append(f"    ERROR: {r.error}")
        for q in r.questions:
            pts = "  —" if q.points is None else f"{q.points:g}"
            lines.append(f"    {q.question:<40} {pts:>4} / {q.max_points:<4g} {q.status:<7} {q.message[:90]}")
    return "\n".join(lines)
