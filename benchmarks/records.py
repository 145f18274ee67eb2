"""What the benchmarks write besides their last JSON line: the machine they ran on, and a record
(`--record PATH`) that the notebooks quote (tests/test_prose_numbers.py compares the two)."""

from __future__ import annotations

import json
import os
import platform

import torch


def machine(*extra: str) -> str:
    """`x86_64, 2 cores, torch 2.13.0+cpu[, EXTRA…], one torch thread`."""
    return ", ".join([platform.machine(), f"{os.cpu_count()} cores", f"torch {torch.__version__}", *extra,
                      "one torch thread"])


def write_record(path: str, summary: dict) -> None:
    with open(path, "w") as fh:
        json.dump(summary, fh, indent=1)
        fh.write("\n")
