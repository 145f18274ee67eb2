"""Reward over-optimization: train RLOO far past the table's budget and watch proxy vs gold.

The reward model r_φ is a proxy for the gold judge g, fitted on a finite set of preference pairs.
Optimising r_φ harder moves the policy away from SFT (larger KL(π_θ ‖ π_SFT)), onto summaries
the reward model never saw: the proxy score keeps rising while the gold score peaks and falls
(Goodhart's law). The KL penalty β·KL in the reward is the leash: at β = 0 nothing stops the
drift; at larger β the policy stops where the proxy's gain no longer pays for the KL.

    runs = run_overoptimization(setup.sft, setup.rm, setup.posts, seed=0)   # ~1 minute
    plot_overoptimization(runs); print(format_exploits(runs, setup.posts))

References: Gao et al. 2022 (Scaling laws for reward model overoptimization); Stiennon et al.
2020 and Jaques et al. 2019 (the KL penalty); Ahmadian et al. 2024 (RLOO).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import Post, decode_responses, encode_prompts, format_post, format_summary
from .judge import gold_scores, summary_stats
from .model import generate
from .rl import RLConfig, RLHistory, train_rl


@dataclass(frozen=True)
class OverOptConfig:
    betas: tuple[float, ...] = (0.0, 0.03, 0.1)  # KL coefficients β to compare (0 = no leash)
    steps: int = 400  # RLOO updates per β (the table uses 120)
    samples_per_step: int = 32  # responses per update
    k: int = 2  # samples per prompt (RLOO k)
    lr: float = 1e-3  # AdamW learning rate (larger than the table's 3e-4: go far, fast)
    n_probe: int = 200  # posts summarised (greedy) at the end to find exploits


# seconds, for tests and grading: the same code path with a tiny budget
OVEROPT_QUICK = OverOptConfig(betas=(0.0, 0.1), steps=6, samples_per_step=8, n_probe=16)


@dataclass
class OverOptRun:
    """One β: the training history and the final policy's greedy summaries of probe posts."""

    beta: float  # KL coefficient
    history: RLHistory  # per step: RM (proxy) score, gold score, KL to SFT, repeats
    summaries: list[tuple[int, ...]] = field(default_factory=list)  # greedy, one per probe post
    rm: np.ndarray = field(default_factory=lambda: np.zeros(0))  # their RM scores
    gold: np.ndarray = field(default_factory=lambda: np.zeros(0))  # their gold scores


def run_overoptimization(sft, rm, posts: list[Post], seed: int = 0,
                         cfg: OverOptConfig = OverOptConfig()) -> list[OverOptRun]:
    """RLOO from `sft` against the reward model `rm` at each β of cfg.betas; the first
    cfg.n_probe posts are summarised greedily at the end (see `format_exploits`)."""
    runs = []
    probe = posts[: cfg.n_probe]
    prompts = encode_prompts(probe)
    for beta in cfg.betas:
        rl_cfg = RLConfig(steps=cfg.steps, samples_per_step=cfg.samples_per_step, k=cfg.k,
                          beta=beta, lr=cfg.lr)
        policy, hist = train_rl(sft, rm, posts, seed, rl_cfg)
        with torch.no_grad():
            y = generate(policy, prompts, 8, greedy=True)
            rm_score = rm(prompts, y).double().numpy()
        summaries = decode_responses(y)
        runs.append(OverOptRun(beta, hist, summaries, rm_score, gold_scores(probe, summaries)))
    return runs


def _smooth(x, w: int) -> np.ndarray:
    x = np.asarray(x, float)
    if w <= 1 or x.size < w:
        return x
    return np.convolve(x, np.ones(w) / w, mode="valid")


def proxy_gold_at_kl(run: OverOptRun, kls: tuple[float, ...] = (0.5, 1, 2, 4, 8),
                     smooth: int = 20) -> list[tuple[float, float, float]]:
    """(KL, proxy, gold) read off the smoothed curves at the first step where KL ≥ each value
    (values never reached are skipped): the numbers behind the plot."""
    kl, rm, gold = (_smooth(s, smooth) for s in (run.history.kl, run.history.rm_score,
                                                 run.history.gold_score))
    out = []
    for target in kls:
        hit = np.nonzero(kl >= target)[0]
        if hit.size:
            i = int(hit[0])
            out.append((float(kl[i]), float(rm[i]), float(gold[i])))
    return out


def plot_overoptimization(runs: list[OverOptRun], smooth: int = 20):
    """Proxy (RM) and gold score against KL(π_θ ‖ π_SFT), one colour per β (moving averages of
    `smooth` steps), and the KL over training. Solid: proxy; dashed: gold."""
    fig, (ax, ax_kl) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    for i, run in enumerate(runs):
        h, c = run.history, f"C{i}"
        kl = _smooth(h.kl, smooth)
        ax.plot(kl, _smooth(h.rm_score, smooth), c, label=f"proxy (RM), β={run.beta:g}")
        ax.plot(kl, _smooth(h.gold_score, smooth), c, ls="--", label=f"gold, β={run.beta:g}")
        x = np.asarray(h.samples)[len(h.samples) - len(kl):]
        ax_kl.plot(x, kl, c, label=f"β={run.beta:g}")
    ax.set_xlabel("KL(π_θ ‖ π_SFT)  (nats, on the policy's samples)")
    ax.set_ylabel("score (a reference summary scores ≈ 0 on the RM)")
    ax.set_title("over-optimization: the proxy rises, the gold score peaks and falls")
    ax_kl.set_xlabel("samples")
    ax_kl.set_ylabel("KL (nats)")
    ax_kl.set_title("KL from SFT during training")
    for a in (ax, ax_kl):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def format_exploits(runs: list[OverOptRun], posts: list[Post], n: int = 3) -> str:
    """For the least-penalised run (smallest β): the greedy summaries the RM overrates most
    (largest RM − gold), with both scores and what the gold judge counted."""
    run = min(runs, key=lambda r: r.beta)
    if not run.summaries:
        return "(no probe summaries)"
    gap = run.rm - run.gold
    blocks = [f"β={run.beta:g}: mean RM {run.rm.mean():+.2f}, mean gold {run.gold.mean():+.2f} "
              f"on {len(run.summaries)} posts; the {n} summaries the RM overrates most:"]
    for i in np.argsort(-gap)[:n]:
        s = summary_stats(posts[i], run.summaries[i])
        blocks.append(f"{format_post(posts[i])}\n  RM {run.rm[i]:+.2f}  gold {run.gold[i]:+.1f}  "
                      f"(facts {s.facts}, filler {s.filler}, hallucinated {s.hallucinations}, "
                      f"repeats {s.repeats}, ended {s.ended})\n  {format_summary(run.summaries[i])}")
    return "\n\n".join(blocks)
