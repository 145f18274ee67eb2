"""The grading round trip through nbgrader, in temporary course directories.

For every notebook: the solutions get full autograded marks, the untouched release gets zero
without crashing the grader, and a submission with one wrong function loses exactly that
question's points. On the grading drill (tests/drill/), the submissions that break naive graders.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import submissions as S
from pgcourse.grading import autograde, course

# PGCOURSE_GRADE_ONLY=02_softmax_policies,03_… restricts the round trip while authoring one notebook.
ASSIGNMENTS = [a for a in course.available(S.SOLUTIONS)
               if not os.environ.get("PGCOURSE_GRADE_ONLY") or a in os.environ["PGCOURSE_GRADE_ONLY"].split(",")]
NB01 = "01_importance_weighting"


def _exercises(assignment: str) -> list[str]:
    """Autograded exercise names: solution cells that have a test cell `test_<name>`."""
    cells = S.read(S.SOLUTIONS / f"{assignment}.ipynb").cells
    ids = {S.grade_id(c) for c in cells}
    return [S.grade_id(c) for c in cells if c.metadata.get("nbgrader", {}).get("solution")
            and not c.metadata.nbgrader.get("grade") and f"test_{S.grade_id(c)}" in ids]


def _sign_flipped(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    return S.appended_to(nb, name, f"_right_{name} = {name}\n"
                                   f"def {name}(*args, **kwargs):\n    return -_right_{name}(*args, **kwargs)")


def _by_student(results):
    return {(r.student, r.assignment): r for r in results}


# Each assignment's round trip is one grading run (solved, blank, one wrong), graded on first use
# in each test process and shared by the tests below, which are all parametrized by the assignment:
# `make test` keeps the tests of one parameter on one worker (tests/conftest.py, `work_unit`), so
# each run is graded once while the other assignments' runs go ahead on the other core.
ROUND_TRIPS = [pytest.param(a, id=a) for a in reversed(ASSIGNMENTS)]  # the longest (06) first
ONLY_NB01 = [pytest.param(NB01, id=NB01)]


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """round_trip(assignment) -> (output folder, {(student, assignment): result}), graded on first use."""
    runs = {}

    def graded(assignment: str):
        if assignment not in ASSIGNMENTS:
            pytest.skip(f"{assignment} is not in PGCOURSE_GRADE_ONLY")
        if assignment not in runs:
            subs = tmp_path_factory.mktemp(f"submitted_{assignment}")
            S.write(subs, "solved", assignment, S.solved(assignment))
            S.write(subs, "blank", assignment, S.blank(assignment))
            S.write(subs, "one_wrong", assignment, _sign_flipped(S.solved(assignment), _exercises(assignment)[0]))
            before = S.digest(subs)
            out = tmp_path_factory.mktemp(f"graded_{assignment}") / "run"
            results = autograde.grade(subs, out, log=lambda *_: None)
            assert S.digest(subs) == before, "grading modified the submissions"
            runs[assignment] = out, _by_student(results)
        return runs[assignment]

    return graded


@pytest.mark.parametrize("assignment", ROUND_TRIPS)
def test_solutions_get_full_marks(round_trip, assignment):
    _, results = round_trip(assignment)
    r = results["solved", assignment]
    assert not r.error
    auto = [q for q in r.questions if q.status != "manual"]
    assert auto and all(q.points == q.max_points for q in auto), autograde.format_table([r])
    # written answers are left for the instructor, not scored 0
    manual = [q for q in r.questions if q.status == "manual"]
    assert all(q.points is None for q in manual)


def _autograded(out: Path, student: str, assignment: str) -> Path:
    return out / "course" / "autograded" / student / assignment / f"{assignment}.ipynb"


def _cells_that_raised(nb: nbformat.NotebookNode) -> list[str]:
    return [f"cell {i}: {out.ename}: {out.evalue[:120]}" for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.output_type == "error"]


@pytest.mark.parametrize("assignment", ROUND_TRIPS)
def test_solutions_run_top_to_bottom_when_autograded(round_trip, assignment):
    """The autograder's run of the solutions is the proof that every solution notebook runs.

    `make test` runs nbval only on notebooks whose long cells the autograder shortens, at their full
    budget (see the Makefile); this run covers all seven: every code cell executed, none raising.
    """
    out, _ = round_trip(assignment)
    solved = S.read(_autograded(out, "solved", assignment))
    assert _cells_that_raised(solved) == []
    unexecuted = [i for i, c in enumerate(solved.cells)
                  if c.cell_type == "code" and c.source.strip() and c.execution_count is None]
    assert unexecuted == [], f"cells never executed: {unexecuted}"
    # the same look at the blank release finds the errors of its unanswered exercises: the check can fail
    assert _cells_that_raised(S.read(_autograded(out, "blank", assignment)))


@pytest.mark.parametrize("assignment", [pytest.param("00_mdp_recap", id="00_mdp_recap")])  # 00's graded run
def test_figures_are_not_drawn_while_grading(round_trip, assignment):
    """course.GRADING_KERNEL_ARGS: a figure is "<Figure size …>" in the graded notebook, never a PNG."""
    out, _ = round_trip(assignment)
    outputs = [o for c in S.read(_autograded(out, "solved", assignment)).cells if c.cell_type == "code"
               for o in c.get("outputs", []) if o.output_type in ("display_data", "execute_result")]
    assert not [o for o in outputs if "image/png" in o.get("data", {})]
    assert [o for o in outputs if o.get("data", {}).get("text/plain", "").startswith("<Figure size")]


@pytest.mark.parametrize("assignment", ROUND_TRIPS)
def test_blank_notebook_gets_zero(round_trip, assignment):
    _, results = round_trip(assignment)
    r = results["blank", assignment]
    assert not r.error, r.error
    assert r.questions and r.points == 0, autograde.format_table([r])


@pytest.mark.parametrize("assignment", ROUND_TRIPS)
def test_one_wrong_function_loses_only_its_points(round_trip, assignment):
    _, results = round_trip(assignment)
    r = results["one_wrong", assignment]
    name = _exercises(assignment)[0]
    # test cells that call the broken function (e.g. a training check using the student's loss) may fail too
    uses_it = {S.grade_id(c) for c in S.read(S.SOLUTIONS / f"{assignment}.ipynb").cells
               if S.grade_id(c) and re.search(rf"\b{name}\b", c.source)}
    for q in r.questions:
        if q.question == f"test_{name}":
            assert q.points == 0 and q.status == "failed", autograde.format_table([r])
        elif q.status != "manual" and q.question not in uses_it:
            assert q.points == q.max_points, autograde.format_table([r])


def _html_text(path: Path) -> str:
    return re.sub(r"<[^>]+>", "", path.read_text())


@pytest.mark.parametrize("assignment", ROUND_TRIPS)
def test_feedback_hides_hidden_tests(round_trip, assignment):
    out, results = round_trip(assignment)
    hidden_lines = []
    for cell in S.read(S.SOLUTIONS / f"{assignment}.ipynb").cells:
        match = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        if match:
            hidden_lines += [l.strip() for l in match.group(1).splitlines() if len(l.strip()) > 25]
    assert hidden_lines, "every notebook should have hidden tests"
    for student in ("solved", "one_wrong"):
        r = results[student, assignment]
        assert r.feedback and r.feedback.exists()
        text = _html_text(r.feedback).replace("&quot;", '"').replace("&#39;", "'").replace("&amp;", "&") \
            .replace("&lt;", "<").replace("&gt;", ">")
        leaked = [l for l in hidden_lines if l in text]
        assert not leaked, f"hidden tests leak into {r.feedback}: {leaked[:3]}"
    # the autograded copy did run them (so the check above is meaningful)
    assert "BEGIN HIDDEN TESTS" in _autograded(out, "solved", assignment).read_text()


@pytest.mark.parametrize("assignment", ONLY_NB01)
def test_questions_are_listed_in_notebook_order(round_trip, assignment):
    _, results = round_trip(assignment)
    assert [q.question for q in results["solved", NB01].questions] == \
        ["test_iw_gradient_estimate", "test_score_function_gradient_estimate", "how_does_p_move"]


@pytest.mark.parametrize("assignment", ROUND_TRIPS)
def test_grades_csv_lists_every_question(round_trip, assignment):
    out, results = round_trip(assignment)
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("student,assignment,question,points,max_points,status")
    expected = sum(len(r.questions) + 1 for r in results.values())
    assert len(rows) == 1 + expected


@pytest.mark.parametrize("assignment", ONLY_NB01)
def test_refuses_to_overwrite_an_earlier_run(round_trip, assignment, tmp_path):
    out, _ = round_trip(assignment)
    with pytest.raises(SystemExit, match="never overwrites"):
        autograde.grade(tmp_path, out)


# ---- submissions that break naive graders (the drill, tests/drill/) ----------------------------

DRILL = S.DRILL
WRONG_UNIT = "def unit(x):\n    return np.zeros(len(x))"


@pytest.fixture(scope="module")
def robust(tmp_path_factory):
    """Submissions that break naive graders, on the grading drill (a kernel that grades in seconds).
    A 5 s per-cell limit: the drill's cells take well under a second, and the infinite loop holds a core
    until the limit."""
    sol = S.solved(DRILL)
    subs = tmp_path_factory.mktemp("robust")
    S.write(subs, "infinite_loop", DRILL, S.with_answer(sol, "unit", "while True:\n    pass"))
    S.write(subs, "kernel_dies", DRILL, S.with_answer(sol, "unit", "import os\nos._exit(1)"))
    S.write(subs, "not_json", DRILL, '{"cells": [ this is not JSON')
    S.write(subs, "deleted_test", DRILL, S.without_cell(S.with_answer(sol, "unit", WRONG_UNIT), "test_unit"))
    S.write(subs, "edited_test", DRILL, S.with_answer(S.with_answer(sol, "unit", WRONG_UNIT),
                                                      "test_unit", "print('all good')"))
    S.write(subs, "extra_cells", DRILL, S.with_inserted_cell_before(sol, "test_centred", "x = 1\nprint(x)"))
    S.write(subs, "renamed", DRILL, sol, name=f"{DRILL}-Copy1.ipynb")
    out = tmp_path_factory.mktemp("robust_graded") / "run"
    return _by_student(autograde.grade(subs, out, timeout=5, solutions_dir=S.DRILL_SOLUTIONS, log=lambda *_: None))


def _points(r, question):
    return next(q.points for q in r.questions if q.question == question)


def test_infinite_loop_is_interrupted(robust):
    r = robust["infinite_loop", DRILL]
    assert not r.error
    assert _points(r, "test_centred") == 4
    assert _points(r, "test_unit") == 0


def test_dead_kernel_fails_only_that_submission(robust):
    r = robust["kernel_dies", DRILL]
    assert "kernel died" in r.error and r.points == 0
    assert robust["renamed", DRILL].points == 8


def test_invalid_json_is_reported(robust):
    r = robust["not_json", DRILL]
    assert "not a valid notebook" in r.error and r.points == 0
    assert {q.question for q in r.questions} >= {"test_centred", "test_unit"}


def test_deleted_and_edited_test_cells_are_restored(robust):
    for student in ("deleted_test", "edited_test"):
        r = robust[student, DRILL]
        assert not r.error
        assert _points(r, "test_unit") == 0, autograde.format_table([r])
        assert _points(r, "test_centred") == 4


def test_inserted_cells_and_renamed_notebooks_are_graded(robust):
    assert robust["extra_cells", DRILL].points == 8
    r = robust["renamed", DRILL]
    assert "Copy1" in r.note and r.points == 8


# ---- the student's self-check ---------------------------------------------------------------

def test_check_command_reports_and_exits_nonzero(tmp_path):
    """The blank drill (a kernel that runs in a second), then notebook 01 solved."""
    blank = S.write(tmp_path, "me", DRILL, S.blank(DRILL))
    run = subprocess.run([sys.executable, "-m", "pgcourse.cli", "check", str(blank)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert "test_centred" in run.stdout and "not implemented yet" in run.stdout
    assert "without encryption" not in run.stdout + run.stderr   # IPC kernels: no ipykernel TCP warning
    solved = S.write(tmp_path, "me2", NB01, S.solved(NB01))
    run = subprocess.run([sys.executable, "-m", "pgcourse.cli", "check", str(solved)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout
    assert "8 / 8" in run.stdout
