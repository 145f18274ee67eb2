"""The `pgcourse` command: release notebooks, grade submissions, check your own work.

    pgcourse release [NOTEBOOK ...]        instructors: solutions/ → notebooks/ (nbgrader)
    pgcourse grade SUBMISSIONS_DIR         instructors: autograde, feedback HTML, grades.csv
    pgcourse check NOTEBOOK                students: run the visible tests, one row per question
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pgcourse.grading import course


def _release(args: argparse.Namespace) -> int:
    from pgcourse.grading.release import release

    for path in release(args.notebooks or None, args.solutions, args.output):
        print(f"wrote {path}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    import warnings

    from pgcourse.grading.autograde import format_table, grade

    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter from nbgrader's gradebook
    output = args.output or Path("graded") / time.strftime("%Y%m%d-%H%M%S")
    results = grade(args.submissions, output, timeout=args.timeout, solutions_dir=args.solutions)
    print(format_table(results))
    print(f"\nfeedback: {output / 'feedback'}/STUDENT/ASSIGNMENT/*.html\ngrades:   {output / 'grades.csv'}")
    print(f"written answers: nbgrader formgrader --CourseDirectory.root={output / 'course'}")
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

    p = sub.add_parser("grade", help="autograde submissions, write feedback HTML and grades.csv",
                       description="Autograde SUBMISSIONS_DIR/STUDENT/ASSIGNMENT/NOTEBOOK.ipynb with nbgrader. "
                                   "Never modifies the submissions; writes OUTPUT/feedback, OUTPUT/grades.csv and "
                                   "keeps the nbgrader course in OUTPUT/course for grading written answers.")
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    p.add_argument("--output", type=Path, default=None, help="a new folder (default: graded/TIMESTAMP)")
    p.add_argument("--timeout", type=int, default=course.DEFAULT_TIMEOUT_S, help="seconds per cell")
    p.add_argument("--solutions", type=Path, default=course.default_solutions_dir(), help="instructor notebooks")
    p.set_defaults(run=_grade)

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
