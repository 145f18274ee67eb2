"""What did the class get wrong? A report per assignment, built on what the checks already say.

For each question: the mean points, the share of submissions that passed, and the most frequent
failures grouped by the checks' own diagnosis (`QuestionScore.diagnosis`: the failure's `Hint:`
line, such as "Hint: right size, wrong sign", normalised; else its first line), each with a
count and a few example students. Written as `report.csv` and as `report.html` with a chart.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pgcourse.grading.results import SubmissionResult

TOP_FAILURES = 5
EXAMPLES = 3


@dataclass
class Failure:
    diagnosis: str
    count: int
    examples: list[str]      # a few student ids


@dataclass
class QuestionSummary:
    question: str
    max_points: float
    graded: int              # submissions with a score (written answers awaiting a grader excluded)
    awaiting: int            # written answers not yet graded by hand
    mean_points: float
    share_passed: float
    failures: list[Failure] = field(default_factory=list)


def summarise(results: list[SubmissionResult]) -> list[QuestionSummary]:
    """One QuestionSummary per question, in the order the questions appear in the results."""
    order: list[str] = []
    scores = defaultdict(list)
    for r in results:
        for q in r.questions:
            if q.question not in scores:
                order.append(q.question)
            scores[q.question].append((r.student, q))
    summaries = []
    for name in order:
        rows = scores[name]
        graded = [(s, q) for s, q in rows if q.points is not None]
        failed = [(s, q) for s, q in graded if q.status in ("failed", "error")]
        by_diagnosis: dict[str, list[str]] = defaultdict(list)
        for student, q in failed:
            by_diagnosis[q.diagnosis or "failed without a message"].append(student)
        counts = Counter({d: len(students) for d, students in by_diagnosis.items()})
        failures = [Failure(d, n, sorted(by_diagnosis[d])[:EXAMPLES]) for d, n in
                    sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_FAILURES]]
        n = len(graded)
        summaries.append(QuestionSummary(
            name, rows[0][1].max_points, n, len(rows) - n,
            sum(q.points for _, q in graded) / n if n else 0.0,
            sum(q.status == "passed" for _, q in graded) / n if n else 0.0, failures))
    return summaries


def write_csv(summaries: list[QuestionSummary], path: Path) -> None:
    """One row per question and frequent failure (a question nobody failed gets one row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question", "max_points", "graded", "awaiting_manual", "mean_points", "share_passed",
                         "failure", "count", "example_students"])
        for s in summaries:
            head = [s.question, s.max_points, s.graded, s.awaiting, round(s.mean_points, 3), round(s.share_passed, 3)]
            for f in s.failures or [Failure("", 0, [])]:
                writer.writerow(head + [f.diagnosis, f.count, " ".join(f.examples)])


def _chart_png(summaries: list[QuestionSummary]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(summaries) + 1.2))
    names = [s.question for s in summaries][::-1]
    ax.barh(names, [100 * s.share_passed for s in summaries][::-1], color="#4c72b0")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded submissions that passed")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def write_html(assignment: str, summaries: list[QuestionSummary], n_submissions: int, path: Path,
               unsandboxed: list[str] = ()) -> None:
    esc = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>{esc(assignment)}: class report</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.2em .6em;"
             "text-align:left;vertical-align:top}table{border-collapse:collapse}tr{border-bottom:1px solid #ddd}</style>",
             f"<h1>{esc(assignment)}: what the class got wrong</h1>",
             f"<p>{n_submissions} graded submission(s).</p>"]
    if unsandboxed:
        parts.append(f"<p class='warning' style='color:#a00'><b>{len(unsandboxed)} submission(s) were graded WITHOUT "
                     "a sandbox</b> (--no-sandbox): their code ran with the grader's rights, so their scores and the "
                     f"course's files cannot be trusted: {esc(', '.join(unsandboxed))}.</p>")
    if summaries:
        png = base64.b64encode(_chart_png(summaries)).decode()
        parts.append(f"<img alt='share passed per question' src='data:image/png;base64,{png}'>")
    parts.append("<table><tr><th>question</th><th>mean points</th><th>passed</th><th>most frequent failures</th></tr>")
    for s in summaries:
        failures = "<br>".join(f"{f.count}× {esc(f.diagnosis)} <small>(e.g. {esc(', '.join(f.examples))})</small>"
                               for f in s.failures) or "—"
        awaiting = f"<br><small>{s.awaiting} await grading by hand</small>" if s.awaiting else ""
        parts.append(f"<tr><td>{esc(s.question)}</td><td>{s.mean_points:.2f} / {s.max_points:g}</td>"
                     f"<td>{100 * s.share_passed:.0f}% of {s.graded}{awaiting}</td><td>{failures}</td></tr>")
    parts.append("</table>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def write_report(assignment: str, results: list[SubmissionResult], folder: Path) -> tuple[Path, Path]:
    """folder/report.html and folder/report.csv for one assignment's results."""
    summaries = summarise([r for r in results if r.assignment == assignment])
    folder = Path(folder)
    write_csv(summaries, folder / "report.csv")
    unsandboxed = sorted(r.student for r in results if r.assignment == assignment and not r.sandboxed)
    write_html(assignment, summaries, sum(r.assignment == assignment for r in results), folder / "report.html",
               unsandboxed)
    return folder / "report.html", folder / "report.csv"
