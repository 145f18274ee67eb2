"""The rollout shared by PPO and REBEL: sample, score with the RM, penalise the KL, log the batch.

`rollout` draws one response per prompt index from π_old (the policy now), with the per-token
ln π_old, ln π_ref and the KL-penalised reward (through the student's `sequence_log_prob` and
`kl_penalized_reward` when given); `record` appends the batch means to an `RLHistory` (the same
fields as REINFORCE / RLOO); `token_log_probs_of` gives per-token log-probs under a mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .data import EOS, DataConfig, Post, decode_responses, response_mask
from .judge import gold_scores, summary_stats
from .model import generate, response_logits
from .rl import LMFunctions, RLHistory


@dataclass
class Rollout:
    """One batch of N sampled responses with everything the updates need (all constants)."""

    prompts: torch.Tensor  # (N, Tp)
    responses: torch.Tensor  # (N, R)
    mask: torch.Tensor  # (N, R) 1 up to and including the first <end>
    old_token_logp: torch.Tensor  # (N, R) ln π_old(y_t | ·), 0 outside the mask
    ref_logp: torch.Tensor  # (N,) ln π_ref(y | x)
    rm_score: torch.Tensor  # (N,) reward-model score (before the no-end rule and the KL)
    gold: torch.Tensor  # (N,) hidden gold score, for the history only
    rewards: torch.Tensor  # (N,) KL-penalised reward
    repeats: float  # repeated tokens per summary


def token_log_probs_of(model, prompts: torch.Tensor, responses: torch.Tensor,
                       mask: torch.Tensor) -> torch.Tensor:
    """ln π(y_t | x, y_<t) for any model with the lab's interface: (B,Tp),(B,R),(B,R) -> (B,R)."""
    logp = F.log_softmax(response_logits(model, prompts, responses), dim=-1)
    picked = logp.gather(-1, responses.unsqueeze(-1)).squeeze(-1)  # (B, R)
    return torch.where(mask > 0, picked, torch.zeros_like(picked))


@torch.no_grad()
def rollout(policy, ref, rm, posts: list[Post], prompts_all: torch.Tensor, pidx: torch.Tensor,
            beta: float, temperature: float, no_end_score: float, g: torch.Generator,
            fns: LMFunctions = LMFunctions()) -> Rollout:
    """Sample one response per row of `pidx` (indices into posts), score it, penalise the KL."""
    prompts = prompts_all[pidx]
    y = generate(policy, prompts, DataConfig().max_summary, temperature, generator=g)  # (N, R)
    mask = response_mask(y)
    old = token_log_probs_of(policy, prompts, y, mask)
    ref_logp = fns.sequence_log_prob(response_logits(ref, prompts, y), y, mask)  # (N,)
    rm_score = rm(prompts, y)
    summaries = decode_responses(y)
    batch_posts = [posts[i] for i in pidx.tolist()]
    gold = torch.tensor(gold_scores(batch_posts, summaries), dtype=torch.float32)
    scores = torch.where((y == EOS).any(dim=1), rm_score, torch.full_like(rm_score, no_end_score))
    rewards = fns.kl_penalized_reward(scores, old.sum(dim=1), ref_logp, beta)
    repeats = float(np.mean([summary_stats(p, s).repeats for p, s in zip(batch_posts, summaries)]))
    return Rollout(prompts, y, mask, old, ref_logp, rm_score, gold, rewards, repeats)


def record(hist: RLHistory, ro: Rollout, samples: int) -> None:
    """Append the batch means of one rollout to an RLHistory (same fields as REINFORCE / RLOO)."""
    hist.rm_score.append(ro.rm_score.mean().item())
    hist.gold_score.append(ro.gold.mean().item())
    hist.kl.append((ro.old_token_logp.sum(dim=1) - ro.ref_logp).mean().item())
    hist.reward.append(ro.rewards.mean().item())
    hist.repeats.append(ro.repeats)
    hist.samples.append(samples)
