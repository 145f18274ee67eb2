"""The `pgcourse` command: release notebooks, grade submissions, check your own work.

    pgcourse release [NOTEBOOK ...]                  instructors: solutions/ → notebooks/ (nbgrader)
    pgcourse answers [NOTEBOOK ...]                  instructors: the written questions' model answers
    pgcourse course init COURSE_DIR                  instructors: the term's nbgrader course
    pgcourse grade --course COURSE_DIR SUBMISSIONS   instructors: grade into the term's gradebook
    pgcourse grade SUBMISSIONS_DIR                   instructors: grade into a throw-away course
    pgcourse report --course COURSE_DIR              instructors: what the class got wrong
    pgcourse check NOTEBOOK                          students: run the visible tests, one row per question
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pgcourse.grading import course


def _release(args: argparse.Namespace) -> int:
    from pgcourse.grading.release import release

    for path in release(args.notebooks or None, args.solutions, args.output):
        print(f"wrote {path}")
    return 0


def _answers(args: argparse.Namespace) -> int:
    from pgcourse.grading.release import answers

    for path in answers(args.notebooks or None, args.output, args.solutions):
        print(f"wrote {path}")
    return 0


def _course_init(args: argparse.Namespace) -> int:
    course.quiet_gradebook_warnings()
    added = course.init_course(args.course_dir, args.solutions, args.notebooks or None, args.timeout)
    print(f"{args.course_dir}: added {', '.join(added) if added else 'nothing (every assignment is there)'}")
    print(f"release to students: cd {args.course_dir} && nbgrader release_assignment ASSIGNMENT")
    print(f"grade:               pgcourse grade --course {args.course_dir} {args.course_dir}/submitted")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from pgcourse.grading import exports
    from pgcourse.grading.autograde import format_table, grade, grade_course

    course.quiet_gradebook_warnings()
    common = dict(workers=args.workers, scheduler=args.scheduler, log=print, progress=sys.stderr.isatty(),
                  sandboxed=not args.no_sandbox)
    if args.course:
        if args.output:
            raise SystemExit("--output is for the throw-away mode; with --course everything goes into COURSE_DIR")
        results = grade_course(args.course, args.submissions, timeout=args.timeout, **common)
        root, where = args.course, args.course
    else:
        where = args.output or Path("graded") / time.strftime("%Y%m%d-%H%M%S")
        results = grade(args.submissions, where, timeout=args.timeout or course.DEFAULT_TIMEOUT_S,
                        solutions_dir=args.solutions, **common)
        root = Path(where) / "course"
    print(format_table(results))
    written = exports.write_all(root, Path(where), sorted({r.assignment for r in results if r.questions}))
    print()
    for label, path in written:
        print(f"{label:<16} {path}")
    print(f"written answers: nbgrader formgrader --CourseDirectory.root={root}")
    return 1 if any(r.error for r in results) else 0


def _report(args: argparse.Namespace) -> int:
    from pgcourse.grading import exports

    course.quiet_gradebook_warnings()
    course.read_config_file(args.course)
    names = course.resolve(args.assignments, args.course / "source") if args.assignments else None
    for label, path in exports.write_all(args.course, args.course, names or course.course_assignments(args.course)):
        print(f"{label:<16} {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from pgcourse.grading.selfcheck import check, format_rows

    if not args.notebook.exists():
        print(f"no such notebook: {args.notebook}", file=sys.stderr)
        return 2
    rows = check(args.notebook, timeout=args.timeout)
    print(format_rows(rows))
    return 0 if all(r.status in ("passed", "manual") for r in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="regenerate student notebooks from solutions/ with nbgrader",
                       description="Regenerate notebooks/ from solutions/ through nbgrader's generate_assignment: "
                                   "solutions become stubs, hidden tests are removed, test cells are locked.")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                   help="which notebooks (e.g. 01 or 01_importance_weighting); default: all")
    p.add_argument("--solutions", type=Path, default=course.default_solutions_dir(), help="instructor notebooks")
    p.add_argument("--output", type=Path, default=course.default_notebooks_dir(), help="where student notebooks go")
    p.set_defaults(run=_release)

    p = sub.add_parser("answers", help="the written questions' model answers, to hand out after the deadline",
                       description="Write OUTPUT/NN_topic.md for each notebook: its written questions with their model "
                                   "answers (never the mark schemes), which the student notebooks do not contain.")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="which notebooks (e.g. 01); default: all")
    p.add_argument("--solutions", type=Path, default=course.default_solutions_dir(), help="instructor notebooks")
    p.add_argument("--output", type=Path, default=Path("answers"), help="folder to write (default: answers/)")
    p.set_defaults(run=_answers)

    p = sub.add_parser("course", help="the term's nbgrader course directory",
                       description="Manage the nbgrader course an instructor keeps for the whole term.")
    course_sub = p.add_subparsers(dest="course_command", required=True, metavar="SUBCOMMAND")
    q = course_sub.add_parser("init", help="make (or extend) an nbgrader course directory from solutions/",
                              description="Make COURSE_DIR a standard nbgrader course: nbgrader_config.py, "
                                          "source/ASSIGNMENT/ASSIGNMENT.ipynb, release/, gradebook.db. Run again "
                                          "after adding a notebook: assignments already there are left untouched.")
    q.add_argument("course_dir", type=Path, metavar="COURSE_DIR")
    q.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="which notebooks (default: all)")
    q.add_argument("--solutions", type=Path, default=course.default_solutions_dir(), help="instructor notebooks")
    q.add_argument("--timeout", type=int, default=course.DEFAULT_TIMEOUT_S, help="seconds per cell, while grading")
    q.set_defaults(run=_course_init)

    p = sub.add_parser("grade", help="autograde submissions, write feedback HTML, grades and the class report",
                       description="Autograde SUBMISSIONS_DIR/STUDENT/ASSIGNMENT/NOTEBOOK.ipynb with nbgrader. "
                                   "Never modifies the submissions. With --course, grades into the term's "
                                   "gradebook (other grades, manual grades and comments stay as they are); "
                                   "without, into a new course OUTPUT/course. Writes feedback, grades CSVs and a "
                                   "class report per assignment. Exits 1 if any submission could not be graded.")
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    p.add_argument("--course", type=Path, default=None, metavar="COURSE_DIR",
                   help="the term's course (from `pgcourse course init`)")
    p.add_argument("--output", type=Path, default=None, help="without --course: a new folder (default: graded/TIMESTAMP)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="submissions graded at once on this machine (default: all cores; needs pgcourse[grading])")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="grade on the workers of this Dask scheduler instead")
    p.add_argument("--timeout", type=int, default=None,
                   help=f"seconds per cell (default: the course's setting, {course.DEFAULT_TIMEOUT_S})")
    p.add_argument("--solutions", type=Path, default=course.default_solutions_dir(), help="instructor notebooks")
    p.add_argument("--no-sandbox", action="store_true",
                   help="grade without the OS sandbox (README: 'What the sandbox blocks'): every submission then "
                        "runs with your rights; the log, grades CSV and class report say so")
    p.set_defaults(run=_grade)

    p = sub.add_parser("report", help="the class report and grade exports of a course",
                       description="Write COURSE_DIR/reports/ASSIGNMENT/report.{html,csv} (what the class got "
                                   "wrong), COURSE_DIR/grades.csv (per question) and COURSE_DIR/lms_grades.csv.")
    p.add_argument("--course", type=Path, required=True, metavar="COURSE_DIR")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment")
    p.set_defaults(run=_report)

    p = sub.add_parser("check", help="run your notebook's visible tests, as the autograder would",
                       description="Run NOTEBOOK in a fresh kernel and score each question with nbgrader's rules. "
                                   "Exits 1 if any autograded question fails.")
    p.add_argument("notebook", type=Path, metavar="NOTEBOOK")
    p.add_argument("--timeout", type=int, default=course.DEFAULT_TIMEOUT_S, help="seconds per cell")
    p.set_defaults(run=_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
