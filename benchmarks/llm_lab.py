"""Benchmark the LLM mini-lab (notebook 06): the full pipeline over 3 seeds on one CPU thread.

    .venv/bin/python benchmarks/llm_lab.py            # full budget, seeds 0 1 2, all 7 methods
    .venv/bin/python benchmarks/llm_lab.py --quick    # the CI/grading budget
    .venv/bin/python benchmarks/llm_lab.py --four     # only SFT/REINFORCE/RLOO (the old lab)

Prints the per-seed tables, the results table beside the lecture's numbers, and, as its last line,
one JSON object (win rates in percent, seed means; RM accuracy and probes as fractions, seed means).
Timings are wall-clock on a possibly shared machine: expect ±20% noise.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from pgcourse.llm.evaluate import pooled_win_rate, results_table, results_table_ci
from pgcourse.llm.lab import QUICK, QUICK_TABLE, TABLE, LabConfig, run_lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="the shortened CI/grading pipeline")
    ap.add_argument("--four", action="store_true", help="without DPO, PPO and REBEL")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.four:
        cfg = QUICK if args.quick else LabConfig()
    else:
        cfg = QUICK_TABLE if args.quick else TABLE

    t0 = time.perf_counter()
    wins: dict[str, list[float]] = {}
    accs, probes, per_seed = [], {}, []
    evals: dict[str, list] = {}
    stage_seconds: dict[str, list[float]] = {}
    for seed in args.seeds:
        res = run_lab(cfg, seed=seed)
        print(f"\n=== seed {seed}: {sum(res.seconds.values()):.0f}s "
              f"({', '.join(f'{k} {v:.0f}s' for k, v in res.seconds.items())})")
        print(f"RM held-out accuracy {res.rm.accuracy:.3f}; probes "
              + ", ".join(f"{k} {v:.2f}" for k, v in res.rm.probes.items()))
        print(res.metrics_table)
        for name, w in res.win_rates.items():
            wins.setdefault(name, []).append(w)
        for name, v in res.seconds.items():
            stage_seconds.setdefault(name, []).append(v)
        for name, e in res.evals.items():
            evals.setdefault(name, []).append(e)
        accs.append(res.rm.accuracy)
        for k, v in res.rm.probes.items():
            probes.setdefault(k, []).append(v)
        per_seed.append(res.win_rates)
        if seed == args.seeds[0]:
            print("\nexamples (seed %d):\n%s" % (seed, res.examples))
    seconds = time.perf_counter() - t0

    print("\n" + results_table(wins))
    print("\n" + results_table_ci(evals))
    rl = [k for k in wins if k not in ("SFT",) and not k.startswith("gold")]
    above = all(w[k] > w["SFT"] for w in per_seed for k in rl)
    print(f"every RL method above SFT on every seed: {above}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {
        "seeds": len(args.seeds),
        "quick": args.quick,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "stage_seconds": {k: round(float(np.mean(v)), 1) for k, v in stage_seconds.items()},
        "win_rate": {k: round(float(np.mean(v)), 1) for k, v in wins.items()},
        "win_rate_per_seed": {k: [round(x, 1) for x in v] for k, v in wins.items()},
        "win_rate_ci95": {k: round(pooled_win_rate(v)[1], 1) for k, v in evals.items()},
        "rl_above_sft_every_seed": above,
        "rm_accuracy": round(float(np.mean(accs)), 3),
        "rm_probes": {k: round(float(np.mean(v)), 3) for k, v in probes.items()},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
