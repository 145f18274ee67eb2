"""What a student reads: errors without a message explained, every graded function listed where it is announced."""

from __future__ import annotations

import linecache
import re
from pathlib import Path

import nbformat
import pytest
import torch

from pgcourse.checks import integrity
from pgcourse.checks import llm as llm_checks
from pgcourse.checks.core import Check

ROOT = Path(__file__).resolve().parents[1]


def _from_a_cell(source: str, name: str):
    """A function defined in a notebook cell (IPython keeps each cell's source in linecache; pytest's
    assertion rewriting, which would give the assert a message, does not touch it)."""
    filename = f"<ipython-input-{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


_bare_assert = _from_a_cell("def answer(x):\n    assert x > 5\n    return x\n", "answer")


def test_a_bare_assert_in_the_answer_is_explained():
    with pytest.raises(AssertionError) as caught:
        Check("f", _bare_assert).call("small", 1)
    message = str(caught.value)
    assert "AssertionError: ." not in message and "AssertionError\non" not in message
    assert "`assert x > 5`" in message and "an `assert` in your code failed" in message
    with pytest.raises(AssertionError) as caught:
        Check("f", _bare_assert).expect_raises("bad input", ValueError, 1)
    assert "but it raised AssertionError at `assert x > 5`: an `assert`" in str(caught.value)


def test_averaging_the_kl_gets_its_hint():
    with pytest.raises(AssertionError, match="you averaged the KL over the batch"):
        llm_checks.check_kl_penalized_reward(lambda s, lp, ref, beta: (s - beta * (lp - ref).mean()).detach())


def test_readme_lists_every_graded_function_of_each_notebook():
    readme = (ROOT / "README.md").read_text()
    for entry in integrity.REGISTRY:
        row = next(line for line in readme.splitlines() if line.startswith(f"| {entry.notebook[:2]} |"))
        assert f"`{entry.exercise}`" in row, f"README's row for {entry.notebook} leaves out {entry.exercise}"


def test_notebook_06_counts_and_plugs_in_all_its_functions():
    exercises = [e.exercise for e in integrity.REGISTRY if e.notebook == "06_llm_summarization"]
    cells = nbformat.read(ROOT / "solutions" / "06_llm_summarization.ipynb", as_version=4).cells
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert len(exercises) == 5 and "Your five functions" in text and "four functions" not in text
    path_to_real_models = text[text.index("## 11. A path to real models"):text.index("## Summary")]
    for name in exercises:
        assert re.search(rf"\b{name}=?{name}\b|loss_fn={name}|{name}={name}", path_to_real_models), name
    assert "2–3 minutes" not in text


def test_rloo_advantages_states_its_input_type():
    cells = nbformat.read(ROOT / "solutions" / "06_llm_summarization.ipynb", as_version=4).cells
    statement = next(c.source for c in cells if "### Exercise 3 (2 points): `rloo_advantages`" in c.source)
    assert "torch tensor" in statement
    with pytest.raises(AssertionError, match="expected a torch tensor"):
        llm_checks.check_rloo_advantages(lambda r: r.numpy())
