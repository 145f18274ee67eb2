"""Shared test set-up: one torch thread (tiny tensors; threads only add overhead), tests/ importable."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)
