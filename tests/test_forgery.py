"""The forgery suite (issue 22): a kernel the student controls cannot forge a pass, nor see a hidden test.

One grading run through the real CLI (`pgcourse grade --course COURSE INBOX --workers 1`, a
subprocess, as an instructor runs it) grades, for every notebook, one submission per kind of
forgery (tests/forgeries.py: input and AST transformers, IPython event and audit hooks, a custom
exception handler, patched numpy/torch/builtins/pgcourse, objects equal to everything, lying array
and tensor subclasses, threads printing fake passes, a kernel that exits or is killed, a printed
pass), each on a submission whose other answers are blank. Each must score 0 on every question,
and no line of the hidden tests may appear in its feedback HTML, in any output of its autograded
notebook, or in the run's table. Controls in the same run show that the suite can fail: the solved
notebook gets every autograded point and the blank release none.

The cascade (one bug, one question): in 04, a `reward_to_go` that sums forward, called by otherwise
correct `reward_to_go_gradient_estimate` and `baseline_gradient_estimate`, costs only
test_reward_to_go's points; in 02, a `tabular_softmax_policy` over the wrong axis, called by a
correct `grad_log_tabular_softmax`, costs only test_tabular_softmax_policy's.

What it would catch: graded the old way (test cells in the student's kernel: `--no-sandbox` with
PGCOURSE_TESTS_IN_KERNEL=1), the transformer and custom_exc forgeries earn full marks with blank
answers, patched_libraries earns 05's test_training, the event hooks print the hidden tests into
the feedback, and the cascade students lose the later questions too. About 90 submissions of 2–8 s:
some 6 minutes on two cores, in one grading run (one xdist unit).
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

import forgeries as F
import submissions as S
from pgcourse.grading import course, sandbox

BIN = Path(sys.executable).parent
# PGCOURSE_GRADE_ONLY=04_reward_to_go,… restricts the notebooks while authoring, as in tests/test_grading.py.
ASSIGNMENTS = [a for a in course.available(S.SOLUTIONS)
               if not os.environ.get("PGCOURSE_GRADE_ONLY") or a in os.environ["PGCOURSE_GRADE_ONLY"].split(",")]
DEAD_KERNEL = ("exit_kernel", "kill_kernel")      # graded as an error: no notebook, no feedback, 0 points

pytestmark = [pytest.mark.full,   # `make test-full` (CI) runs it; `make test` leaves its 6 minutes out
              pytest.mark.skipif(sandbox.problem() is not None, reason=f"no sandbox here: {sandbox.problem()}")]


# ---- the cascade students -----------------------------------------------------------------------

def _solution(assignment: str, grade_id: str) -> str:
    return next(c.source for c in S.read(S.SOLUTIONS / f"{assignment}.ipynb").cells if S.grade_id(c) == grade_id)


def _calling(assignment: str, grade_id: str, line: str, call: str) -> str:
    """The solution of `grade_id` with `line` (which must be there) replaced by a call of the earlier exercise."""
    source = _solution(assignment, grade_id)
    assert line in source, f"{grade_id}'s solution changed: update the cascade student"
    return source.replace(line, call)


NB04, NB02 = "04_reward_to_go", "02_softmax_policies"
G_LINE = "G = np.flip(np.cumsum(np.flip(rewards, axis=-1), axis=-1), axis=-1)"
ALL_CASCADES = {   # (student, assignment) → ({grade_id: source}, the one question the bug costs)
    ("cascade_forward_sum", NB04): ({
        "reward_to_go": "def reward_to_go(rewards):\n    return np.cumsum(np.asarray(rewards, dtype=float), -1)\n",
        "reward_to_go_gradient_estimate": _calling(NB04, "reward_to_go_gradient_estimate", G_LINE,
                                                   "G = reward_to_go(rewards)"),
        "baseline_gradient_estimate": _calling(NB04, "baseline_gradient_estimate", G_LINE,
                                               "G = reward_to_go(rewards)"),
    }, "test_reward_to_go"),
    ("cascade_wrong_axis", NB02): ({
        "tabular_softmax_policy": "def tabular_softmax_policy(theta):\n"
                                  "    z = np.exp(np.asarray(theta, dtype=float))\n"
                                  "    return z / z.sum(axis=0, keepdims=True)\n",
        "grad_log_tabular_softmax": "def grad_log_tabular_softmax(theta, s, a):\n"
                                    "    grad = np.zeros(np.shape(theta))\n"
                                    "    grad[s] = -tabular_softmax_policy(theta)[s]\n"
                                    "    grad[s, a] += 1.0\n"
                                    "    return grad\n",
    }, "test_tabular_softmax_policy"),
}
CASCADES = {key: value for key, value in ALL_CASCADES.items() if key[1] in ASSIGNMENTS}


# ---- one grading run ------------------------------------------------------------------------------

@dataclass
class Graded:
    points: float
    max_points: float
    rows: dict[str, tuple[float | None, float, str]] = field(default_factory=dict)   # question → (points, max, line)
    error: str = ""


ROW = re.compile(r"^ {4}(\S+)\s+(—|[\d.]+) / ([\d.]+)\s+(\w+)")
HEADER = re.compile(r"^(\S+) / (\S+): ([\d.]+) / ([\d.]+) points")


def parse_table(stdout: str) -> dict[tuple[str, str], Graded]:
    """(student, assignment) → its total and rows, from `pgcourse grade`'s table."""
    table, current = {}, None
    for line in stdout.splitlines():
        if match := HEADER.match(line):
            current = table[match[1], match[2]] = Graded(float(match[3]), float(match[4]))
        elif current is not None and line.startswith("    ERROR: "):
            current.error = line.strip()
        elif current is not None and (match := ROW.match(line)):
            current.rows[match[1]] = (None if match[2] == "—" else float(match[2]), float(match[3]), line.strip())
        elif not line.startswith(" "):
            current = None
    return table


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("forgery")
    course_dir, inbox = base / "course", base / "inbox"
    course.init_course(course_dir, S.SOLUTIONS, ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        S.write(inbox, "control_solved", assignment, S.solved(assignment))
        S.write(inbox, "control_blank", assignment, S.blank(assignment))
        for kind in F.KINDS:
            S.write(inbox, kind, assignment, F.forged(kind, assignment))
    for (student, assignment), (answers, _) in CASCADES.items():
        nb = S.solved(assignment)
        for grade_id, source in answers.items():
            nb = S.with_answer(nb, grade_id, source)
        S.write(inbox, student, assignment, nb)
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "pgcourse"), "grade", "--course", str(course_dir), str(inbox), "--workers", "1"],
                          capture_output=True, text=True, timeout=3000)
    seconds = time.perf_counter() - start
    print(f"the forgery suite's grading run: {seconds:.0f} s")
    return dict(done=done, table=parse_table(done.stdout), course=course_dir, seconds=seconds)


