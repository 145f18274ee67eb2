"""Benchmark: notebook 05's experiments (sections 8 and 10) at full budget, with several correct losses.

Section 8 trains REINFORCE on CartPole-v1 with four weightings (the full return, the reward-to-go, the
reward-to-go minus a leave-one-out baseline, all with γ = 1 and raw weights; and the trainer's recipe:
γ = 0.99, a batch-mean baseline, normalized) for seeds 0-4 and at most 100,000 environment steps.
Section 10 trains the recipe with the step size η = 0.5 for seeds 0-2 and at most 50,000 steps.

A student's loss is correct when its gradient is minus the REINFORCE estimator, but it may round
differently from the solution's. So every run is made with the solution's loss and with other correct
losses; the record says whether any of them changes a single step count.

    .venv/bin/python benchmarks/cartpole_weightings.py                     # ~4 min on one core
    .venv/bin/python benchmarks/cartpole_weightings.py --record benchmarks/results/cartpole_weightings.json

Prints one line per run; the last line is one JSON object: per loss and setting, each seed's
``[solved, steps_to_solve or null, mean return of the last 100 episodes]``, and whether every loss
gave exactly the solution's runs (``same_runs_for_every_loss``). Notebook 05 quotes the record
(``tests/test_prose_numbers.py`` compares the two).
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import torch

from pgcourse.cartpole import CartPoleConfig, train_reinforce
from records import machine, write_record  # noqa: E402 (benchmarks/records.py)


def solution_loss(log_probs, weights, mask):
    """Notebook 05's solution: −(1/N) Σ_i Σ_h m ln π w."""
    return -(mask * log_probs * weights.detach()).sum() / log_probs.shape[0]


def rows_then_mean(log_probs, weights, mask):
    """Sum over each episode's steps, then the mean over the N episodes."""
    return -(log_probs * weights.detach() * mask).sum(dim=1).mean()


def select_not_multiply(log_probs, weights, mask):
    """torch.where instead of a product with the mask (safe with −inf padding)."""
    return -torch.where(mask > 0, log_probs * weights.detach(), 0.0).sum() / mask.shape[0]


def divide_first(log_probs, weights, mask):
    """The weights divided by N before the product: the same number, rounded in another order."""
    return -(log_probs * (weights.detach() / log_probs.shape[0]) * mask).sum()


LOSSES = {f.__name__: f for f in (solution_loss, rows_then_mean, select_not_multiply, divide_first)}
SECTION_8 = {  # label: (weighting, γ, normalize), as in the notebook
    "return": ("return", 1.0, False),
    "reward_to_go": ("reward_to_go", 1.0, False),
    "loo_baseline": ("reward_to_go_loo_baseline", 1.0, False),
    "recipe": ("reward_to_go_baseline", 0.99, True),
}


def run(seed: int, loss_fn, weighting="reward_to_go_baseline", gamma=0.99, normalize=True, lr=3e-2,
        max_env_steps=100_000) -> list:
    h = train_reinforce(CartPoleConfig(seed=seed, gamma=gamma, lr=lr, max_env_steps=max_env_steps),
                        loss_fn=loss_fn, weighting=weighting, normalize=normalize, progress=False)
    return [bool(h.solved), h.steps_to_solve, round(float(h.mean_last()), 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--record", metavar="PATH", help="also write the JSON object to PATH")
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs: dict[str, dict[str, list]] = {}
    for loss_name, loss_fn in LOSSES.items():
        out = runs.setdefault(loss_name, {})
        for label, (weighting, gamma, normalize) in SECTION_8.items():
            out[label] = [run(seed, loss_fn, weighting, gamma, normalize) for seed in range(5)]
            print(loss_name, label, out[label], flush=True)
        out["lr_0.5"] = [run(seed, loss_fn, lr=0.5, max_env_steps=50_000) for seed in range(3)]
        print(loss_name, "lr_0.5", out["lr_0.5"], flush=True)
    reference = runs["solution_loss"]
    summary = {
        "section_8": {"seeds": 5, "max_env_steps": 100_000},
        "section_10": {"seeds": 3, "max_env_steps": 50_000, "lr": 0.5},
        "solved": {label: sum(r[0] for r in reference[label]) for label in SECTION_8},
        "median_steps_to_solve": {label: (int(np.median([r[1] for r in reference[label] if r[0]]))
                                          if any(r[0] for r in reference[label]) else None)
                                  for label in SECTION_8},
        "lr_0.5_final_return": [r[2] for r in reference["lr_0.5"]],
        "runs": runs,
        "same_runs_for_every_loss": all(r == reference for r in runs.values()),
        "machine": machine(f"gymnasium {gym.__version__}"),
    }
    print(json.dumps(summary))
    if args.record:
        write_record(args.record, summary)


if __name__ == "__main__":
    main()
