"""The one rollout of REINFORCE, RLOO, PPO and REBEL: sample, score, penalise the KL, log the batch.

For prompts x_i (rows `pidx` of a PromptSet) and y_i ~ π_old(· | x_i) (π_old = the policy now):
    s_i = r_φ(x_i, y_i), or −1 (`no_end_score`) when y_i has no <end>   (reward="rm")
    s_i = g(x_i, y_i), the hidden gold judge                           (reward="gold", a control)
    r_i = s_i − β [ln π_old(y_i | x_i) − ln π_ref(y_i | x_i)]          (kl_penalized_reward)
with ln π(y | x) from `sequence_log_prob` (the student's, in notebook 06). `rollout` returns one
`Rollout`; `record` appends its batch means to an `RLHistory`. This module imports nothing from the
methods that use it (rl, ppo, rebel): the pieces arrive as an `RLPieces`.

References: Stiennon et al. 2020 and Jaques et al. 2019 (KL penalty to the SFT policy); Huang et al.
2024 (−1 without an end token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import torch

if TYPE_CHECKING:
    from tqdm import tqdm

from .data import EOS, PromptSet, decode_responses, response_mask
from .judge import gold_scores, summary_stats
from .model import LMPolicy, generate, picked_log_probs, response_logits

RewardFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (B, Tp), (B, R) -> (B,) scores


class RLPieces(Protocol):
    """The two pieces a rollout needs (`rl.LMFunctions` has them: the student's or the references)."""

    sequence_log_prob: Callable  # logits (B,R,V), tokens (B,R), mask (B,R) -> (B,) ln π(y|x)
    kl_penalized_reward: Callable  # scores, logp, ref_logp (N,), β -> (N,) constant rewards


@dataclass
class RLHistory:
    """Per-step means over the step's samples (every RL method logs the same fields)."""

    rm_score: list[float] = field(default_factory=list)  # RM score (before KL)
    gold_score: list[float] = field(default_factory=list)  # hidden gold score
    kl: list[float] = field(default_factory=list)  # Σ_t ln π_θ − ln π_ref (a KL estimate)
    reward: list[float] = field(default_factory=list)  # KL-penalised reward
    repeats: list[float] = field(default_factory=list)  # repeated tokens per summary
    samples: list[int] = field(default_factory=list)  # cumulative number of samples
    seconds: float = 0.0  # wall-clock time


@dataclass
class Rollout:
    """One batch of N sampled responses with everything the updates need."""

    prompts: torch.Tensor  # (N, Tp)
    responses: torch.Tensor  # (N, R)
    mask: torch.Tensor  # (N, R) 1 up to and including the first <end>
    logp: torch.Tensor  # (N,) ln π_old(y | x) by sequence_log_prob; with the graph when grad=True
    old_token_logp: torch.Tensor  # (N, R) ln π_old(y_t | ·), 0 outside the mask, constant
    ref_logp: torch.Tensor  # (N,) ln π_ref(y | x)
    rm_score: torch.Tensor  # (N,) reward-model score (before the no-end rule and the KL)
    gold: torch.Tensor  # (N,) hidden gold score
    rewards: torch.Tensor  # (N,) KL-penalised reward, constant
    repeats: float  # repeated tokens per summary


def rollout(policy: LMPolicy, ref: LMPolicy, rm: RewardFn, data: PromptSet, pidx: torch.Tensor,
            beta: float, temperature: float, no_end_score: float, g: torch.Generator,
            fns: RLPieces, reward: str = "rm", grad: bool = False) -> Rollout:
    """Sample one response per row of `pidx` (indices into `data`), score it, penalise the KL.

    grad=True keeps the graph of `logp` (REINFORCE/RLOO differentiate it at once); PPO and REBEL
    re-evaluate the policy after their first update and take everything as constants.
    """
    if reward not in ("rm", "gold"):
        raise ValueError(f"reward must be 'rm' or 'gold', got {reward!r}")
    prompts = data.prompts[pidx]
    y = generate(policy, prompts, data.max_summary, temperature, generator=g)  # (N, R)
    mask = response_mask(y)
    with torch.enable_grad() if grad else torch.no_grad():
        logits = response_logits(policy, prompts, y)  # (N, R, V)
        logp = fns.sequence_log_prob(logits, y, mask)  # (N,)
    with torch.no_grad():
        old_token_logp = picked_log_probs(logits.detach(), y, mask)
        ref_logp = fns.sequence_log_prob(response_logits(ref, prompts, y), y, mask)
        rm_score = rm(prompts, y)
    summaries = decode_responses(y)
    batch_posts = [data.posts[i] for i in pidx.tolist()]
    gold = torch.tensor(gold_scores(batch_posts, summaries), dtype=torch.float32)
    if reward == "rm":
        ended = (y == EOS).any(dim=1)
        scores = torch.where(ended, rm_score, torch.full_like(rm_score, no_end_score))
    else:
        scores = gold.clone()
    rewards = fns.kl_penalized_reward(scores, logp, ref_logp, beta)  # (N,)
    repeats = float(np.mean([summary_stats(p, s).repeats for p, s in zip(batch_posts, summaries)]))
    return Rollout(prompts, y, mask, logp, old_token_logp, ref_logp, rm_score, gold, rewards,
                   repeats)


def record(hist: RLHistory, ro: Rollout, samples: int, bar: "tqdm | None" = None) -> None:
    """Append the batch means of one rollout to an RLHistory; advance `bar` (a progress bar) by one
    step, showing the batch's gold score."""
    hist.rm_score.append(ro.rm_score.mean().item())
    hist.gold_score.append(ro.gold.mean().item())
    hist.kl.append((ro.logp.detach() - ro.ref_logp).mean().item())
    hist.reward.append(ro.rewards.mean().item())
    hist.repeats.append(ro.repeats)
    hist.samples.append(samples)
    if bar is not None:
        bar.update()
        bar.set_postfix_str(f"gold {hist.gold_score[-1]:+.2f}", refresh=False)