def _autograded(run, student: str, assignment: str) -> Path:
    return run["course"] / "autograded" / student / assignment / f"{assignment}.ipynb"


def _feedback(run, student: str, assignment: str) -> Path:
    return run["course"] / "feedback" / student / assignment / f"{assignment}.html"


def _test_questions(assignment: str) -> list[str]:
    return [S.grade_id(c) for c in S.read(S.SOLUTIONS / f"{assignment}.ipynb").cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


def _graded(run, student: str, assignment: str) -> Graded:
    table = run["table"]
    assert (student, assignment) in table, f"{student}/{assignment} not in the table:\n{run['done'].stdout[-3000:]}"
    return table[student, assignment]


# ---- the tests --------------------------------------------------------------------------------

def test_every_submission_is_graded_and_only_a_dead_kernel_is_an_error(run):
    done = run["done"]
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    students = ["control_solved", "control_blank", *F.KINDS]
    expected = {(s, a) for s in students for a in ASSIGNMENTS} | set(CASCADES)
    assert set(run["table"]) == expected, sorted(set(run["table"]) ^ expected)
    errors = {key for key, graded in run["table"].items() if graded.error}
    assert errors == {(kind, a) for kind in DEAD_KERNEL for a in ASSIGNMENTS}, sorted(errors)
    assert "NO SANDBOX" not in done.stdout


def test_the_controls_solved_gets_every_autograded_point_and_blank_none(run):
    for assignment in ASSIGNMENTS:
        solved, blank = _graded(run, "control_solved", assignment), _graded(run, "control_blank", assignment)
        tests = _test_questions(assignment)
        assert tests and all(solved.rows[q][0] == solved.rows[q][1] > 0 for q in tests), \
            f"the solved {assignment} lost points:\n" + "\n".join(r[2] for r in solved.rows.values())
        assert blank.points == 0 and all(blank.rows[q][0] == 0 for q in tests), blank


def test_no_forgery_earns_a_point_on_any_notebook(run):
    earned = []
    for kind in F.KINDS:
        for assignment in ASSIGNMENTS:
            graded = _graded(run, kind, assignment)
            missing = set(_test_questions(assignment)) - set(graded.rows)
            assert not missing, f"{kind}/{assignment}: no row for {missing}"
            earned += [f"{kind} / {assignment}: {line}" for points, _, line in graded.rows.values()
                       if points is not None and points != 0]
    assert not earned, "a forgery earned points:\n" + "\n".join(earned)


def test_a_dead_kernel_scores_zero_and_leaves_nothing_to_show(run):
    for kind in DEAD_KERNEL:
        for assignment in ASSIGNMENTS:
            graded = _graded(run, kind, assignment)
            assert "kernel died" in graded.error, graded
            assert not _feedback(run, kind, assignment).exists()


def _leaks(text: str, assignment: str) -> list[str]:
    return [line for line in F.hidden_lines(assignment) if line in text]


def _html_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts += [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
            parts += [str(v) for v in output.get("data", {}).values()]
    return "\n".join(parts)


def test_no_hidden_test_reaches_a_forgers_feedback_or_outputs(run):
    leaks = []
    for kind in ["control_blank", *F.KINDS]:
        for assignment in ASSIGNMENTS:
            if kind in DEAD_KERNEL:
                continue
            feedback, autograded = _feedback(run, kind, assignment), _autograded(run, kind, assignment)
            assert feedback.exists() and autograded.exists(), f"{kind}/{assignment}: no feedback to look at"
            leaks += [f"{kind}/{assignment} feedback: {line}" for line in _leaks(_html_text(feedback), assignment)]
            outputs = _outputs_text(S.read(autograded))
            leaks += [f"{kind}/{assignment} outputs: {line}" for line in _leaks(outputs, assignment)]
    for assignment in ASSIGNMENTS:
        leaks += [f"the run's table: {line}" for line in _leaks(run["done"].stdout, assignment)]
    assert not leaks, "hidden tests leaked:\n" + "\n".join(leaks[:20])


def test_the_hidden_lines_looked_for_are_the_ones_the_grader_ran(run):
    """The needles of the test above are real: every one is in the autograded notebook's test cells."""
    for assignment in ASSIGNMENTS:
        lines = F.hidden_lines(assignment)
        assert len(lines) >= 10, assignment
        sources = "\n".join(c.source for c in S.read(_autograded(run, "printed_pass", assignment)).cells)
        assert [line for line in lines if line not in sources] == [], assignment


def _kernel_cells(nb: nbformat.NotebookNode, after: str) -> list[nbformat.NotebookNode]:
    """The code cells after answer cell `after` that ran in the kernel (all but the graded test cells)."""
    start = next(i for i, c in enumerate(nb.cells) if S.grade_id(c) == after)
    return [c for c in nb.cells[start + 1:] if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("grade")]


def _errors(cells: list[nbformat.NotebookNode]) -> list[dict]:
    return [o for c in cells for o in c.get("outputs", []) if o.output_type == "error"]


def test_every_forgery_took_effect_in_the_kernel(run):
    """The forgeries are real: each one's code ran, and did in the kernel what it does (so its 0 is the grader's doing)."""
    for assignment in ASSIGNMENTS:
        first = F.answer_cells(assignment)[0]
        blank = _kernel_cells(S.read(_autograded(run, "control_blank", assignment)), first)
        assert _errors(blank), f"{assignment}: the blank release's cells should raise"
        for kind in set(F.KINDS) - set(DEAD_KERNEL):
            nb = S.read(_autograded(run, kind, assignment))
            where = f"{kind}/{assignment}"
            forgery = next(c for c in nb.cells if S.grade_id(c) == first)
            assert not _errors([forgery]), f"{where}: the forgery raised"
            cells = _kernel_cells(nb, first)
            shown = _outputs_text(nbformat.v4.new_notebook(cells=[forgery, *cells]))
            if kind in ("input_transformer", "ast_transformer"):      # every later cell became `pass`
                assert not any(c.get("outputs") for c in cells), where
            if kind == "custom_exc":                                    # every error swallowed
                assert not _errors(cells), where
            if kind in ("custom_exc", "event_hooks", "threads", "printed_pass"):
                assert F.fake_passes(assignment).splitlines()[0] in shown, where
            if kind == "event_hooks":                                   # the spies ran, and read the cells' sources
                assert "SPY pre_run_cell source:" in shown and "SPY post_run_cell source:" in shown, where


def test_one_bug_costs_one_question(run):
    for (student, assignment), (_, question) in CASCADES.items():
        graded, solved = _graded(run, student, assignment), _graded(run, "control_solved", assignment)
        lost = {q: solved.rows[q][0] - graded.rows[q][0] for q in _test_questions(assignment)
                if solved.rows[q][0] != graded.rows[q][0]}
        assert lost == {question: solved.rows[question][1]}, \
            f"{student}/{assignment}:\n" + "\n".join(r[2] for r in graded.rows.values())
        assert graded.points == solved.points - solved.rows[question][1]
