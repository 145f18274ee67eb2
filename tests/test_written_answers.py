"""Hand-graded written questions: the student's copy never holds a model answer; the answers release does."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from pgcourse.grading import release

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
WRITTEN = [(path, *q) for path in SOLUTIONS for q in release.written_questions(path)]


def _words(text: str) -> list[str]:
    """The prose's words: formulas ($…$, $$…$$) and code (`…`) are left out, shared notation is no leak."""
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", text, flags=re.S)
    return re.findall(r"[A-Za-z0-9]+", text.lower())


def _shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    """Every run of n consecutive words (maths and punctuation ignored): a copied sentence shares many."""
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_every_graded_written_question_is_found():
    assert {q[1] for q in WRITTEN} >= {"why_q_learning_diverges", "how_does_p_move", "classifier_view",
                                       "reinforce_derivation", "lemma_proof", "reward_hacking"}


@pytest.mark.parametrize("solution,grade_id,question,answer", WRITTEN, ids=[q[1] for q in WRITTEN])
def test_released_notebook_has_no_model_answer(solution, grade_id, question, answer):
    released = nbformat.read(ROOT / "notebooks" / solution.name, as_version=4)
    released_text = "\n".join(cell.source for cell in released.cells)
    assert "Check your answer" not in released_text
    answer_cell = [c for c in released.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id]
    assert answer_cell and answer_cell[0].source.strip() == "YOUR ANSWER HERE"
    # The whole released notebook, cell by cell, against the model answer: no 8-word run of it survives,
    # except runs that the question itself states.
    allowed = _shingles(question)
    leaked = (_shingles(answer) - allowed) & set().union(*(_shingles(c.source) for c in released.cells))
    assert not leaked, f"notebooks/{solution.name} repeats the model answer of {grade_id}: " \
                       f"{[' '.join(s) for s in sorted(leaked)[:3]]}"


def test_answers_release_holds_each_model_answer_without_the_mark_scheme(tmp_path):
    written = release.answers(out_dir=tmp_path)
    by_name = {p.stem: p.read_text() for p in written}
    for solution, grade_id, question, answer in WRITTEN:
        text = by_name[solution.stem]
        assert answer in text and question.strip() in text
        assert release.MARK_SCHEME not in text
