"""Run grading tasks: in this process, on a local Dask cluster, or on a Dask scheduler elsewhere.

    run_tasks(tasks, workers=1)                       one at a time, in this process
    run_tasks(tasks, workers=4)                       a LocalCluster of 4 single-threaded worker
                                                      processes on 127.0.0.1
    run_tasks(tasks, scheduler="tcp://host:8786")     the workers of an existing Dask cluster

Every path runs the same `grade_task` on the same data and yields `GradedSubmission`s as they
finish; the caller records them. A worker that dies mid-task (killed, out of memory) is replaced
by Dask's nanny and its task runs again elsewhere (up to `distributed.scheduler.allowed-failures`,
3 by default), so its grade is recorded once. Dask is the optional extra `pgcourse[grading]`:
without it, grading runs in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from pgcourse.grading.task import GradedSubmission, GradingTask, grade_task

CONNECT_TIMEOUT_S = 10


def dask_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def _connect(workers: int, scheduler: str | None):
    """A Dask client, and the LocalCluster it owns (None for an external scheduler)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT_S), None
        except (OSError, TimeoutError, ValueError) as err:
            raise SystemExit(f"cannot reach the Dask scheduler at {scheduler} ({type(err).__name__}: "
                             f"{str(err)[:160]}); start one with `dask scheduler` and workers with "
                             "`dask worker ADDRESS`, or leave out --scheduler to grade on this machine. "
                             "Nothing was graded.") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_tasks(tasks: list[GradingTask], workers: int = 1, scheduler: str | None = None,
              log: Callable[[str], None] = print) -> Iterator[GradedSubmission]:
    """Yield each task's GradedSubmission as it finishes (in any order)."""
    if not tasks:
        return
    if scheduler is None and workers <= 1:
        yield from map(grade_task, tasks)
        return
    if not dask_available():
        if scheduler:
            raise SystemExit("--scheduler needs Dask: pip install 'pgcourse[grading]'. Nothing was graded.")
        log(f"Dask is not installed (pip install 'pgcourse[grading]'): grading one at a time, not {workers} at once")
        yield from map(grade_task, tasks)
        return
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    client, cluster = _connect(workers, scheduler)
    try:
        futures = {client.submit(grade_task, task, pure=False): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                yield future.result()
            except KilledWorker:
                yield GradedSubmission(task.student, task.assignment,
                                       error="every grading worker that ran this submission died (it may exhaust "
                                             "memory); grade it alone with --workers 1")
            except Exception as err:  # grade_task catches the student's errors; this is the grader's own
                yield GradedSubmission(task.student, task.assignment,
                                       error=f"the grading worker failed: {type(err).__name__}: {str(err)[:200]}")
            finally:
                future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
