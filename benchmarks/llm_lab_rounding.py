"""Benchmark: does a correct student implementation that rounds differently change notebook 06's RL rows?

Seed 0 of the lab (the TABLE configuration without DPO, PPO, REBEL and the control: SFT, REINFORCE and
RLOO k=2 and k=4), once with the library's four RL functions, once with other correct functions that
compute the same numbers in another floating-point order (``ROUNDED_DIFFERENTLY``), and once with only
the sequence log-probability replaced. SFT and the reward model do not use these functions, so their
numbers agree; an RL row can move as soon as a reward differs in its last bit.

    .venv/bin/python benchmarks/llm_lab_rounding.py                  # ~4 min on one idle core per variant
    .venv/bin/python benchmarks/llm_lab_rounding.py --record benchmarks/results/llm_lab_rounding.json

The last line printed is one JSON object: win rates in percent per variant and method, and the machine.
Notebook 06 quotes the record (``tests/test_prose_numbers.py`` compares the two).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import torch

from pgcourse.llm.lab import TABLE, run_lab
from pgcourse.llm.rl import LMFunctions
from records import machine, write_record  # noqa: E402 (benchmarks/records.py)


def sequence_log_prob(logits, tokens, mask):
    """The picked logit minus logsumexp, selected by the mask: ln softmax, rounded another way."""
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)
    return torch.where(mask > 0, picked, 0.0).sum(1)


def kl_penalized_reward(scores, logp, ref_logp, beta):
    """score − β ln π + β ln π_ref, detached: the same reward, added up in another order."""
    return scores.detach() - beta * logp.detach() + beta * ref_logp.detach()


def rloo_advantages(rewards):
    """r_i k/(k−1) − Σ_j r_j/(k−1): the leave-one-out advantage, rearranged."""
    k = rewards.shape[1]
    if k < 2:
        raise ValueError(f"RLOO needs k >= 2 samples per prompt, got k={k}")
    return rewards * k / (k - 1) - rewards.sum(1, keepdim=True) / (k - 1)


def reinforce_lm_loss(seq_logp, advantages):
    """−Σ_i A_i ln π(y_i|x_i) / N instead of a mean."""
    return -(advantages.detach() * seq_logp).sum() / seq_logp.shape[0]


ROUNDED_DIFFERENTLY = LMFunctions(sequence_log_prob, kl_penalized_reward, rloo_advantages, reinforce_lm_loss)
VARIANTS = {"library": None, "all_four_rounded_differently": ROUNDED_DIFFERENTLY,
            "sequence_log_prob_only": LMFunctions(sequence_log_prob=sequence_log_prob)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--record", metavar="PATH", help="also write the JSON object to PATH")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = replace(TABLE, extra_methods=(), gold_control=False)
    out = {}
    for name, fns in VARIANTS.items():
        out[name] = {k: round(v, 1) for k, v in run_lab(cfg, seed=args.seed, student_fns=fns).win_rates.items()}
        print(name, out[name], flush=True)
    summary = {"seed": args.seed, "win_rate": out,
               "machine": machine()}
    print(json.dumps(summary))
    if args.record:
        write_record(args.record, summary)


if __name__ == "__main__":
    main()
