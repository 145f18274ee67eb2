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

The kernel runs in the grading sandbox (`sandbox`; `GradingTask.sandboxed`), and what comes back
from the scratch course is data this process read itself: the autograded notebook (a regular
file, at most `NOTEBOOK_CAP_BYTES`), never a file the kernel made; the autograded folder's other
files are the submission's own, from this process's copy. A submission's folder is read
the same way: regular files only (a symlink is left out and noted), at most `SUBMISSION_CAP_BYTES`.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from pgcourse.grading import course, forked_kernels, sandbox

Files = dict[str, bytes]  # relative path → content
SUBMISSION_CAP_BYTES = 100 << 20   # a student's whole folder, as handed in
NOTEBOOK_CAP_BYTES = 64 << 20      # the autograded notebook read back


@dataclass
class GradingTask:
    student: str
    assignment: str
    submission: Files          # the student's folder, as handed in
    source: Files              # the course's source/ASSIGNMENT folder
    timeout: int = course.DEFAULT_TIMEOUT_S
    sandboxed: bool = True     # False only with an explicit --no-sandbox
    submission_timeout: int = course.DEFAULT_SUBMISSION_TIMEOUT_S   # the whole notebook, in the sandbox


@dataclass
class GradedSubmission:
    student: str
    assignment: str
    autograded: Files = field(default_factory=dict)   # the autograded notebook (restored cells, outputs: its
                                                      # scores), and the submission's other files
    feedback_html: bytes = b""
    submission: Files = field(default_factory=dict)   # what was graded (after renaming), for submitted/
    timestamp: str = ""        # from nbgrader's timestamp.txt, when the submission has one
    error: str = ""
    note: str = ""
    seconds: float = 0.0
    sandboxed: bool = True


class TooLarge(ValueError):
    pass


def read_files(folder: Path, cap: int = SUBMISSION_CAP_BYTES, skipped: list[str] | None = None) -> Files:
    """The regular files under `folder` (symlinks and special files are left out, and named in `skipped`).

    Raises TooLarge past `cap` bytes in all.
    """
    folder, files, total = Path(folder), {}, 0
    for dirpath, dirnames, names in os.walk(folder):   # os.walk does not enter a symlinked folder
        for name in sorted(names) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                if skipped is not None:
                    skipped.append(str(path.relative_to(folder)))
                continue
            total += info.st_size
            if total > cap:
                raise TooLarge(f"{folder.name} holds more than {cap >> 20} MiB")
            files[str(path.relative_to(folder))] = path.read_bytes()
    return dict(sorted(files.items()))


def read_autograded_notebook(folder: Path, assignment: str) -> Files:
    """The autograded notebook, and nothing else of the folder (whatever else a kernel may have left)."""
    path = Path(folder) / f"{assignment}.ipynb"
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise TooLarge(f"the autograded {path.name} is not a regular file")
    if info.st_size > NOTEBOOK_CAP_BYTES:
        raise TooLarge(f"the autograded {path.name} is larger than {NOTEBOOK_CAP_BYTES >> 20} MiB")
    return {path.name: path.read_bytes()}


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


def explain_failure(log: str, events: list[str] = ()) -> str:
    for event in events:
        if event.startswith("over time"):
            return event.removeprefix("over time: ")
    if "no grading sandbox" in log:
        return "autograding failed: " + log[log.index("no grading sandbox"):].splitlines()[0][:400]
    if "DeadKernelError" in log or "Kernel died" in log:
        return ("the kernel died while running the notebook (os._exit, a crash or running out of memory), "
                "so no cell could be graded")
    lines = [line.strip() for line in log.splitlines() if "Error" in line or "Exception" in line]
    return "autograding failed: " + (lines[-1][:200] if lines else "see the nbgrader log")


def grade_task(task: GradingTask) -> GradedSubmission:
    """Autograde one submission in a private scratch course. Never raises for a bad submission."""
    start = time.perf_counter()
    result = GradedSubmission(task.student, task.assignment, sandboxed=task.sandboxed)
    files, result.error, result.note = stage_submission(task.submission, task.assignment)
    result.submission = files
    result.timestamp = files.get("timestamp.txt", b"").decode("utf-8", "replace").strip()
    if not result.error and task.sandboxed and sandbox.problem():
        result.error = f"this grading machine cannot make a sandbox: {sandbox.problem()}"
    if result.error:
        result.seconds = time.perf_counter() - start
        return result
    with tempfile.TemporaryDirectory(prefix="pgcourse-grade-") as tmp:
        root = Path(tmp) / "course"
        template = _template(task)
        shutil.copytree(template / "source", root / "source")
        shutil.copy2(template / "gradebook.db", root / "gradebook.db")
        write_files(files, root / "submitted" / task.student / task.assignment)
        cfg = course.config(root, task.timeout, sandboxed=task.sandboxed, submission_timeout=task.submission_timeout)
        course.quiet_kernels(cfg, Path(tmp))
        api = course.api_from_config(cfg)
        forked_kernels.events.clear()
        outcome = api.autograde(task.assignment, task.student, force=True, create=True)
        events = list(forked_kernels.events)
        if any(e.startswith("over time") for e in events):
            outcome["success"] = False
        if not outcome["success"]:
            result.error = explain_failure(outcome.get("log", "") + (outcome.get("error") or ""), events)
        else:
            try:
                result.autograded = read_autograded_notebook(root / "autograded" / task.student / task.assignment,
                                                             task.assignment)
                # beside it, as nbgrader's autograde keeps them (its exchange reads timestamp.txt and
                # submission_secret.txt there), the submission's other files: this process's own copy
                result.autograded.update({name: data for name, data in files.items() if not name.endswith(".ipynb")})
            except (TooLarge, OSError) as err:
                result.error = f"the autograded notebook cannot be kept: {err}"
                result.seconds = time.perf_counter() - start
                return result
            api.generate_feedback(task.assignment, task.student, force=True)
            html = root / "feedback" / task.student / task.assignment / f"{task.assignment}.html"
            result.feedback_html = html.read_bytes() if html.exists() else b""
    result.seconds = time.perf_counter() - start
    return result
