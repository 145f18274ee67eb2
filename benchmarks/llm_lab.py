"""Benchmark the LLM mini-lab (notebook 06): the full pipeline over 3 seeds on one CPU thread.

    .venv/bin/python benchmarks/llm_lab.py            # full budget, seeds 0 1 2
    .venv/bin/python benchmarks/llm_lab.py --quick    # the CI/grading budget

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

from pgcourse.llm.evaluate import results_table
from pgcourse.llm.lab import QUICK, LabConfig, run_lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="the shortened CI/grading pipeline")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = QUICK if args.quick else LabConfig()

    t0 = time.perf_counter()
    wins: dict[str, list[float]] = {}
    accs, probes, per_seed = [], {}, []
    for seed in args.seeds:
        res = run_lab(cfg, seed=seed)
        print(f"\n=== seed {seed}: {sum(res.seconds.values()):.0f}s "
              f"({', '.join(f'{k} {v:.0f}s' for k, v in res.seconds.items())})")
        print(f"RM held-out accuracy {res.rm.accuracy:.3f}; probes "
              + ", ".join(f"{k} {v:.2f}" for k, v in res.rm.probes.items()))
        print(res.metrics_table)
        for name, w in res.win_rates.items():
            wins.setdefault(name, []).append(w)
        accs.append(res.rm.accuracy)
        for k, v in res.rm.probes.items():
            probes.setdefault(k, []).append(v)
        per_seed.append(res.win_rates)
        if seed == args.seeds[0]:
            print("\nexamples (seed %d):\n%s" % (seed, res.examples))
    seconds = time.perf_counter() - t0

    print("\n" + results_table(wins))
    rl = [k for k in wins if k not in ("SFT",) and not k.startswith("gold")]
    above = all(w[k] > w["SFT"] for w in per_seed for k in rl)
    print(f"every RL method above SFT on every seed: {above}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {
        "seeds": len(args.seeds),
        "quick": args.quick,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "win_rate": {k: round(float(np.mean(v)), 1) for k, v in wins.items()},
        "win_rate_per_seed": {k: [round(x, 1) for x in v] for k, v in wins.items()},
        "rl_above_sft_every_seed": above,
        "rm_accuracy": round(float(np.mean(accs)), 3),
        "rm_probes": {k: round(float(np.mean(v)), 3) for k, v in probes.items()},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
