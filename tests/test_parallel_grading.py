"""Parallel grading on a two-worker Dask LocalCluster (127.0.0.1 only, closed by the run).

The same three submissions of the grading drill (tests/drill/) are graded one at a time in this process and on the
cluster; the worker process grading one of them is killed (from outside: its kernel, in the grading
sandbox, cannot reach the worker) the first time it runs. The parallel run must give exactly the
serial run's scores and record that submission once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

import submissions as S
from pgcourse.grading import autograde, course

pytest.importorskip("distributed")

DRILL = S.DRILL
WRONG = "_right = centred\ndef centred(*args, **kwargs):\n    return -_right(*args, **kwargs)"


KILL_ME = "kill-my-worker"
# Notebook code: the kernel names itself, then waits a moment, so that `WorkerKiller` sees it.
NAMED_KERNEL = f"import time\nopen('/proc/self/comm', 'w').write({KILL_ME!r})\ntime.sleep(3)"


class WorkerKiller(threading.Thread):
    """Kills, once, the Dask worker process whose kernel is named KILL_ME (walking up from the kernel:
    its sandbox's fork server, bwrap, the worker, started by multiprocessing)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.killed: int | None = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and self.killed is None:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() != KILL_ME:
                        continue
                    parent = int(pid)
                    while parent > 1 and b"multiprocessing" not in Path(f"/proc/{parent}/cmdline").read_bytes():
                        parent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError):
                    continue
                if parent > 1:
                    os.kill(parent, signal.SIGKILL)
                    self.killed = parent
                    return
            time.sleep(0.05)


def _scores(results):
    return {(r.student, r.assignment): ([(q.question, q.points, q.status) for q in r.questions], r.error)
            for r in results}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inbox")
    S.write(folder, "solved", DRILL, S.solved(DRILL))
    S.write(folder, "wrong", DRILL, S.appended_to(S.solved(DRILL), "centred", WRONG))
    S.write(folder, "killer", DRILL, S.with_inserted_cell_before(S.solved(DRILL), "test_centred", NAMED_KERNEL))
    return folder


def test_two_workers_give_the_serial_scores_and_survive_a_killed_worker(inbox, tmp_path):
    folder = inbox
    serial_root, parallel_root = tmp_path / "serial", tmp_path / "parallel"
    for root in (serial_root, parallel_root):
        course.init_course(root, S.DRILL_SOLUTIONS, [DRILL])
    serial = autograde.grade_course(serial_root, folder, workers=1, log=lambda *_: None)

    lines = []
    killer_thread = WorkerKiller()
    killer_thread.start()
    try:
        parallel = autograde.grade_course(parallel_root, folder, workers=2, log=lines.append)
    finally:
        killer_thread.stop.set()
    assert killer_thread.killed, "the worker was never killed, so the retry was not tested"
    assert _scores(parallel) == _scores(serial)
    assert not any(r.error for r in parallel), autograde.format_table(parallel)
    killer = next(r for r in parallel if r.student == "killer")
    assert killer.points == 8
    assert sum(line.startswith("graded killer/") for line in lines) == 1
    with Gradebook(course.config(parallel_root).CourseDirectory.db_url, course.COURSE_ID) as gb:
        assert sorted(s.student.id for s in gb.find_assignment(DRILL).submissions) == ["killer", "solved", "wrong"]
