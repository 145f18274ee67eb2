"""Shared test set-up: one torch thread (tiny tensors; threads only add overhead), tests/ importable,
each test's environment variables put back, and how `make test` shares the tests between two cores
(pytest-xdist, `-n 2 --dist loadscope`)."""

import os
import sys
from pathlib import Path

import pytest
import torch
from xdist.scheduler import LoadScopeScheduling

sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _environment_put_back():
    """Each test leaves os.environ as it found it. Libraries set variables as they go (Dask's
    LocalCluster its workers' thread limits, torch its inductor cache folder), and the grading
    kernels' fork server serves one environment (pgcourse.grading.kernel_forkserver): one leaked
    variable made every later grading in that worker start a new server, 5 s of imports."""
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


def work_unit(nodeid: str) -> str:
    """The tests that must run on one worker: a test file's tests with the same parameter id.

    - A notebook's cells share one kernel and run in order: one notebook, one unit.
    - A module's unparametrized tests share its module-scoped fixtures: one unit per module.
    - A module's tests with the same parameter id share the fixtures keyed by that parameter, built
      once per worker: tests/test_grading.py grades each assignment once, and the seven
      assignments' grading runs spread over both workers.
    (xdist's own `xdist_group` marks would say this, but xdist 3.8 cannot group with pytest 9.)
    """
    path, _, name = nodeid.partition("::")
    param = name.partition("[")[2][:-1] if name.endswith("]") else ""  # a test name has no "["
    return f"{path}[{param}]" if param else path


# Units that run kernels take a minute or more (the hub's term about three), the rest seconds:
# start the long ones first, longest first, so that the short ones fill in and both workers finish
# together.
LONG_FIRST = ("tests/test_hub.py", "tests/test_parallel_grading.py", "tests/test_grading.py", "tests/test_cheats.py")


def _rank(item: pytest.Item) -> int:
    return next((i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)), len(LONG_FIRST))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: files stay contiguous


class WorkUnitScheduling(LoadScopeScheduling):
    """xdist's loadscope on `work_unit`s, in collection order (long units first), more work to
    whichever worker runs dry."""

    def _split_scope(self, nodeid: str) -> str:
        return work_unit(nodeid)

    def schedule(self) -> None:
        self.config.option.loadscopereorder = False  # not by test count: by the order above
        super().schedule()


def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadScopeScheduling | None:
    return WorkUnitScheduling(config, log) if config.getvalue("dist") == "loadscope" else None
