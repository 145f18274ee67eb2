"""How long does `pgcourse grade` take per submission? (Not a test: timings depend on the machine.)

    .venv/bin/python benchmarks/grading.py [ASSIGNMENT] [--students 3]

Grades N copies of the solved notebook and prints the per-submission autograde time (nbgrader
executing the notebook in a fresh kernel, plus feedback), then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import submissions as S  # noqa: E402
from pgcourse.grading import autograde  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", nargs="?", default="01_importance_weighting")
    parser.add_argument("--students", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "submitted"
        for i in range(args.students):
            S.write(subs, f"student{i}", args.assignment, S.solved(args.assignment))
        start = time.perf_counter()
        results = autograde.grade(subs, Path(tmp) / "out", log=lambda *_: None)
        total = time.perf_counter() - start
    per = [r.seconds for r in results]
    print(autograde.format_table(results))
    print(json.dumps({"assignment": args.assignment, "students": args.students,
                      "median_seconds_per_submission": round(statistics.median(per), 2),
                      "total_seconds_including_setup": round(total, 2)}))


if __name__ == "__main__":
    main()
