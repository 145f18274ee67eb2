"""Evaluation: greedy summaries of held-out posts judged against the references, and the tables.

Win rate = mean over posts of 1[g(y) > g(y_ref)] + ½·1[g(y) = g(y_ref)], y the greedy summary,
g the hidden gold judge (the stand-in for the GPT-4 judge of the lecture's table).

References: Stiennon et al. 2020; Gao et al. 2024 (REBEL, the lecture's table);
Ahmadian et al. 2024; Huang et al. 2024.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import Post, PromptSet, decode_responses, format_post, format_summary
from .judge import WinRate, gold_score, gold_scores, summary_stats, win_rate
from .model import LMPolicy, generate, token_log_probs
from .reward_model import RewardModel, score

# The lecture's table (6.9B model, TL;DR, GPT-4 judge; REBEL paper, Gao et al. 2024).
LECTURE_WIN_RATES: dict[str, float] = {
    "SFT": 45.2, "DPO": 68.4, "REINFORCE": 70.7, "PPO": 77.6,
    "RLOO k=2": 74.2, "RLOO k=4": 77.9, "REBEL": 78.1,
}


@dataclass(frozen=True)
class EvalResult:
    """One policy on the held-out posts (all means are per summary)."""

    win: WinRate  # vs the references, tie = ½, 95% interval
    gold: float  # mean gold score
    facts_covered: float  # fraction of the post's key facts mentioned
    length: float  # tokens before <end>
    repeats: float  # repeated tokens
    hallucinations: float  # distinct tokens not in the post
    no_end: float  # fraction without <end>
    kl: float  # KL(π_θ ‖ π_SFT) estimated on temperature-1 samples
    rm_score: float  # mean RM score of the greedy summaries (a reference scores ≈ 0)
    summaries: list[tuple[int, ...]]  # the greedy summaries, in post order


@torch.no_grad()
def sampled_kl(policy: LMPolicy, ref: LMPolicy, prompts: torch.Tensor, max_summary: int,
               seed: int) -> float:
    """KL(π‖π_ref) ≈ mean over samples y ~ π (at most max_summary tokens) of
    Σ_t ln π(y_t|·) − ln π_ref(y_t|·)."""
    g = torch.Generator().manual_seed(seed)
    y = generate(policy, prompts, max_summary, 1.0, generator=g)
    return float((token_log_probs(policy, prompts, y) - token_log_probs(ref, prompts, y))
                 .sum(dim=1).mean())


@torch.no_grad()
def evaluate_policy(policy: LMPolicy, sft: LMPolicy, rm: RewardModel | None, test: PromptSet,
                    refs: list[tuple[int, ...]], seed: int = 0, n_kl: int = 256) -> EvalResult:
    """Greedy-decode every post of `test`, judge against its reference, collect the diagnostics."""
    posts, prompts = test.posts, test.prompts
    if len(posts) != len(refs) or not posts:
        raise ValueError(f"need as many references as posts (>0), got {len(posts)}, {len(refs)}")
    summaries = decode_responses(generate(policy, prompts, test.max_summary, greedy=True))
    g_pol, g_ref = gold_scores(posts, summaries), gold_scores(posts, refs)
    stats = [summary_stats(p, s) for p, s in zip(posts, summaries)]
    return EvalResult(
        win=win_rate(g_pol, g_ref),
        gold=float(g_pol.mean()),
        facts_covered=float(np.mean([s.facts / len(p.facts) for s, p in zip(stats, posts)])),
        length=float(np.mean([s.length for s in stats])),
        repeats=float(np.mean([s.repeats for s in stats])),
        hallucinations=float(np.mean([s.hallucinations for s in stats])),
        no_end=float(np.mean([not s.ended for s in stats])),
        kl=sampled_kl(policy, sft, prompts[:n_kl], test.max_summary, seed),
        rm_score=(float(score(rm, posts, summaries, test.cfg).mean()) if rm is not None
                  else float("nan")),
        summaries=summaries,
    )


def results_table(win_rates: dict[str, list[float]]) -> str:
    """Method × win rate: ours (mean ± spread over seeds) beside the lecture's 6.9B numbers.

    win_rates maps a method to its per-seed win rates in percent.
    """
    lines = [f"{'method':<12} {'ours (toy, CPU)':>22} {'lecture (6.9B)':>15}", "-" * 51]
    for name in dict.fromkeys(list(LECTURE_WIN_RATES) + list(win_rates)):
        if name in win_rates and win_rates[name]:
            v = np.asarray(win_rates[name], float)
            ours = f"{v.mean():5.1f}" + (f" (min {v.min():.1f}, n={v.size})" if v.size > 1 else "")
        else:
            ours = "—"
        lec = LECTURE_WIN_RATES.get(name)
        lines.append(f"{name:<12} {ours:>22} {('%.1f' % lec) if lec else '—':>15}")
    return "\n".join(lines)


def pooled_win_rate(results: list) -> tuple[float, float]:
    """Mean win rate over seeds and its 95% half-width from the judged posts: each seed's test set
    is an independent sample, so the half-width is sqrt(Σ_s ci_s²) / S. It covers the judging
    noise, not the seed-to-seed spread of training (show the seeds' min-max beside it).

    results: EvalResult or WinRate per seed. Returns (rate, ci95) in percent.
    """
    wins = [r.win if isinstance(r, EvalResult) else r for r in results]
    if not wins:
        raise ValueError("need at least one result")
    rate = float(np.mean([w.rate for w in wins]))
    return rate, float(np.sqrt(np.sum([w.ci95 ** 2 for w in wins])) / len(wins))


def results_table_ci(results: dict[str, list]) -> str:
    """The lecture's seven rows: ours (mean over seeds ± 95% interval, seeds' range) beside the
    6.9B numbers. results maps a method to its per-seed EvalResult (or WinRate); rows in the
    lecture's order, then any other method (e.g. the gold-reward control)."""
    head = f"{'method':<14}{'ours (toy, CPU)':>17}{'seeds min-max':>16}{'lecture (6.9B)':>16}"
    lines = [head, "-" * len(head)]
    for name in dict.fromkeys(list(LECTURE_WIN_RATES) + list(results)):
        if results.get(name):
            rate, ci = pooled_win_rate(results[name])
            seeds = [r.win.rate if isinstance(r, EvalResult) else r.rate for r in results[name]]
            ours, spread = f"{rate:5.1f} ± {ci:.1f}", f"{min(seeds):.1f}-{max(seeds):.1f}"
        else:
            ours, spread = "—", ""
        lec = LECTURE_WIN_RATES.get(name)
        lines.append(f"{name:<14}{ours:>17}{spread:>16}{('%.1f' % lec) if lec else '—':>16}")
    return "\n".join(lines)


