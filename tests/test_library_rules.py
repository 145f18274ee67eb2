"""Each exercise states the library code it may not use, and the statement is the grader's registry."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from pgcourse.checks import integrity

ROOT = Path(__file__).resolve().parents[1]


def _statement(folder: str, notebook: str, exercise: str) -> str:
    """The markdown cell right before the exercise's solution cell."""
    cells = nbformat.read(ROOT / folder / f"{notebook}.ipynb", as_version=4).cells
    index = next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == exercise)
    assert cells[index - 1].cell_type == "markdown", f"{notebook}: no statement right before {exercise}"
    return cells[index - 1].source


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
@pytest.mark.parametrize("entry", integrity.REGISTRY, ids=lambda e: e.exercise)
def test_statement_carries_the_registry_rule(folder, entry):
    lines = _statement(folder, entry.notebook, entry.exercise).splitlines()
    assert integrity.rule(entry.exercise) in lines, \
        f"{folder}/{entry.notebook}: the statement of {entry.exercise} needs the line\n{integrity.rule(entry.exercise)}"


def test_no_other_rule_line_and_no_hand_written_rule():
    expected = {}
    for entry in integrity.REGISTRY:
        expected.setdefault(entry.notebook, []).append(integrity.rule(entry.exercise))
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        found = [line for line in text.splitlines() if integrity.RULE_PREFIX in line]
        assert found == expected.get(path.stem, []), f"{path.name}: a rule line the registry does not make"
        assert "count as the library's answer" not in text, f"{path.name}: a hand-written rule can drift"


def test_a_hint_names_every_name_of_an_aliased_function():
    names = integrity.registered_code("tabular_softmax_policy").values()
    assert "pgcourse.tabular.policies.tabular_softmax = pgcourse.tabular.importance.softmax" in names


def test_notebook_01s_softmax_in_02_is_named_as_the_student_called_it():
    import pgcourse.tabular.importance as iw
    from pgcourse.checks.softmax import check_tabular_softmax_policy

    with pytest.raises(integrity.LibraryAnswerUsed, match="pgcourse.tabular.importance.softmax"):
        check_tabular_softmax_policy(lambda theta: iw.softmax(theta))
