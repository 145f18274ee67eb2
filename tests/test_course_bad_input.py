"""Bad input to the term's grading: one clear message each, and no earlier grade or submission lost.

None of these starts a kernel: every bad input is caught before a notebook runs, and the
earlier grade is a synthetic one recorded straight into the gradebook.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

import submissions as S
from pgcourse.grading import autograde, course, parallel, record
from pgcourse.grading.task import GradedSubmission, GradingTask, grade_task, stage_submission

NB01 = "01_importance_weighting"
QUESTIONS = {"test_iw_gradient_estimate", "test_score_function_gradient_estimate", "how_does_p_move"}

def _graded(student: str, feedback: bytes) -> GradedSubmission:
    """A graded submission as a grading task returns it: here the release, whose test cells show no error
    (nbgrader scores them full: 8 autograded points) and whose written answer awaits grading by hand."""
    release = nbformat.writes(S.blank(NB01)).encode()
    return GradedSubmission(student, NB01, autograded={f"{NB01}.ipynb": release},
                            feedback_html=feedback, submission={f"{NB01}.ipynb": release})


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """A course with one earlier grade: alice, full autograded marks."""
    root = tmp_path_factory.mktemp("bad") / "course"
    course.init_course(root, S.SOLUTIONS, [NB01])
    record.record(root, _graded("alice", b"<p>first feedback</p>"))
    return root


def _alice_points(root: Path) -> float:
    with Gradebook(course.config(root).CourseDirectory.db_url, course.COURSE_ID) as gb:
        return gb.find_submission(NB01, "alice").score


def _grade(root: Path, inbox: Path):
    before_inbox, before_points = S.digest(inbox), _alice_points(root)
    results = {r.student: r for r in autograde.grade_course(root, inbox, log=lambda *_: None)}
    assert S.digest(inbox) == before_inbox and _alice_points(root) == before_points
    return results


def test_unknown_assignment(term, tmp_path):
    S.write(tmp_path, "bob", "99_no_such_notebook", S.solved(NB01))
    r = _grade(term, tmp_path)["bob"]
    assert "unknown assignment '99_no_such_notebook'" in r.error and NB01 in r.error


def test_throw_away_run_with_only_unknown_assignments(tmp_path):
    S.write(tmp_path / "inbox", "bob", "99_no_such_notebook", S.solved(NB01))
    [r] = autograde.grade(tmp_path / "inbox", tmp_path / "out", log=lambda *_: None)
    assert "unknown assignment" in r.error and (tmp_path / "out" / "grades.csv").exists()


def test_student_folder_with_two_notebooks(term, tmp_path):
    S.write(tmp_path, "bob", NB01, S.solved(NB01), name="draft.ipynb")
    S.write(tmp_path, "bob", NB01, S.solved(NB01), name="final.ipynb")
    r = _grade(term, tmp_path)["bob"]
    assert r.error == f"expected one notebook {NB01}.ipynb, found draft.ipynb, final.ipynb: rename the one to grade"
    assert r.points == 0 and {q.question for q in r.questions} == QUESTIONS
    # alice already has a grade: the bad resubmission is reported, and her grade stays
    S.write(tmp_path / "again", "alice", NB01, S.solved(NB01), name="a.ipynb")
    S.write(tmp_path / "again", "alice", NB01, S.solved(NB01), name="b.ipynb")
    assert _grade(term, tmp_path / "again")["alice"].error.endswith("(not recorded: the earlier grade stays)")
    # with the expected name present, the other notebook is named in the note, not silently dropped
    _, error, note = stage_submission({f"{NB01}.ipynb": b"{}", f"{NB01}-Copy1.ipynb": b"{}"}, NB01)
    assert note == f"graded {NB01}.ipynb; ignored {NB01}-Copy1.ipynb"


@pytest.mark.parametrize("pair, why", [(("Bob", "bob"), "differs only in case"),
                                       (("jo ann",), "spaces, non-ASCII"),
                                       (("zoë",), "spaces, non-ASCII"),
                                       (("ALICE",), "differs only in case from 'alice'")])
def test_student_ids_that_cannot_be_kept_apart(term, tmp_path, pair, why):
    for student in pair:
        S.write(tmp_path, student, NB01, S.solved(NB01))
    results = _grade(term, tmp_path)
    assert set(results) == set(pair)
    for student in pair:
        assert why in results[student].error and not results[student].questions


def test_course_directory_missing_or_made_for_another_course(term, tmp_path):
    S.write(tmp_path / "inbox", "bob", NB01, S.solved(NB01))
    with pytest.raises(SystemExit, match="no course directory .*pgcourse course init"):
        autograde.grade_course(tmp_path / "nowhere", tmp_path / "inbox")
    other = tmp_path / "other"
    other.mkdir()
    (other / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'stats101'\n")
    (other / "gradebook.db").write_bytes(b"")
    before = S.digest(other)
    with pytest.raises(SystemExit, match="made for another course .*'stats101'"):
        autograde.grade_course(other, tmp_path / "inbox")
    with pytest.raises(SystemExit, match="made for another course"):
        course.init_course(other, S.SOLUTIONS, [NB01])
    assert S.digest(other) == before
    with pytest.raises(SystemExit, match="not an nbgrader course"):
        course.init_course(tmp_path / "inbox", S.SOLUTIONS, [NB01])


def test_unreachable_dask_scheduler(term, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 2)
    S.write(tmp_path, "bob", NB01, S.solved(NB01))
    before = S.digest(term)
    with pytest.raises(SystemExit, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}.*Nothing was graded"):
        autograde.grade_course(term, tmp_path, scheduler=f"tcp://127.0.0.1:{port}", log=lambda *_: None)
    assert S.digest(term) == before


def test_disk_full_while_feedback_is_written(term, monkeypatch):
    feedback = term / "feedback" / "alice" / NB01 / f"{NB01}.html"
    autograded_before = S.digest(term / "autograded" / "alice")
    real_write = record.write_files

    def full_disk(files, folder):
        if Path(folder).name == "feedback":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(files, folder)

    monkeypatch.setattr(record, "write_files", full_disk)
    with pytest.raises(record.RecordError, match="could not store alice/01_importance_weighting "
                                                 r"\(the disk is full\); its earlier grade"):
        record.record(term, _graded("alice", b"<p>second feedback</p>"))
    assert _alice_points(term) == 8
    assert feedback.read_bytes() == b"<p>first feedback</p>"
    assert S.digest(term / "autograded" / "alice") == autograded_before
    assert not any((term / record.STAGING).iterdir())


def test_invalid_notebook_is_caught_before_a_kernel_starts():
    task = GradingTask("bob", NB01, {f"{NB01}.ipynb": b"\xff\xfe not JSON"}, {})
    result = grade_task(task)  # no source given: it would fail if it tried to build a course
    assert "is not a valid notebook" in result.error and not result.autograded