def metrics_table(results: dict[str, EvalResult]) -> str:
    """One row per method: win rate with interval, gold, facts, length, repeats, hallucinations, KL, RM."""
    head = (f"{'method':<14}{'win %':>14}{'gold':>7}{'facts':>7}{'len':>6}{'rep':>6}{'hall':>6}"
            f"{'KL':>6}{'RM':>7}")
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        rows.append(f"{name:<14}{str(r.win):>14}{r.gold:7.2f}{r.facts_covered:7.2f}{r.length:6.2f}"
                    f"{r.repeats:6.2f}{r.hallucinations:6.2f}{r.kl:6.2f}{r.rm_score:7.2f}")
    return "\n".join(rows)


def format_examples(posts: list[Post], refs: list[tuple[int, ...]],
                    summaries: dict[str, list[tuple[int, ...]]], idx: list[int]) -> str:
    """The same posts with the reference and each method's summary, for before/after reading."""
    blocks = []
    for i in idx:
        lines = [format_post(posts[i]),
                 f"  {'reference':<10} [{gold_score(posts[i], refs[i]):+.1f}] {format_summary(refs[i])}"]
        for name, s in summaries.items():
            lines.append(f"  {name:<10} [{gold_score(posts[i], s[i]):+.1f}] {format_summary(s[i])}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
