"""The watch itself: it leaves the interpreter as it found it and tells library code from the student's."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pgcourse.checks import integrity
from pgcourse.checks.core import Check
from pgcourse.tabular.returns import reward_to_go as library_reward_to_go


def own_reward_to_go(rewards):
    return np.flip(np.cumsum(np.flip(np.asarray(rewards), -1), -1), -1)


def test_the_profiler_is_restored_and_an_earlier_one_keeps_running():
    events = []

    def earlier(frame, event, arg):
        events.append(event)

    sys.setprofile(earlier)
    try:
        Check("reward_to_go", own_reward_to_go).call("case", np.ones(3))
        assert sys.getprofile() is earlier
    finally:
        sys.setprofile(None)
    assert "call" in events, "the watch must pass events on to a profiler that was already installed"
    Check("reward_to_go", own_reward_to_go).call("case", np.ones(3))
    assert sys.getprofile() is None


def test_a_hit_names_the_library_function_in_the_one_message():
    with pytest.raises(integrity.LibraryAnswerUsed) as caught:
        Check("reward_to_go", lambda r: library_reward_to_go(r) + 0).call("case", np.ones(3))
    assert str(caught.value) == integrity.hint("pgcourse.tabular.returns.reward_to_go", "reward_to_go")


def test_a_hit_wins_over_the_students_own_error():
    def cheat_then_crash(rewards):
        library_reward_to_go(rewards)
        raise IndexError("oops")

    with pytest.raises(integrity.LibraryAnswerUsed):
        Check("reward_to_go", cheat_then_crash).call("case", np.ones(3))


def test_runaway_recursion_is_reported_as_the_students_error_not_a_library_answer():
    def recurse(rewards):
        return recurse(rewards)

    with pytest.raises(AssertionError, match="RecursionError") as caught:
        Check("reward_to_go", recurse).call("case", np.ones(3))
    assert not isinstance(caught.value, integrity.LibraryAnswerUsed)


def test_an_answer_that_replaces_the_profiler_is_flagged():
    def blind(rewards):
        sys.setprofile(lambda *a: None)
        return library_reward_to_go(rewards)

    try:
        with pytest.raises(integrity.LibraryAnswerUsed, match="sys.setprofile"):
            Check("reward_to_go", blind).call("case", np.ones(3))
    finally:
        sys.setprofile(None)


def test_other_exercises_may_use_an_earlier_reference():
    """Notebook 04's estimators may call pgcourse.tabular.returns.reward_to_go: only their own answers are registered."""
    out = Check("reward_to_go_gradient_estimate", lambda r: library_reward_to_go(r)).call("case", np.ones(3))
    assert np.allclose(out, [3, 2, 1])


def test_wrap_watches_only_the_first_calls():
    watch = integrity.Watch("reward_to_go")
    calls = []

    def answer(r):
        calls.append(sys.getprofile() is not None)
        return own_reward_to_go(r)

    wrapped = watch.wrap(answer, calls=2)
    for _ in range(4):
        wrapped(np.ones(2))
    assert calls == [True, True, False, False]
    with pytest.raises(integrity.LibraryAnswerUsed):
        integrity.Watch("reward_to_go").wrap(library_reward_to_go)(np.ones(2))
