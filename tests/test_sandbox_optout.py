"""Where no sandbox can be made, `pgcourse grade` refuses; `--no-sandbox` grades, and every output says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import submissions as S
from pgcourse.grading import sandbox

DRILL = S.DRILL
BIN = Path(sys.executable).parent
SOLVED_POINTS = 8


def test_grading_refuses_without_a_sandbox_and_grades_only_when_told(tmp_path):
    inbox = tmp_path / "inbox"
    S.write(inbox, "alice", DRILL, S.solved(DRILL))
    env = {**os.environ, sandbox.BWRAP_ENV: str(tmp_path / "no-bwrap-here")}
    refused = subprocess.run([str(BIN / "pgcourse"), "grade", str(inbox), "--output", str(tmp_path / "refused"),
                              "--solutions", str(S.DRILL_SOLUTIONS), "--workers", "1"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode != 0
    assert "cannot grade" in refused.stderr and "bubblewrap" in refused.stderr and "--no-sandbox" in refused.stderr
    assert not (tmp_path / "refused").exists()   # nothing graded, no course made
    opted = subprocess.run([str(BIN / "pgcourse"), "grade", str(inbox), "--output", str(tmp_path / "opted"),
                            "--solutions", str(S.DRILL_SOLUTIONS), "--workers", "1", "--no-sandbox"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert opted.returncode == 0, opted.stdout + opted.stderr
    assert "WARNING: grading WITHOUT a sandbox" in opted.stdout and "[NO SANDBOX]" in opted.stdout
    total = next(l for l in (tmp_path / "opted" / "grades.csv").read_text().splitlines() if ",TOTAL," in l)
    assert "WITHOUT SANDBOX" in total and total.split(",")[3] == str(float(SOLVED_POINTS))
    report = (tmp_path / "opted" / "reports" / DRILL / "report.html").read_text()
    assert "graded WITHOUT a sandbox" in report and "alice" in report
    assert "WITHOUT SANDBOX" in (tmp_path / "opted" / "question_grades.csv").read_text()
