"""Reward over-optimization: train RLOO far past the table's budget and watch proxy vs gold.

The reward model r_φ is a proxy for the gold judge g, fitted on a finite set of preference pairs.
Optimising r_φ harder moves the policy away from SFT (larger KL(π_θ ‖ π_SFT)), onto summaries
the reward model never saw: the proxy score keeps rising while the gold score peaks and falls
(Goodhart's law). The KL penalty β·KL in the reward is the leash: at β = 0 nothing stops the
drift; at larger β the policy stops where the proxy's gain no longer pays for the KL.

    runs = run_overoptimization(setup.sft, setup.rm, setup.train, seed=0)   # ~1 minute
    curves = [kl_binned(r) for r in runs]            # the numbers the figure draws
    plots.plot_overoptimization(runs, curves); print(format_exploits(runs, setup.posts))

References: Gao et al. 2022 (Scaling laws for reward model overoptimization); Stiennon et al.
2020 and Jaques et al. 2019 (the KL penalty); Ahmadian et al. 2024 (RLOO).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .data import Post, PromptSet, decode_responses, format_post, format_summary
from .judge import gold_scores, summary_stats
from .model import LMPolicy, generate
from .rl import RLConfig, RLHistory, train_rl
from .rollout import RewardFn


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


def run_overoptimization(sft: LMPolicy, rm: RewardFn, data: PromptSet, seed: int = 0,
                         cfg: OverOptConfig = OverOptConfig(), progress: bool = False
                         ) -> list[OverOptRun]:
    """RLOO from `sft` against the reward model `rm` at each β of cfg.betas; the first
    cfg.n_probe posts of `data` are summarised greedily at the end (see `format_exploits`).
    progress: one progress bar per β."""
    runs = []
    probe, prompts = data.posts[: cfg.n_probe], data.prompts[: cfg.n_probe]
    for beta in cfg.betas:
        rl_cfg = RLConfig(steps=cfg.steps, samples_per_step=cfg.samples_per_step, k=cfg.k,
                          beta=beta, lr=cfg.lr)
        policy, hist = train_rl(sft, rm, data, seed, rl_cfg,
                                progress=f"RLOO k={cfg.k}, β={beta:g}" if progress else None)
        with torch.no_grad():
            y = generate(policy, prompts, data.max_summary, greedy=True)
            rm_score = rm(prompts, y).double().numpy()
        summaries = decode_responses(y)
        runs.append(OverOptRun(beta, hist, summaries, rm_score, gold_scores(probe, summaries)))
    return runs


@dataclass(frozen=True)
class KLCurve:
    """One run's per-step proxy and gold scores averaged over bins of KL(π_θ ‖ π_SFT): a function
    of KL even where the KL of training is not monotone (what the figure draws and the text quotes)."""

    beta: float  # the run's KL coefficient
    kl: np.ndarray  # (n_bins,) mean KL of the steps in each bin (nats)
    proxy: np.ndarray  # (n_bins,) their mean RM score
    gold: np.ndarray  # (n_bins,) their mean gold score
    steps: np.ndarray  # (n_bins,) how many steps fell in each bin

    @property
    def peak(self) -> int:
        """Index of the bin with the highest mean gold score."""
        return int(np.argmax(self.gold))


def kl_binned(run: OverOptRun, width: float = 1.0, min_steps: int = 5) -> KLCurve:
    """Average the run's per-step (KL, RM, gold) over KL bins [0, w), [w, 2w), ...; bins with
    fewer than `min_steps` steps are dropped (too noisy to read a mean from)."""
    if width <= 0:
        raise ValueError(f"bin width must be > 0, got {width}")
    h = run.history
    kl, rm, gold = (np.asarray(x, float) for x in (h.kl, h.rm_score, h.gold_score))
    which = np.floor(np.clip(kl, 0.0, None) / width).astype(int)
    rows = []
    for b in np.unique(which):
        sel = which == b
        if sel.sum() >= min_steps:
            rows.append((kl[sel].mean(), rm[sel].mean(), gold[sel].mean(), sel.sum()))
    cols = np.array(rows, float).reshape(-1, 4).T
    return KLCurve(run.beta, cols[0], cols[1], cols[2], cols[3].astype(int))


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
