"""The term's course: `course init`, grading into one gradebook, regrades, exports, the report.

The grading drill (tests/drill/: two NumPy exercises and a written answer, a kernel that grades
in seconds): two students graded from an inbox, then a late resubmission, then a regrade of what
`nbgrader collect` would have left in submitted/.
"""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

import submissions as S
from pgcourse.grading import autograde, course, exports

NB = S.DRILL
SIGN_FLIPPED = "_right = centred\ndef centred(*args, **kwargs):\n    return -_right(*args, **kwargs)"


def _gradebook(root: Path) -> Gradebook:
    return Gradebook(course.config(root).CourseDirectory.db_url, course.COURSE_ID)


def _points(results, student):
    r = next(r for r in results if r.student == student)
    return {q.question: q.points for q in r.questions}


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    root = tmp_path_factory.mktemp("term") / "course"
    added = course.init_course(root, S.DRILL_SOLUTIONS, [NB])
    inbox = tmp_path_factory.mktemp("inbox")
    S.write(inbox, "alice", NB, S.solved(NB))
    S.write(inbox, "bob", NB, S.appended_to(S.solved(NB), "centred", SIGN_FLIPPED))
    before = S.digest(inbox)
    results = autograde.grade_course(root, inbox, log=lambda *_: None)
    assert S.digest(inbox) == before, "grading modified the submissions"
    return root, added, results


def test_course_init_makes_a_standard_nbgrader_course(term):
    root, added, _ = term
    assert added == [NB]
    for path in ("nbgrader_config.py", "gradebook.db", f"source/{NB}/{NB}.ipynb", f"release/{NB}/{NB}.ipynb"):
        assert (root / path).exists(), path
    # nbgrader's own command line reads the course from its config file
    run = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "db", "assignment", "list"],
                         cwd=root, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and NB in run.stdout + run.stderr, run.stderr
    # running init again adds nothing and leaves the course as it is
    assert course.init_course(root, S.DRILL_SOLUTIONS, [NB]) == []


def test_grades_go_into_the_term_gradebook(term):
    root, _, results = term
    assert _points(results, "alice") == {"test_centred": 4, "test_unit": 4, "in_words": None}
    assert _points(results, "bob")["test_centred"] == 0
    with _gradebook(root) as gb:
        assert sorted(s.id for s in gb.students) == ["alice", "bob"]
        assert gb.find_submission(NB, "alice").score == 8
    for student in ("alice", "bob"):
        for step in ("submitted", "autograded"):
            assert (root / step / student / NB / f"{NB}.ipynb").exists()
        assert (root / "feedback" / student / NB / f"{NB}.html").exists()


def test_class_report_names_the_mistake(term):
    root, _, _ = term
    exports.write_all(root, root, [NB])
    rows = list(csv.DictReader(open(root / "reports" / NB / "report.csv")))
    centred = [r for r in rows if r["question"] == "test_centred"]
    assert centred[0]["failure"] == "Hint: right size, wrong sign. Check the sign of each term" and centred[0]["count"] == "1"
    assert centred[0]["example_students"] == "bob" and float(centred[0]["share_passed"]) == 0.5
    html = (root / "reports" / NB / "report.html").read_text()
    assert "right size, wrong sign" in html and "data:image/png;base64," in html


def test_regrades_keep_manual_grades_comments_and_other_students(term, tmp_path, capsys):
    root, _, _ = term
    with _gradebook(root) as gb:  # an instructor grades alice's written answer in formgrader
        grade = gb.find_grade("in_words", NB, NB, "alice")
        grade.manual_score = 2.0
        comment = gb.find_comment("in_words", NB, NB, "alice")
        comment.manual_comment = "Clear and correct."
        gb.db.commit()

    late = tmp_path / "late"  # bob hands in a corrected notebook late, with nbgrader's timestamp
    S.write(late, "bob", NB, S.solved(NB))
    (late / "bob" / NB / "timestamp.txt").write_text("2030-01-02 03:04:05.000000 UTC")
    results = autograde.grade_course(root, late, log=lambda *_: None, progress=True)
    assert "1/1" in capsys.readouterr().err, "no progress bar"
    assert [r.student for r in results] == ["bob"] and _points(results, "bob")["test_centred"] == 4
    assert list((root / "archive" / "bob" / NB).iterdir()), "bob's first submission was not kept"

    # grading what `nbgrader collect` leaves in submitted/, from the command line, gives the same scores
    run = subprocess.run([sys.executable, "-m", "pgcourse.cli", "grade", "--course", str(root), str(root / "submitted"),
                          "--workers", "1"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "graded alice/" in run.stdout and "graded bob/" in run.stdout
    assert "without encryption" not in run.stdout + run.stderr
    rows = list(csv.DictReader(open(root / "question_grades.csv")))
    assert {(r["student"], r["question"]): r["points"] for r in rows if r["question"] == "test_centred"} \
        == {("alice", "test_centred"): "4.0", ("bob", "test_centred"): "4.0"}
    with _gradebook(root) as gb:
        assert gb.find_grade("in_words", NB, NB, "alice").manual_score == 2.0
        assert gb.find_comment("in_words", NB, NB, "alice").manual_comment == "Clear and correct."
        assert gb.find_submission(NB, "alice").score == 10
        assert str(gb.find_submission(NB, "bob").timestamp).startswith("2030-01-02 03:04:05")

    exports.write_lms_csv(root, tmp_path / "lms.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "lms.csv"))}
    assert rows["alice"][NB] == "10" and rows["alice"]["total"] == "10"   # manual grade included
    assert rows["bob"][NB] == "8" and rows["bob"]["max_total"] == "10"


def _schema(db: Path) -> tuple[list, list]:
    connection = sqlite3.connect(db)
    try:
        tables = sorted((kind, name, " ".join(sql.rstrip(";").split())) for kind, name, sql
                        in connection.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
        return tables, connection.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        connection.close()


def test_new_gradebook_is_the_database_nbgrader_makes(tmp_path):
    """course.new_gradebook skips nbgrader's `alembic heads` subprocess: same tables, same schema version."""
    ours, nbgraders = tmp_path / "ours.db", tmp_path / "nbgrader.db"
    course.new_gradebook(ours)
    course._ensure_tools_on_path()   # nbgrader runs `alembic` by name, as grading finds it
    Gradebook(f"sqlite:///{nbgraders}", course.COURSE_ID).close()
    assert _schema(ours) == _schema(nbgraders)
    assert _schema(ours)[1] and _schema(ours)[1][0][0]
    with Gradebook(f"sqlite:///{ours}", course.COURSE_ID) as gb:   # nbgrader opens it as its own
        gb.add_student("alice")
        assert [s.id for s in gb.students] == ["alice"]
