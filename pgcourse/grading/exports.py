"""Grades out of the term's gradebook: for the learning-management system, per question, per class.

`LmsExportPlugin` is an nbgrader exporter (its `ExportPlugin` interface): one row per student, a
column per assignment and the total, manual grades included where given, late penalties
subtracted as nbgrader's own CSV exporter does. It also works from nbgrader itself:

    nbgrader export --exporter=pgcourse.grading.exports.LmsExportPlugin --to=lms_grades.csv
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

from pgcourse.grading import course, record, report
from pgcourse.grading.results import SubmissionResult


class LmsExportPlugin(ExportPlugin):
    """One row per student: id, names, email, each assignment's score, total and maximum."""

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "lms_grades.csv"
        assignments = sorted(a.name for a in gradebook.assignments
                             if not self.assignment or a.name in self.assignment)
        max_total = sum(gradebook.find_assignment(a).max_score for a in assignments)
        with open(dest, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["student_id", "last_name", "first_name", "email", *assignments, "total", "max_total"])
            for student in sorted(gradebook.students, key=lambda s: s.id):
                if self.student and student.id not in self.student:
                    continue
                row = []
                for assignment in assignments:
                    try:
                        submission = gradebook.find_submission(assignment, student.id)
                    except MissingEntry:
                        row.append(0.0)  # nothing handed in (nbgrader's CSV exporter does the same)
                        continue
                    row.append(max(0.0, submission.score - (submission.late_submission_penalty or 0.0)))
                writer.writerow([student.id, student.last_name or "", student.first_name or "", student.email or "",
                                 *(f"{x:g}" for x in row), f"{sum(row):g}", f"{max_total:g}"])
        self.log.info("Exported one row per student to %s", dest)


def write_csv(results: list[SubmissionResult], path: Path) -> None:
    """One row per student, assignment and question, plus a TOTAL row per submission."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "assignment", "question", "points", "max_points", "status", "message"])
        for r in results:
            for q in r.questions:
                writer.writerow([r.student, r.assignment, q.question,
                                 "" if q.points is None else q.points, q.max_points, q.status, q.summary])
            status = "error" if r.error else ("needs manual grading" if any(q.status == "manual" for q in r.questions)
                                              else "autograded")
            if not r.sandboxed:
                status += " WITHOUT SANDBOX"
            writer.writerow([r.student, r.assignment, "TOTAL", r.points, r.max_points, status, r.error or r.note])


def write_lms_csv(root: Path, path: Path) -> Path:
    with Gradebook(course.config(root).CourseDirectory.db_url, course.COURSE_ID) as gb:
        LmsExportPlugin(to=str(path)).export(gb)
    return path


def write_all(root: Path, where: Path, assignments: list[str]) -> list[tuple[str, Path]]:
    """The LMS CSV, the per-question CSV of the whole term, and a class report per assignment."""
    root, where = Path(root), Path(where)
    written = [("LMS grades:", write_lms_csv(root, where / "lms_grades.csv"))]
    results = record.term_results(root)
    write_csv(results, where / "question_grades.csv")
    written.append(("per question:", where / "question_grades.csv"))
    for assignment in assignments:
        html_path, _ = report.write_report(assignment, results, where / "reports" / assignment)
        written.append(("class report:", html_path))
    written.append(("feedback:", root / "feedback"))
    return written
