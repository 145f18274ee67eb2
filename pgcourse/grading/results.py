"""What grading says about a submission: one `QuestionScore` per graded cell.

The same record serves the student's self-check (`pgcourse check`), the instructor's grading run,
the CSV exports and the class report. `message` is the whole failure the student saw (the checks
write several lines: the case, expected and actual values, and a `Hint:` line for a known
mistake); `summary` is its first line and `diagnosis` what the class report groups by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

STATUSES = ("passed", "failed", "manual", "unanswered", "error")


@dataclass
class QuestionScore:
    question: str          # the grade cell's id, e.g. test_iw_gradient_estimate
    points: float | None   # None while a written answer awaits grading by hand
    max_points: float
    status: str            # one of STATUSES
    message: str = ""      # the whole failure message ("" when passed)

    @property
    def summary(self) -> str:
        """The failure's first line, for tables."""
        return (self.message.strip().splitlines() or [""])[0][:200]

    @property
    def diagnosis(self) -> str:
        """The checks' own diagnosis: the `Hint:` line, normalised, or else the first line.

        The hint may follow the exception's name on the first line, as a library answer's does in
        nbgrader's output (`LibraryAnswerUsed: Hint: library reference used: …`).
        """
        for line in self.message.splitlines():
            if "Hint:" in line:
                return normalise_hint(line[line.index("Hint:"):])
        return self.summary


def normalise_hint(line: str) -> str:
    """`  Hint:  right size,  wrong sign.` → `Hint: right size, wrong sign` (spacing, end punctuation)."""
    return re.sub(r"\s+", " ", line.strip()).rstrip(" .")


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    questions: list[QuestionScore] = field(default_factory=list)
    error: str = ""        # why the submission could not be graded, if it could not
    note: str = ""         # anything fixed up on the way (e.g. a renamed notebook)
    seconds: float = 0.0
    feedback: Path | None = None
    sandboxed: bool = True  # False: graded with --no-sandbox (its code ran with the grader's rights)

    @property
    def points(self) -> float:
        return sum(q.points or 0.0 for q in self.questions)

    @property
    def max_points(self) -> float:
        return sum(q.max_points for q in self.questions)


def question_lines(q: QuestionScore, indent: str = "", whole_message: bool = False) -> list[str]:
    """One question as a table row: its id, points, status and the message's first line; with
    `whole_message`, the message's other lines below it. Every table of scores prints these."""
    points = f"{'—' if q.points is None else f'{q.points:g}'} / {q.max_points:g}"
    first, *rest = (q.message or "").strip().splitlines() or [""]
    lines = [f"{indent}{q.question:<42} {points:>10}  {q.status}{': ' + first[:200] if first else ''}"]
    return lines + [f"{indent}    {line}" for line in rest] if whole_message else lines


def first_failure(nb: nbformat.NotebookNode, grade_id: str) -> str:
    """The whole error (or stderr text) that a test cell printed, or "" if it printed none."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") != grade_id:
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                return f"{output.ename}: {output.evalue.strip() or 'a test failed'}"
            if output.output_type == "stream" and output.name == "stderr":
                first_line = (output.text.strip().splitlines() or [""])[0]
                return "the cell wrote to stderr, which nbgrader scores 0: " + first_line[:150]
    return ""
