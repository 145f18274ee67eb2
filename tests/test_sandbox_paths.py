"""The sandbox on nbgrader's own path, and without one.

`nbgrader autograde` in a course made by `pgcourse course init` grades in the sandbox as `pgcourse
grade` does. Where no sandbox can be made, `pgcourse grade` refuses and nbgrader's own command fails
the submission; `--no-sandbox` grades, and every output says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import submissions as S
from pgcourse.grading import course, record, sandbox

DRILL = S.DRILL
BIN = Path(sys.executable).parent
SOLVED_POINTS = 8
FORGE = 'get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])'   # every later cell: `pass`
WRONG_UNIT = "def unit(x):\n    return np.asarray(x, dtype=float)\n"
PEEK = "import glob, os\nprint('PEEK', glob.glob('../../source/*/*.ipynb'), os.path.exists({course!r}))"


@pytest.mark.skipif(sandbox.problem() is not None, reason=f"no sandbox here: {sandbox.problem()}")
def test_nbgraders_own_autograde_runs_in_the_sandbox_and_refuses_without_one(tmp_path):
    root = tmp_path / "course"
    course.init_course(root, S.DRILL_SOLUTIONS, [DRILL])
    S.write(root / "submitted", "honest", DRILL, S.solved(DRILL))
    peek = PEEK.format(course=str(root))
    S.write(root / "submitted", "peeker", DRILL, S.with_inserted_cell_before(S.solved(DRILL), "test_centred", peek))
    S.write(root / "submitted", "forger", DRILL, S.with_answer(S.blank(DRILL), "centred", FORGE))
    S.write(root / "submitted", "half", DRILL, S.with_answer(S.solved(DRILL), "unit", WRONG_UNIT))
    done = subprocess.run([str(BIN / "nbgrader"), "autograde", DRILL], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for student in ("honest", "peeker"):
        assert sum(q.points or 0 for q in record.scores(root, DRILL, student)) == SOLVED_POINTS
    # the test cells ran outside the kernel on nbgrader's path too: the same scores as `pgcourse grade`
    by_nbgrader = {s: {q.question: q.points for q in record.scores(root, DRILL, s) if q.points is not None}
                   for s in ("forger", "half")}
    assert sum(by_nbgrader["forger"].values()) == 0 and sum(by_nbgrader["half"].values()) == 4, by_nbgrader
    other = tmp_path / "other"
    course.init_course(other, S.DRILL_SOLUTIONS, [DRILL])
    graded = subprocess.run([str(BIN / "pgcourse"), "grade", "--course", str(other), str(root / "submitted"),
                             "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert {s: {q.question: q.points for q in record.scores(other, DRILL, s) if q.points is not None}
            for s in by_nbgrader} == by_nbgrader
    nb = nbformat.read(root / "autograded" / "peeker" / DRILL / f"{DRILL}.ipynb", as_version=4)
    peek = next("".join(o.get("text", "") for o in c.outputs) for c in nb.cells if "PEEK" in c.source)
    assert "PEEK [] False" in peek, peek   # neither the course's source/ nor the course is there
    # no bubblewrap: nbgrader's command fails the submission rather than grade it unsandboxed
    S.write(root / "submitted", "late", DRILL, S.solved(DRILL))
    env = {**os.environ, sandbox.BWRAP_ENV: str(tmp_path / "no-bwrap-here")}
    refused = subprocess.run([str(BIN / "nbgrader"), "autograde", DRILL, "--student", "late"], cwd=root, env=env,
                             capture_output=True, text=True, timeout=300)
    assert "no grading sandbox" in refused.stdout + refused.stderr
    assert ("late", DRILL) not in set(record.recorded(root)) or \
        sum(q.points or 0 for q in record.scores(root, DRILL, "late")) == 0


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


@pytest.mark.skipif(sandbox.problem() is not None, reason=f"no sandbox here: {sandbox.problem()}")
def test_a_notebook_past_the_courses_whole_submission_limit_is_stopped(tmp_path):
    """Each cell within the per-cell timeout, the notebook past the course's limit for all of it (two
    6 s cells against 10 s; the quick student's whole notebook takes 1-3 s, so a loaded host has room)."""
    root = tmp_path / "course"
    course.init_course(root, S.DRILL_SOLUTIONS, [DRILL])
    with open(root / course.CONFIG_FILE, "a") as config:
        config.write("c.SandboxedKernelProvisioner.submission_timeout = 10\n")
    slow = S.with_inserted_cell_before(S.solved(DRILL), "test_unit", "import time\ntime.sleep(6)")
    S.write(tmp_path / "inbox", "slow", DRILL, S.with_inserted_cell_before(slow, "test_centred",
                                                                          "import time\ntime.sleep(6)"))
    S.write(tmp_path / "inbox", "quick", DRILL, S.solved(DRILL))
    run = subprocess.run([str(BIN / "pgcourse"), "grade", "--course", str(root), str(tmp_path / "inbox"),
                          "--workers", "1"], capture_output=True, text=True, timeout=300)
    slow_line = next(line for line in run.stdout.splitlines() if line.startswith("graded slow/"))
    assert "ran past the 10 s limit for a whole submission" in slow_line, run.stdout
    quick_line = next(line for line in run.stdout.splitlines() if line.startswith("graded quick/"))
    assert f"{SOLVED_POINTS}/10" in quick_line and "ERROR" not in quick_line
