"""One grading task: autograde one submission in a private scratch course, return data.

nbgrader cannot grade in parallel in one course directory (its issue 174: kernels on clashing
ports, one SQLite gradebook). So a task never touches the term's course: it gets the submission
and the assignment's source as bytes (`GradingTask`), builds a scratch course in a temporary
folder, runs nbgrader's autograde and generate_feedback there, and returns the scores, the
autograded files and the feedback HTML as bytes (`GradedSubmission`). A task therefore runs
anywhere pgcourse is installed: in this process, in a local worker, on a Dask worker elsewhere.
Only the caller writes to the term's gradebook (`pgcourse.grading.record`).

Per submission:
1. a notebook that is not valid JSON is an error (score 0), without stopping the others;
2. a notebook saved under another name (`…-Copy1.ipynb`) is graded under the expected name;
3. nbgrader autogrades it: a per-cell timeout interrupts infinite loops, edited test cells are
   restored from their checksums, deleted test cells are added back; a kernel that dies fails
   only this submission;
4. feedback HTML is generated with the hidden tests stripped.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from pgcourse.grading import course

Files = dict[str, bytes]  # relative path → content


@dataclass
class GradingTask:
    student: str
    assignment: str
    submission: Files          # the student's folder, as handed in
    source: Files              # the course's source/ASSIGNMENT folder
    timeout: int = course.DEFAULT_TIMEOUT_S


@dataclass
class GradedSubmission:
    student: str
    assignment: str
    auto_scores: dict[str, float | None] = field(default_factory=dict)   # grade_id → nbgrader's auto_score
    auto_comments: dict[str, str | None] = field(default_factory=dict)   # grade_id → auto_comment
    autograded: Files = field(default_factory=dict)   # the autograded folder (restored cells, outputs)
    feedback_html: bytes = b""
    submission: Files = field(default_factory=dict)   # what was graded (after renaming), for submitted/
    timestamp: str = ""        # from nbgrader's timestamp.txt, when the submission has one
    error: str = ""
    note: str = ""
    seconds: float = 0.0


def read_files(folder: Path) -> Files:
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_files(files: Files, folder: Path) -> None:
    for name, data in files.items():
        target = Path(folder) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def stage_submission(files: Files, assignment: str) -> tuple[Files, str, str]:
    """The files to grade, an error and a note. The expected notebook is ASSIGNMENT.ipynb."""
    expected = f"{assignment}.ipynb"
    notebooks = sorted(n for n in files if n.endswith(".ipynb") and "/" not in n)
    files, note = dict(files), ""
    if expected not in files:
        if len(notebooks) != 1:
            found = ", ".join(notebooks) if notebooks else "no notebook"
            return files, f"expected one notebook {expected}, found {found}: rename the one to grade", ""
        files[expected] = files.pop(notebooks[0])
        note = f"graded {notebooks[0]} as {expected}"
    elif len(notebooks) > 1:
        note = f"graded {expected}; ignored {', '.join(n for n in notebooks if n != expected)}"
    try:
        nbformat.reads(files[expected].decode("utf-8"), as_version=4)
    except Exception as err:  # not UTF-8, not JSON, or not a notebook: nbformat says which
        return files, f"{expected} is not a valid notebook ({type(err).__name__}: {str(err)[:120]})", note
    return files, "", note


_templates: dict[str, Path] = {}   # per process: source digest → a generated scratch course


@atexit.register
def _remove_templates() -> None:
    for root in _templates.values():
        shutil.rmtree(root, ignore_errors=True)


def _template(task: GradingTask) -> Path:
    """A scratch course with this assignment generated once per process (removed when the process exits)."""
    digest = hashlib.sha256(repr(sorted(task.source.items())).encode() + task.assignment.encode()).hexdigest()
    if digest not in _templates or not _templates[digest].exists():
        root = Path(tempfile.mkdtemp(prefix="pgcourse-template-"))
        write_files(task.source, root / "source" / task.assignment)
        api = course.make_api(root, task.timeout)
        course.generate(api, task.assignment)
        _templates[digest] = root
    return _templates[digest]


def explain_failure(log: str) -> str:
    if "DeadKernelError" in log or "Kernel died" in log:
        return ("the kernel died while running the notebook (os._exit, a crash or running out of memory), "
                "so no cell could be graded")
    lines = [line.strip() for line in log.splitlines() if "Error" in line or "Exception" in line]
    return "autograding failed: " + (lines[-1][:200] if lines else "see the nbgrader log")


def grade_task(task: GradingTask) -> GradedSubmission:
    """Autograde one submission in a private scratch course. Never raises for a bad submission."""
    start = time.perf_counter()
    result = GradedSubmission(task.student, task.assignment)
    files, result.error, result.note = stage_submission(task.submission, task.assignment)
    result.submission = files
    result.timestamp = files.get("timestamp.txt", b"").decode("utf-8", "replace").strip()
    if result.error:
        result.seconds = time.perf_counter() - start
        return result
    with tempfile.TemporaryDirectory(prefix="pgcourse-grade-") as tmp:
        root = Path(tmp) / "course"
        template = _template(task)
        shutil.copytree(template / "source", root / "source")
        shutil.copy2(template / "gradebook.db", root / "gradebook.db")
        write_files(files, root / "submitted" / task.student / task.assignment)
        cfg = course.config(root, task.timeout)
        course.quiet_kernels(cfg, Path(tmp))
        api = course.api_from_config(cfg)
        outcome = api.autograde(task.assignment, task.student, force=True, create=True)
        if not outcome["success"]:
            result.error = explain_failure(outcome.get("log", "") + (outcome.get("error") or ""))
        else:
            with Gradebook(cfg.CourseDirectory.db_url, course.COURSE_ID) as gb:
                nb = gb.find_submission_notebook(task.assignment, task.assignment, task.student)
                result.auto_scores = {g.cell.name: g.auto_score for g in nb.grades}
                result.auto_comments = {c.cell.name: c.auto_comment for c in nb.comments}
            result.autograded = read_files(root / "autograded" / task.student / task.assignment)
            api.generate_feedback(task.assignment, task.student, force=True)
            html = root / "feedback" / task.student / task.assignment / f"{task.assignment}.html"
            result.feedback_html = html.read_bytes() if html.exists() else b""
    result.seconds = time.perf_counter() - start
    return result
