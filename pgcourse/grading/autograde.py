"""`pgcourse grade`: autograde a folder of submissions into a course's gradebook, robustly.

    grade_course(COURSE_DIR, SUBMISSIONS_DIR)   the term's course (`pgcourse grade --course`)
    grade(SUBMISSIONS_DIR, OUTPUT_DIR)          a new throw-away course in OUTPUT_DIR/course

SUBMISSIONS_DIR is laid out like nbgrader's `submitted/` folder: STUDENT/ASSIGNMENT/NOTEBOOK.ipynb
(it may be COURSE_DIR/submitted itself, as `nbgrader collect` leaves it). The submissions are
never modified. Each submission becomes one task (`pgcourse.grading.task`) graded in a private
scratch course, one at a time or in parallel (`pgcourse.grading.parallel`); this process alone
records the results in the course (`pgcourse.grading.record`). New students are added;
regrading one student, one assignment or a late resubmission changes only that submission's auto
scores, never a manual grade, a comment or anyone else's grade.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nbgrader.api import Gradebook
from tqdm.auto import tqdm

from pgcourse.grading import course, record, sandbox
from pgcourse.grading.parallel import run_tasks
from pgcourse.grading.exports import write_csv
from pgcourse.grading.results import QuestionScore, SubmissionResult, question_lines  # noqa: F401 (re-exported)
from pgcourse.grading.task import GradingTask, TooLarge, read_files

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")


def find_submissions(submissions_dir: Path) -> list[tuple[str, str]]:
    """(student, assignment) for each SUBMISSIONS_DIR/STUDENT/ASSIGNMENT folder."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise SystemExit(f"{submissions_dir} is not a folder of STUDENT/ASSIGNMENT/NOTEBOOK.ipynb submissions")
    return sorted((s.name, a.name) for s in submissions_dir.iterdir() if s.is_dir() and not s.name.startswith(".")
                  for a in s.iterdir() if a.is_dir() and not a.name.startswith("."))


def student_id_problems(students: set[str], known: set[str]) -> dict[str, str]:
    """Why a student id cannot be graded (spaces, non-ASCII, a case-only clash), per id."""
    problems = {}
    for student in students:
        if not STUDENT_ID.fullmatch(student):
            problems[student] = (f"student id {student!r} has spaces, non-ASCII letters or other characters that "
                                 "nbgrader, JupyterHub logins and LMS exports do not keep apart: rename the folder "
                                 "to the student's ASCII login (letters, digits, . _ - @)")
    everyone = students | known
    for student in students - problems.keys():
        twins = sorted(s for s in everyone if s.lower() == student.lower() and s != student)
        if twins:
            problems[student] = (f"student id {student!r} differs only in case from {', '.join(map(repr, twins))}: "
                                 "graded as one person by case-insensitive systems, so neither is graded until "
                                 "the folders are named consistently")
    return problems


NO_SANDBOX_WARNING = ("WARNING: grading WITHOUT a sandbox (--no-sandbox): every submission runs with your rights "
                      "and can read and change your files, the gradebook and other students' work; these grades "
                      "are marked as such in the grades CSV and the class report")


def check_sandbox(sandboxed: bool, scheduler: str | None, log: Callable[[str], None]) -> None:
    """Refuse to grade where no sandbox can be made (unless told --no-sandbox, which is logged)."""
    if not sandboxed:
        log(NO_SANDBOX_WARNING)
    elif scheduler is None and sandbox.problem():
        raise SystemExit(f"cannot grade: {sandbox.problem()} Nothing was graded.")


