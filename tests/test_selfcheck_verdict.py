"""`pgcourse check`'s last line says plainly what is left, and why it exits 1 (pgcourse/grading/selfcheck.py)."""

from pgcourse.grading.results import QuestionScore
from pgcourse.grading.selfcheck import format_rows


def test_only_a_written_answer_missing_is_said_plainly():
    rows = [QuestionScore("test_f", 4.0, 4.0, "passed", ""),
            QuestionScore("why_q_learning_diverges", None, 2.0, "unanswered", "write your answer in this cell")]
    last = format_rows(rows).splitlines()[-1]
    assert "Every autograded question passes" in last and "why_q_learning_diverges" in last
    assert "Exit status 1" in last and "nothing else is wrong" in last


def test_a_failure_is_named_before_the_written_answer():
    rows = [QuestionScore("test_f", 0.0, 4.0, "failed", "f fails"),
            QuestionScore("essay", None, 2.0, "unanswered", "")]
    last = format_rows(rows).splitlines()[-1]
    assert last.startswith("To fix: test_f (autograded); still to write: essay") and "Exit status 1" in last


def test_all_done():
    rows = [QuestionScore("test_f", 4.0, 4.0, "passed", ""), QuestionScore("essay", None, 2.0, "manual", "")]
    assert "Exit status 0" in format_rows(rows).splitlines()[-1]
