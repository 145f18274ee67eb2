"""REINFORCE and RLOO on the summarizer, against the learned reward model (or the gold judge).

The whole response y is one action, so REINFORCE on a language model is the lecture's estimator
with H = 1 and ln π_θ(y | x) = Σ_t ln π_θ(y_t | x, y_<t):
    ∇J(θ) ≈ (1/N) Σ_i A_i ∇_θ ln π_θ(y_i | x_i),
    r_i = RM(x_i, y_i) − β Σ_t [ln π_θ(y_i,t | ·) − ln π_ref(y_i,t | ·)]   (KL to SFT, no gradient)
          and r_i = −1 when y_i has no <end>;
    REINFORCE: A_i = r_i − b, b a moving average of past rewards;
    RLOO(k):   A_i = r_i − (1/(k−1)) Σ_{j≠i} r_j over the k samples of the same prompt.
The four functions the student writes in notebook 06 are arguments (`LMFunctions`); the versions
here are the references. Sampling and scoring are `rollout.rollout`, shared with PPO and REBEL.

References: Williams 1992; Kool et al. 2019 and Ahmadian et al. 2024 (RLOO); Huang et al. 2024;
Stiennon et al. 2020 and Jaques et al. 2019 (KL penalty to the SFT policy).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import torch

from .data import Post, PromptSet, as_prompt_set
from .model import LMPolicy, picked_log_probs
from .optim import optimizer_step
from pgcourse.notebook.progress import progress_bar
from .rollout import RewardFn, RLHistory, record, rollout


# ----------------------------------------------------------------------------- reference pieces
def sequence_log_prob(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor
                      ) -> torch.Tensor:
    """ln π(y | x) = Σ_t mask_t · ln softmax(logits_t)[y_t].

    logits (B, T, V) predict tokens (B, T); mask (B, T) is 1 on response positions. Returns (B,).
    """
    if logits.dim() != 3 or logits.shape[:2] != tokens.shape or tokens.shape != mask.shape:
        raise ValueError(f"need logits (B,T,V), tokens (B,T), mask (B,T); got "
                         f"{tuple(logits.shape)}, {tuple(tokens.shape)}, {tuple(mask.shape)}")
    return picked_log_probs(logits, tokens, mask).sum(dim=1)


def kl_penalized_reward(scores: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor,
                        beta: float) -> torch.Tensor:
    """r = score − β (ln π_θ(y|x) − ln π_ref(y|x)), all (N,); a constant: no gradient flows."""
    if not scores.shape == logp.shape == ref_logp.shape:
        raise ValueError(f"shapes differ: {tuple(scores.shape)}, {tuple(logp.shape)}, "
                         f"{tuple(ref_logp.shape)}")
    return (scores - beta * (logp - ref_logp)).detach()


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """A_i = r_i − (Σ_j r_j − r_i)/(k − 1): rewards (P, k) for k samples of each of P prompts."""
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be (P, k), got shape {tuple(rewards.shape)}")
    k = rewards.shape[1]
    if k < 2:
        raise ValueError(f"RLOO needs k >= 2 samples per prompt, got k={k}")
    baseline = (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)
    return rewards - baseline


def reinforce_lm_loss(seq_logp: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """Surrogate −mean_i(A_i · ln π_θ(y_i|x_i)), A constant. Its gradient is the estimator; its
    value means nothing as a progress signal (watch the rewards instead)."""
    if seq_logp.shape != advantages.shape:
        raise ValueError(f"shapes differ: {tuple(seq_logp.shape)} vs {tuple(advantages.shape)}")
    return -(advantages.detach() * seq_logp).mean()


@dataclass(frozen=True)
class LMFunctions:
    """The four pluggable pieces (the student's, or these references); a `rollout.RLPieces`."""

    sequence_log_prob: Callable = sequence_log_prob  # (B,T,V), (B,T), (B,T) -> (B,)
    kl_penalized_reward: Callable = kl_penalized_reward  # (N,)×3, β -> (N,) no grad
    rloo_advantages: Callable = rloo_advantages  # (P, k) -> (P, k)
    reinforce_lm_loss: Callable = reinforce_lm_loss  # (N,), (N,) -> scalar


# ----------------------------------------------------------------------------- the loop
@dataclass(frozen=True)
class RLConfig:
    """The RL recipe shared by REINFORCE, RLOO, PPO and REBEL (`train_rl`, `ppo.train_ppo`,
    `rebel.train_rebel`): steps × samples_per_step responses, the KL coefficient β of
    r = RM − β (ln π_θ − ln π_ref), the sampling temperature and the gradient clip. k picks the
    estimator of `train_rl` (1: REINFORCE with a moving-average baseline; ≥ 2: RLOO(k)); PPO and
    REBEL use their own lr (and ignore k). Vary it with `dataclasses.replace`."""

    steps: int = 120  # policy updates
    samples_per_step: int = 64  # N responses per update, for every method
    k: int = 1  # samples per prompt; 1 = REINFORCE with a moving-average baseline, ≥ 2 = RLOO
    beta: float = 0.1  # KL coefficient β
    lr: float = 3e-4  # AdamW learning rate
    grad_clip: float = 1.0  # max gradient norm
    temperature: float = 1.0  # sampling temperature for rollouts
    baseline_alpha: float = 0.1  # REINFORCE: b ← (1 − α) b + α mean(r)
    no_end_score: float = -1.0  # score of a response without <end> (replaces the RM score)
    reward: str = "rm"  # "rm": learned reward model; "gold": the hidden judge (control run)


def train_rl(sft: LMPolicy, rm: RewardFn, data: PromptSet | list[Post], seed: int,
             cfg: RLConfig = RLConfig(), fns: LMFunctions = LMFunctions(),
             progress: str | None = None) -> tuple[LMPolicy, RLHistory]:
    """Fine-tune a copy of `sft` with REINFORCE (k=1) or RLOO (k≥2); π_ref = the frozen SFT.

    data: the RL prompts (a PromptSet; a plain list of posts is encoded with the default
    DataConfig). progress: a label for a progress bar, or None for none.
    """
    if cfg.samples_per_step % cfg.k:
        raise ValueError(f"samples_per_step={cfg.samples_per_step} not divisible by k={cfg.k}")
    if cfg.reward not in ("rm", "gold"):
        raise ValueError(f"reward must be 'rm' or 'gold', got {cfg.reward!r}")
    data = as_prompt_set(data)
    t0 = time.perf_counter()
    policy, ref = copy.deepcopy(sft), sft
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    P = cfg.samples_per_step // cfg.k
    baseline = 0.0  # REINFORCE's moving average; rewards start near 0 (a reference scores 0)
    hist = RLHistory()
    with progress_bar(cfg.steps, progress) as bar:
        for step in range(cfg.steps):
            pidx = torch.randint(len(data), (P,), generator=g).repeat_interleave(cfg.k)  # (N,)
            ro = rollout(policy, ref, rm, data, pidx, cfg.beta, cfg.temperature, cfg.no_end_score,
                         g, fns, reward=cfg.reward, grad=True)
            if cfg.k == 1:
                adv = ro.rewards - baseline
                alpha = cfg.baseline_alpha
                baseline = (1 - alpha) * baseline + alpha * ro.rewards.mean().item()
            else:
                adv = fns.rloo_advantages(ro.rewards.view(P, cfg.k)).reshape(-1)
            optimizer_step(opt, fns.reinforce_lm_loss(ro.logp, adv), policy, cfg.grad_clip)
            record(hist, ro, (step + 1) * cfg.samples_per_step, bar)
    hist.seconds = time.perf_counter() - t0
    return policy, hist