def grade_course(root: Path, submissions_dir: Path, workers: int = 1, scheduler: str | None = None,
                 timeout: int | None = None, log: Callable[[str], None] = print,
                 progress: bool = False, sandboxed: bool = True) -> list[SubmissionResult]:
    """Grade every submission into the course at `root`; returns one result per submission.

    Every kernel runs in the grading sandbox (`sandbox`); `sandboxed=False` (`--no-sandbox`) grades
    without it, and says so in the log, the grades CSV and the class report.
    """
    root, submissions_dir = Path(root), Path(submissions_dir)
    course.read_config_file(root)
    check_sandbox(sandboxed, scheduler, log)
    timeout = timeout or course.course_timeout(root)
    submission_timeout = course.course_submission_timeout(root)
    known = course.course_assignments(root)
    pairs = find_submissions(submissions_dir)
    with Gradebook(course.config(root).CourseDirectory.db_url, course.COURSE_ID) as gb:
        enrolled = {s.id for s in gb.students}
    earlier = set(record.recorded(root))
    problems = student_id_problems({s for s, _ in pairs}, enrolled)
    keep_submission = submissions_dir.resolve() != (root / "submitted").resolve()

    results: dict[tuple[str, str], SubmissionResult] = {}
    tasks = []
    sources = {a: read_files(root / "source" / a) for a in known}
    for student, assignment in pairs:
        if student in problems:
            results[student, assignment] = SubmissionResult(student, assignment, error=problems[student])
        elif assignment not in known:
            results[student, assignment] = SubmissionResult(
                student, assignment, error=f"unknown assignment {assignment!r} (the course has {', '.join(known)})")
        else:
            skipped: list[str] = []
            try:
                files = read_files(submissions_dir / student / assignment, skipped=skipped)
            except TooLarge as err:
                results[student, assignment] = SubmissionResult(student, assignment, error=str(err))
                continue
            if skipped:
                log(f"{student}/{assignment}: left out {', '.join(skipped)} (not regular files: symlinks are never followed)")
            tasks.append(GradingTask(student, assignment, files, sources[assignment], timeout, sandboxed,
                                     submission_timeout))
    for result in results.values():
        log(f"skipped {result.student}/{result.assignment}: {result.error}")

    start = time.perf_counter()
    with tqdm(total=len(tasks), unit="submission", desc="grading", file=sys.stderr, disable=not progress,
              dynamic_ncols=True) as bar:
        for graded in run_tasks(tasks, workers, scheduler, log=bar.write if progress else log):
            try:
                record.record(root, graded, keep_submission)
            except record.RecordError as err:
                graded.error = str(err)
            result = SubmissionResult(graded.student, graded.assignment, error=graded.error, note=graded.note,
                                      seconds=graded.seconds, sandboxed=graded.sandboxed)
            if graded.error:
                if (graded.student, graded.assignment) in earlier:
                    result.error = graded.error = graded.error + " (not recorded: the earlier grade stays)"
                result.questions = record.zero_scores(root, graded.assignment, graded.error)
            else:
                result.questions = record.scores(root, graded.assignment, graded.student)
                html = root / "feedback" / graded.student / graded.assignment / f"{graded.assignment}.html"
                result.feedback = html if html.exists() else None
            results[graded.student, graded.assignment] = result
            bar.update()
            line = (f"graded {result.student}/{result.assignment}: {result.points:g}/{result.max_points:g} "
                    f"in {result.seconds:.1f} s" + ("" if result.sandboxed else "  [NO SANDBOX]")
                    + (f"  ERROR: {result.error}" if result.error else ""))
            (bar.write if progress else log)(line)
    if tasks:
        log(f"graded {len(tasks)} submission(s) in {time.perf_counter() - start:.1f} s "
            f"({'scheduler ' + scheduler if scheduler else f'{workers} worker(s)'})")
    return [results[key] for key in sorted(results)]


def grade(submissions_dir: Path, output_dir: Path, timeout: int = course.DEFAULT_TIMEOUT_S,
          solutions_dir: Path | None = None, log: Callable[[str], None] = print, workers: int = 1,
          scheduler: str | None = None, progress: bool = False, sandboxed: bool = True) -> list[SubmissionResult]:
    """Grade into a new course OUTPUT/course; write OUTPUT/feedback and OUTPUT/grades.csv."""
    submissions_dir, output_dir = Path(submissions_dir), Path(output_dir)
    if sandboxed:
        check_sandbox(sandboxed, scheduler, log)   # before a course folder is made
    solutions_dir = Path(solutions_dir or course.default_solutions_dir())
    pairs = find_submissions(submissions_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise SystemExit(f"{output_dir} already exists and is not empty: choose a new --output folder "
                         "(grading never overwrites an earlier run)")
    known = course.available(solutions_dir)
    root = output_dir / "course"
    course.init_course(root, solutions_dir, sorted({a for _, a in pairs if a in known}), timeout)
    results = grade_course(root, submissions_dir, workers, scheduler, timeout, log, progress, sandboxed)
    for r in results:
        if r.feedback:
            copy = output_dir / "feedback" / r.student / r.assignment / r.feedback.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r.feedback, copy)
            r.feedback = copy
    write_csv(results, output_dir / "grades.csv")
    return results


def format_table(results: list[SubmissionResult]) -> str:
    """A plain-text table per student and question."""
    lines = []
    for r in results:
        header = (f"{r.student} / {r.assignment}: {r.points:g} / {r.max_points:g} points"
                  + ("" if r.sandboxed else "  [NO SANDBOX]"))
        lines.append(header + (f"  [{r.note}]" if r.note else "") + f"  ({r.seconds:.1f} s)")
        if r.error:
            lines.append(f"    ERROR: {r.error}")
        for q in r.questions:
            lines += question_lines(q, indent="    ")
    return "\n".join(lines)
