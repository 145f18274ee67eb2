"""Benchmark: the course's batched REINFORCE vs tutorial-style REINFORCE on CartPole-v1.

Both run in this process with one torch thread. "Solved" = the mean undiscounted return of the
last 100 completed training episodes ≥ 475; each clock starts after the env and model are built.

- course: ``pgcourse.cartpole.train_reinforce`` with its defaults (N = 16 native vector envs,
  4-64-2 tanh, Adam 3e-2, γ = 0.99 reward-to-go minus a per-time-step baseline, normalized).
- tutorial: as in the PyTorch examples' reinforce.py: one env, one episode per update, a
  ``Categorical`` and a graph per step, 4-128-2 with dropout 0.6, Adam 1e-2, γ = 0.99,
  normalized reward-to-go.

Usage::

    python benchmarks/cartpole.py            # 5 course seeds, 5 tutorial seeds (~6 min)
    python benchmarks/cartpole.py --quick    # 5 course seeds, 1 tutorial seed capped at 400k steps (~1.5 min)
    python benchmarks/cartpole.py --quick --record benchmarks/results/cartpole.json   # notebook 05's record

Per-seed lines and medians go to stdout; the last line is one JSON object with ``seeds``,
``solved``, ``median_steps``, ``median_seconds``, ``median_cpu_seconds``, ``tutorial_median_seconds``,
``speedup`` (tutorial median seconds / course median seconds), ``cpu_speedup`` (the same in CPU
seconds, the figure to trust while other jobs share the cores), ``load_average`` and more. Wall-clock times depend on machine load; step
counts are exactly reproducible for a fixed seed. ``--record PATH`` also writes that object, with every
run (``course_runs``, ``tutorial_runs``), to PATH: the record notebook 05's section 6 quotes
(``tests/test_prose_numbers.py`` compares the two).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections import deque

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgcourse.cartpole import SOLVED_RETURN, SOLVED_WINDOW, CartPoleConfig, train_reinforce
from records import machine, write_record  # noqa: E402 (benchmarks/records.py)


def course_run(seed: int, max_env_steps: int = 300_000) -> dict:
    """One course run to the solved criterion; env steps, wall seconds and CPU seconds to solve.

    CPU seconds (``time.process_time``, env and model construction included) stay close to an idle
    machine's wall time when other jobs share the cores; wall seconds do not.
    """
    cpu = time.process_time()
    h = train_reinforce(CartPoleConfig(seed=seed, max_env_steps=max_env_steps), progress=False)
    return {"seed": seed, "solved": h.solved, "steps": h.steps_to_solve or h.env_steps,
            "seconds": h.seconds_to_solve or h.seconds, "cpu_seconds": time.process_time() - cpu}


class TutorialPolicy(nn.Module):
    """4-128-2 with dropout 0.6 and ReLU, returning action probabilities (PyTorch examples)."""

    def __init__(self) -> None:
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.affine2(torch.relu(self.dropout(self.affine1(x)))), dim=1)


def tutorial_run(seed: int, max_env_steps: int, gamma: float = 0.99) -> dict:
    """One tutorial-style run: a per-step Categorical and log-prob graph, one update per episode."""
    torch.manual_seed(seed)
    env = gym.make("CartPole-v1")
    policy = TutorialPolicy()
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    eps = np.finfo(np.float32).eps.item()
    recent: deque[float] = deque(maxlen=SOLVED_WINDOW)
    steps, solved = 0, False
    state, _ = env.reset(seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    while steps < max_env_steps:
        log_probs, rewards = [], []
        for _ in range(10_000):
            probs = policy(torch.from_numpy(state).float().unsqueeze(0))
            m = torch.distributions.Categorical(probs)
            action = m.sample()
            log_probs.append(m.log_prob(action))
            state, reward, terminated, truncated, _ = env.step(action.item())
            rewards.append(float(reward))
            if terminated or truncated:
                break
        steps += len(rewards)
        recent.append(sum(rewards))
        R, returns = 0.0, deque()
        for r in rewards[::-1]:
            R = r + gamma * R
            returns.appendleft(R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        loss = torch.cat([-lp * G for lp, G in zip(log_probs, returns)]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state, _ = env.reset()
        if len(recent) == SOLVED_WINDOW and np.mean(recent) >= SOLVED_RETURN:
            solved = True
            break
    env.close()
    return {"seed": seed, "solved": solved, "steps": steps, "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 tutorial seed capped at 400k env steps")
    parser.add_argument("--seeds", type=int, default=5, help="course seeds (0, 1, ...)")
    parser.add_argument("--record", metavar="PATH", help="also write the JSON object, with every run, to PATH")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tutorial_seeds = 1 if args.quick else 5
    tutorial_cap = 400_000 if args.quick else 1_000_000
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; torch threads 1", flush=True)

    course_run(seed=1000, max_env_steps=5_000)  # warm-up: torch's first-call costs, not counted
    course = []
    for seed in range(args.seeds):
        course.append(course_run(seed))
        c = course[-1]
        print(f"course   seed {seed}: solved={c['solved']} steps={c['steps']:>7} seconds={c['seconds']:.2f} "
              f"cpu={c['cpu_seconds']:.2f}", flush=True)
    tutorial = []
    for seed in range(tutorial_seeds):
        tutorial.append(tutorial_run(seed, tutorial_cap))
        t = tutorial[-1]
        print(f"tutorial seed {seed}: solved={t['solved']} steps={t['steps']:>7} seconds={t['seconds']:.1f} "
              f"cpu={t['cpu_seconds']:.1f}", flush=True)

    keys = ("steps", "seconds", "cpu_seconds")
    med = {k: float(np.median([r[k] for r in course])) for k in keys}
    tmed = {k: float(np.median([r[k] for r in tutorial])) for k in keys}
    summary = {
        "seeds": args.seeds,
        "solved": sum(r["solved"] for r in course),
        "median_steps": int(med["steps"]),
        "median_seconds": round(med["seconds"], 3),
        "median_cpu_seconds": round(med["cpu_seconds"], 3),
        "steps_range": [min(r["steps"] for r in course), max(r["steps"] for r in course)],
        "cpu_seconds_range": [round(min(r["cpu_seconds"] for r in course), 3),
                              round(max(r["cpu_seconds"] for r in course), 3)],
        "tutorial_seeds": tutorial_seeds,
        "tutorial_solved": sum(r["solved"] for r in tutorial),
        "tutorial_median_steps": int(tmed["steps"]),
        "tutorial_median_seconds": round(tmed["seconds"], 2),
        "tutorial_median_cpu_seconds": round(tmed["cpu_seconds"], 2),
        "speedup": round(tmed["seconds"] / med["seconds"], 1),
        "cpu_speedup": round(tmed["cpu_seconds"] / med["cpu_seconds"], 1),
        # the speed-up in two factors: fewer env steps (the method's settings), less CPU per env step (the code)
        "steps_ratio": round(tmed["steps"] / med["steps"], 1),
        "cpu_per_step_speedup": round((tmed["cpu_seconds"] / tmed["steps"]) / (med["cpu_seconds"] / med["steps"]), 1),
        "load_average": round(os.getloadavg()[0], 2),
        "quick": args.quick,
        "config": dataclasses.asdict(CartPoleConfig()),
        "machine": machine(f"gymnasium {gym.__version__}"),
    }
    print(f"course medians: {med['steps']:.0f} env steps, {med['seconds']:.2f} s; tutorial medians: "
          f"{tmed['steps']:.0f} env steps, {tmed['seconds']:.1f} s; speedup {summary['speedup']}x")
    print(json.dumps(summary))
    if args.record:
        rounded = [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in course + tutorial]
        summary.update(course_runs=rounded[:len(course)], tutorial_runs=rounded[len(course):])
        write_record(args.record, summary)


if __name__ == "__main__":
    main()
