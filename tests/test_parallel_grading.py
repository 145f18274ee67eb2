"""Parallel grading on a two-worker Dask LocalCluster (127.0.0.1 only, closed by the run).

The same three submissions of the grading drill (tests/drill/) are graded one at a time in this process and on the
cluster; one of them kills the worker process grading it the first time it runs. The parallel
run must give exactly the serial run's scores and record that submission once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader.api import Gradebook

import submissions as S
from pgcourse.grading import autograde, course

pytest.importorskip("distributed")

DRILL = S.DRILL
WRONG = "_right = centred\ndef centred(*args, **kwargs):\n    return -_right(*args, **kwargs)"


def _kills_its_worker_once(marker: Path) -> str:
    """Notebook code: if one of the kernel's ancestors is a Dask worker process (started by
    multiprocessing, never this test's own process), kill it, once. (The kernel's parent is the
    worker's kernel fork server, `pgcourse.grading.kernel_forkserver`, or the worker itself.)"""
    return (f"import os, pathlib, signal\nmarker = pathlib.Path({str(marker)!r})\n"
            "pid = os.getppid()\n"
            "while pid > 1 and b'multiprocessing' not in pathlib.Path(f'/proc/{pid}/cmdline').read_bytes():\n"
            "    pid = int(pathlib.Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[1])\n"
            "if pid > 1 and not marker.exists():\n"
            "    marker.write_text(str(pid))\n"
            "    os.kill(pid, signal.SIGKILL)")


def _scores(results):
    return {(r.student, r.assignment): ([(q.question, q.points, q.status) for q in r.questions], r.error)
            for r in results}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inbox")
    marker = tmp_path_factory.mktemp("marker") / "killed"
    S.write(folder, "solved", DRILL, S.solved(DRILL))
    S.write(folder, "wrong", DRILL, S.appended_to(S.solved(DRILL), "centred", WRONG))
    S.write(folder, "killer", DRILL, S.with_inserted_cell_before(S.solved(DRILL), "test_centred",
                                                                 _kills_its_worker_once(marker)))
    return folder, marker


def test_two_workers_give_the_serial_scores_and_survive_a_killed_worker(inbox, tmp_path):
    folder, marker = inbox
    serial_root, parallel_root = tmp_path / "serial", tmp_path / "parallel"
    for root in (serial_root, parallel_root):
        course.init_course(root, S.DRILL_SOLUTIONS, [DRILL])
    serial = autograde.grade_course(serial_root, folder, workers=1, log=lambda *_: None)
    assert not marker.exists(), "the killer cell ran outside a grading worker"
    marker.unlink(missing_ok=True)

    lines = []
    parallel = autograde.grade_course(parallel_root, folder, workers=2, log=lines.append)
    assert marker.exists(), "the worker was never killed, so the retry was not tested"
    assert _scores(parallel) == _scores(serial)
    assert not any(r.error for r in parallel), autograde.format_table(parallel)
    killer = next(r for r in parallel if r.student == "killer")
    assert killer.points == 8
    assert sum(line.startswith("graded killer/") for line in lines) == 1
    with Gradebook(course.config(parallel_root).CourseDirectory.db_url, course.COURSE_ID) as gb:
        assert sorted(s.student.id for s in gb.find_assignment(DRILL).submissions) == ["killer", "solved", "wrong"]
