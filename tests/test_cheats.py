"""The cheat suite: the course library's answers earn no points (issue 10, part 1).

In-process, every graded function × every kind of cheat (tests/cheats.py) runs that function's
autograder test cells and must fail with the one library hint; the same references pass the
cells when the watch is switched off (so they are real answers, caught only by the watch), and
a verbatim copy of a reference's source is never flagged. Through nbgrader, one submission per
notebook hands in a cheat for every function (the kinds rotate over the functions) and must score
0 on exactly those questions, with the hint in the message; `pgcourse check` agrees on notebook 04.
PGCOURSE_CHEAT_ROTATIONS=8 grades every kind for every function through nbgrader (slow);
PGCOURSE_GRADE_ONLY=04_reward_to_go,… restricts the notebooks, as in tests/test_grading.py.
"""

from __future__ import annotations

import inspect
import os

import pytest

import cheats as C
from cheats import watch_off  # noqa: F401  (a fixture)
import submissions as S
from mutation import grader_cell_sources, run_test_cell
from pgcourse.checks import integrity
from pgcourse.grading import autograde, course, selfcheck

HINT_PREFIX = "Hint: library reference used: "


def _answer(source: str, name: str):
    namespace: dict = {}
    exec(compile(source, f"<answer {name}>", "exec"), namespace)
    return namespace[name]


def _graded_functions() -> set[tuple[str, str]]:
    out = set()
    for path in sorted(S.SOLUTIONS.glob("*.ipynb")):
        cells = S.read(path).cells
        ids = {S.grade_id(c) for c in cells}
        out |= {(path.stem, S.grade_id(c)) for c in cells if c.metadata.get("nbgrader", {}).get("solution")
                and not c.metadata.nbgrader.get("grade") and f"test_{S.grade_id(c)}" in ids}
    return out


def _assert_hint(message: str, function: str) -> None:
    first = next((line[line.index(HINT_PREFIX):] for line in message.splitlines() if HINT_PREFIX in line), "")
    assert first.endswith(f" ran inside your {function}; this exercise asks for your own code."), message
    used = first[len(HINT_PREFIX):].split(" ran inside")[0]
    assert used in integrity.registered_code(function).values(), f"{used} is not registered for {function}"


# ---- the registry ------------------------------------------------------------------------------

def test_every_graded_function_is_registered_and_targeted():
    graded = _graded_functions()
    assert {(e.notebook, e.exercise) for e in integrity.REGISTRY} == graded
    assert {(t.notebook, t.function) for t in C.TARGETS} == graded
    for entry in integrity.REGISTRY:
        for dotted in entry.library:   # each still exists where the registry says (the library moves)
            assert integrity._resolve(dotted).__code__ in integrity.registered_code(entry.exercise), dotted


def test_every_cheat_kind_is_tried_on_every_function_that_has_a_reference():
    for t in C.TARGETS:
        kinds = set(C.cheats(t))
        assert kinds == (set(C.KINDS) if t.ref and t.helper else set(C.KINDS) - {"helper"} if t.ref
                         else {"helper", "lambda", "class"}), t.function


# ---- in-process: every function × every kind -------------------------------------------------

def _cases():
    for t in C.TARGETS:
        for kind, source in C.cheats(t).items():
            for cell in t.cells:
                yield pytest.param(t, kind, source, cell, id=f"{t.function}-{kind}-{cell}")


@pytest.mark.parametrize("target, kind, source, cell", list(_cases()))
def test_cheat_fails_its_test_cell_with_the_hint(target, kind, source, cell):
    answer = _answer(source, target.function)
    with pytest.raises(integrity.LibraryAnswerUsed) as caught:
        run_test_cell(grader_cell_sources(target.notebook)[cell], {target.function: answer})
    _assert_hint(str(caught.value), target.function)


@pytest.mark.parametrize("target", [t for t in C.TARGETS if t.ref], ids=lambda t: t.function)
def test_the_reference_would_pass_without_the_watch(target, watch_off):
    """The cheats are real answers: with the watch off, the reference passes (the training cell aside)."""
    answer = _answer(C.cheats(target)["import"], target.function)
    for cell in target.cells:
        if cell != "test_training":
            assert run_test_cell(grader_cell_sources(target.notebook)[cell], {target.function: answer}) == ""


@pytest.mark.parametrize("module, name, notebook", [("pgcourse.tabular.returns", "reward_to_go", "04_reward_to_go"),
                                                    ("pgcourse.llm.rl", "rloo_advantages", "06_llm_summarization")])
def test_a_verbatim_copy_of_the_reference_is_the_students_own_code(module, name, notebook):
    lib = __import__(module, fromlist=[name])
    namespace = dict(vars(lib))            # the library's helpers (validation) stay allowed
    exec(compile(inspect.getsource(getattr(lib, name)), "<student's copy>", "exec"), namespace)
    assert namespace[name].__code__ is not getattr(lib, name).__code__
    assert run_test_cell(grader_cell_sources(notebook)[f"test_{name}"], {name: namespace[name]}) == ""


