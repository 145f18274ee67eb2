"""The mutation suite: every autograder test cell rejects plausible wrong answers and accepts
other correct implementations. Wrong answers live in tests/mutants/m<NN>_<notebook>.py."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from mutation import SOLUTIONS, run_test_cell, stub, grader_cell_sources
from pgcourse.checks.integrity import LibraryAnswerUsed

MODULES = [importlib.import_module(f"mutants.{p.stem}")
           for p in sorted((Path(__file__).parent / "mutants").glob("m*.py"))]


def _cases(kind: str):
    for module in MODULES:
        for ex in module.EXERCISES:
            answers = ex.wrong + [stub] if kind == "wrong" else ex.correct
            for answer in answers:
                yield pytest.param(module.NOTEBOOK, ex, answer, id=f"{module.NOTEBOOK}-{ex.function}-{answer.__name__}")


@pytest.mark.parametrize("notebook, exercise, answer", list(_cases("wrong")))
def test_wrong_answer_fails(notebook, exercise, answer):
    """Caught by the checks' AssertionError (a NameError in the test cell would not count), and by
    the answer's own mistake: a mutant that leans on library code would only test tests/test_cheats.py."""
    source = grader_cell_sources(notebook)[exercise.test_cell]
    with pytest.raises(AssertionError) as caught:
        run_test_cell(source, {**exercise.context, exercise.function: answer})
    assert not isinstance(caught.value, LibraryAnswerUsed), f"{answer.__name__} leans on library code: {caught.value}"


@pytest.mark.parametrize("notebook, exercise, answer", list(_cases("correct")))
def test_correct_answer_passes(notebook, exercise, answer):
    source = grader_cell_sources(notebook)[exercise.test_cell]
    stderr = run_test_cell(source, {**exercise.context, exercise.function: answer})
    assert stderr == "", f"the test cell wrote to stderr, which nbgrader scores as 0: {stderr!r}"


def _hint_cases():
    for module in MODULES:
        for ex in module.EXERCISES:
            if ex.hints:
                yield pytest.param(module.NOTEBOOK, ex, id=f"{module.NOTEBOOK}-{ex.function}")


@pytest.mark.parametrize("notebook, exercise", list(_hint_cases()))
def test_each_hint_is_given_for_its_own_mistake_only(notebook, exercise):
    """Every declared hint reaches its mistake; no other plausible mistake of the exercise gets it."""
    source = grader_cell_sources(notebook)[exercise.test_cell]
    names = {answer.__name__ for answer in exercise.wrong}
    assert set(exercise.hints) <= names, f"hints for unknown mutants: {set(exercise.hints) - names}"
    for answer in exercise.wrong:
        with pytest.raises(AssertionError) as caught:
            run_test_cell(source, {**exercise.context, exercise.function: answer})
        hints = [line.split("Hint: ", 1)[1] for line in str(caught.value).splitlines() if "Hint: " in line]
        own = exercise.hints.get(answer.__name__)
        if own is not None:
            assert any(own in h for h in hints), f"{answer.__name__} should get the hint '{own}': {caught.value}"
        for other_name, other in exercise.hints.items():
            if other != own:
                assert not any(other in h for h in hints), \
                    f"{answer.__name__} got the hint of {other_name} ('{other}'): {caught.value}"


def test_every_autograded_cell_has_a_mutation_suite():
    covered = {(m.NOTEBOOK, ex.test_cell) for m in MODULES for ex in m.EXERCISES}
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        for cell_id in grader_cell_sources(path.stem):
            assert (path.stem, cell_id) in covered, f"{path.stem}:{cell_id} has no mutants in tests/mutants/"
    for module in MODULES:
        for ex in module.EXERCISES:
            assert len(ex.wrong) >= 3 and len(ex.correct) >= 1, f"{module.NOTEBOOK}:{ex.function} needs more cases"
