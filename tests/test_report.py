"""The class report groups failures by the checks' own diagnoses (no kernel: synthetic results)."""

from __future__ import annotations

import csv

from pgcourse.grading.report import summarise, write_report
from pgcourse.grading.results import QuestionScore, SubmissionResult

A = "04_reward_to_go"
SIGN = ("AssertionError: reward_to_go fails on case 'H=3':\nexpected: [3. 2. 1.]\n  actual: [-3. -2. -1.]\n"
        "Hint: right size, wrong sign. Check the sign of each term.")
SIGN_OTHER_CASE = ("AssertionError: reward_to_go fails on case 'H=5':\nexpected: [5. 4.]\n  actual: [-5. -4.]\n"
                   "Hint:  right size,  wrong sign. Check the sign of each term")
LIBRARY = ("LibraryAnswerUsed: Hint: library reference used: pgcourse.tabular.returns.reward_to_go ran inside your reward_to_go; "
           "this exercise asks for your own code.")
NO_HINT = "AssertionError: reward_to_go fails on case 'empty':\nexpected shape (0,), got shape (1,)."


def _class() -> list[SubmissionResult]:
    def sub(student, rtg_points, rtg_message, written):
        return SubmissionResult(student, A, [
            QuestionScore("test_reward_to_go", rtg_points, 3.0, "passed" if rtg_points == 3 else "failed", rtg_message),
            QuestionScore("proof", written, 2.0, "manual" if written is None else "passed", "")])
    return [sub("ann", 3.0, "", 2.0), sub("ben", 0.0, SIGN, None), sub("cat", 0.0, SIGN_OTHER_CASE, 2.0),
            sub("dan", 0.0, LIBRARY, None), sub("eve", 0.0, NO_HINT, 2.0),
            SubmissionResult("zed", "05_cartpole", [QuestionScore("test_reinforce_loss", 0.0, 3.0, "failed", SIGN)])]


def test_failures_are_grouped_by_diagnosis_with_counts_and_examples():
    rtg, proof = summarise([r for r in _class() if r.assignment == A])
    assert (rtg.question, rtg.graded, rtg.mean_points, rtg.share_passed) == ("test_reward_to_go", 5, 0.6, 0.2)
    assert [(f.diagnosis, f.count, f.examples) for f in rtg.failures] == [
        ("Hint: right size, wrong sign. Check the sign of each term", 2, ["ben", "cat"]),
        ("AssertionError: reward_to_go fails on case 'empty':", 1, ["eve"]),
        ("Hint: library reference used: pgcourse.tabular.returns.reward_to_go ran inside your reward_to_go; "
         "this exercise asks for your own code", 1, ["dan"])]
    # written answers not yet graded by hand count as awaiting, not as failures
    assert (proof.graded, proof.awaiting, proof.mean_points, proof.failures) == (3, 2, 2.0, [])


def test_report_files(tmp_path):
    html_path, csv_path = write_report(A, _class(), tmp_path)
    rows = list(csv.DictReader(open(csv_path)))
    assert [(r["question"], r["count"]) for r in rows] == [
        ("test_reward_to_go", "2"), ("test_reward_to_go", "1"), ("test_reward_to_go", "1"), ("proof", "0")]
    assert rows[0]["example_students"] == "ben cat" and rows[3]["awaiting_manual"] == "2"
    html = html_path.read_text()
    assert "5 graded submission(s)" in html and "2× Hint: right size, wrong sign" in html
    assert "zed" not in html and "<img" in html   # another assignment's results stay out
