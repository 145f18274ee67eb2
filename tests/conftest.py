"""Shared test set-up: one torch thread (tiny tensors; threads only add overhead), tests/ importable,
and the grouping that lets `make test` run on two cores (pytest-xdist, `--dist loadgroup`)."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """nbval's cells of one notebook share one kernel, in order: keep each notebook on one worker."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group(f"nbval_{item.path.stem}"))