def test_library_code_that_delegates_is_not_a_hit():
    """Notebook 03 may loop over notebook 02's single-step score, which calls the (registered) batch score."""
    from pgcourse.tabular.policies import grad_log_tabular_softmax, tabular_softmax  # noqa: F401  (used by the answer)
    import numpy as np

    def grad_log_trajectory_likelihood(theta, states, actions):
        states, actions = np.asarray(states), np.asarray(actions)
        if states.ndim != 1 or states.shape != actions.shape:
            raise ValueError("states and actions must both have shape (H,)")
        return sum(grad_log_tabular_softmax(theta, s, a) for s, a in zip(states, actions))

    source = grader_cell_sources("03_reinforce_derivation")["test_grad_log_trajectory_likelihood"]
    assert run_test_cell(source, {"grad_log_trajectory_likelihood": grad_log_trajectory_likelihood}) == ""


# ---- through nbgrader: one cheating submission per notebook ---------------------------------

ONLY = os.environ.get("PGCOURSE_GRADE_ONLY")
ASSIGNMENTS = [a for a in course.available(S.SOLUTIONS) if not ONLY or a in ONLY.split(",")]


def _cheating_submission(assignment: str, rotation: int = 0):
    """Every graded function of `assignment` replaced by a cheat; kinds rotate over the functions.

    Code cells that nbgrader does not grade (plots, training runs) are left out, except the first
    (the imports): graded cells are self-contained, and those cells would cost minutes per notebook.
    """
    nb, kinds = S.solved(assignment), {}
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells = [c for i, c in enumerate(nb.cells)
                if c.cell_type != "code" or i == first_code or c.metadata.get("nbgrader", {}).get("grade_id")]
    solutions = {S.grade_id(c): c.source for c in S.read(S.SOLUTIONS / f"{assignment}.ipynb").cells}
    for i, t in enumerate(C.by_notebook()[assignment]):
        options = C.cheats(t)
        kind = sorted(options)[(i + rotation) % len(options)]
        imports = solutions[t.function].split("def ", 1)[0]          # e.g. `import torch.nn.functional as F`
        nb = S.with_answer(nb, t.function, imports + options[kind])
        kinds[t.function] = kind
    return nb, kinds


# One cheating submission per notebook by default; PGCOURSE_CHEAT_ROTATIONS=8 grades every kind of
# cheat for every function through nbgrader (eight submissions per notebook).
ROTATIONS = range(int(os.environ.get("PGCOURSE_CHEAT_ROTATIONS", "1")))


@pytest.fixture(scope="module")
def graded_cheats(tmp_path_factory):
    """graded_cheats(assignment) -> ({(student, assignment): result}, kinds, submissions folder).

    Each notebook's cheats are graded on first use in each test process, like the round trip in
    tests/test_grading.py: the tests below are parametrized by the notebook, so `make test` keeps a
    notebook's tests on one worker and grades each notebook once."""
    runs = {}

    def graded(assignment: str):
        if assignment not in ASSIGNMENTS:
            pytest.skip(f"{assignment} is not in PGCOURSE_GRADE_ONLY")
        if assignment not in runs:
            subs, kinds = tmp_path_factory.mktemp(f"cheats_{assignment}"), {}
            for j in ROTATIONS:
                nb, kinds[f"cheater{j}", assignment] = _cheating_submission(assignment, rotation=j)
                S.write(subs, f"cheater{j}", assignment, nb)
            results = autograde.grade(subs, tmp_path_factory.mktemp(f"cheats_graded_{assignment}") / "run",
                                      log=lambda *_: None)
            runs[assignment] = {(r.student, r.assignment): r for r in results}, kinds, subs
        return runs[assignment]

    return graded


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograder_scores_every_cheat_zero(graded_cheats, assignment):
    results, kinds, _ = graded_cheats(assignment)
    for j in ROTATIONS:
        r = results[f"cheater{j}", assignment]
        assert not r.error, r.error
        scored = {q.question: q for q in r.questions}
        for t in C.by_notebook()[assignment]:
            for cell in t.cells:
                q = scored[cell]
                assert q.points == 0 and q.status == "failed", \
                    (kinds[f"cheater{j}", assignment][t.function], autograde.format_table([r]))
                _assert_hint(q.message, t.function)
        assert all(q.points is None for q in r.questions if q.status == "manual")


@pytest.mark.parametrize("assignment", [pytest.param("04_reward_to_go", id="04_reward_to_go")])  # 04's graded run
def test_pgcourse_check_agrees_with_the_autograder(graded_cheats, assignment):
    results, _, subs = graded_cheats(assignment)
    rows = {row.question: row for row in selfcheck.check(subs / "cheater0" / assignment / f"{assignment}.ipynb")}
    for q in results["cheater0", assignment].questions:
        assert rows[q.question].points == q.points, (q.question, rows[q.question], q)
        if q.status == "failed":
            assert HINT_PREFIX in rows[q.question].message
