"""DPO: fit the policy directly to the preference pairs the reward model was trained on.

With π_ref = the frozen SFT policy and a pair y_w ≻ y_l for post x,
    L(θ) = − mean ln σ(β [(ln π_θ(y_w|x) − ln π_ref(y_w|x)) − (ln π_θ(y_l|x) − ln π_ref(y_l|x))]),
the Bradley-Terry loss of the implicit reward β ln π_θ/π_ref: no reward model, no sampling.
Offline: the pairs are the same PairSet as the reward model's (SFT samples, perturbed references
and minimal pairs), so DPO never sees what its own policy would write. A summary without <end> is
scored on its written tokens only (padding is not a token the policy chose).

References: Rafailov et al. 2023 (DPO); Bradley & Terry 1952; Gao et al. 2024 (the lecture's table).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .data import PAD, DataConfig, encode_prompts, encode_responses, response_mask
from .model import LMPolicy, token_log_probs
from .optim import optimizer_step
from .preferences import PairSet
from pgcourse.notebook.progress import progress_bar


def dpo_loss(logp_w: torch.Tensor, logp_l: torch.Tensor, ref_logp_w: torch.Tensor,
             ref_logp_l: torch.Tensor, beta: float) -> torch.Tensor:
    """−mean ln σ(β[(ln π_θ(y_w) − ln π_ref(y_w)) − (ln π_θ(y_l) − ln π_ref(y_l))]), all (B,)."""
    if not logp_w.shape == logp_l.shape == ref_logp_w.shape == ref_logp_l.shape:
        raise ValueError("dpo_loss needs four tensors of the same shape (B,)")
    margin = (logp_w - ref_logp_w.detach()) - (logp_l - ref_logp_l.detach())
    return -F.logsigmoid(beta * margin).mean()


@dataclass(frozen=True)
class DPOConfig:
    """DPO of `train_dpo`: `steps` AdamW steps on `batch_size` preference pairs each (the reward
    model's pairs), β the strength of the implicit KL to π_ref in the loss
    −ln σ(β[(ln π_θ − ln π_ref)(y_w) − (ln π_θ − ln π_ref)(y_l)]); gradients clipped to norm 1."""

    steps: int = 240  # optimizer steps
    batch_size: int = 32  # pairs per step (240 × 32 × 2 = 15,360 summaries, ~2× the RL budget)
    beta: float = 0.1  # β: strength of the implicit KL to the SFT policy
    lr: float = 3e-4  # AdamW learning rate


@dataclass
class DPOHistory:
    loss: list[float] = field(default_factory=list)  # DPO loss per step
    accuracy: list[float] = field(default_factory=list)  # fraction of pairs with margin > 0
    seconds: float = 0.0  # wall-clock time


def _mask(y: torch.Tensor) -> torch.Tensor:
    return response_mask(y) * (y != PAD).float()  # written tokens only, <end> included


def train_dpo(sft: LMPolicy, pairs: PairSet, seed: int, cfg: DPOConfig, data_cfg: DataConfig,
              progress: str | None = None) -> tuple[LMPolicy, DPOHistory]:
    """DPO from a copy of `sft` on `pairs` (chosen ≻ rejected), encoded with `data_cfg`.
    Returns (policy, DPOHistory); progress: a label for a progress bar, or None."""
    t0 = time.perf_counter()
    policy, ref = copy.deepcopy(sft), sft
    prompts = encode_prompts(pairs.posts, data_cfg)  # (M, Tp)
    y_w, y_l = encode_responses(pairs.chosen, data_cfg), encode_responses(pairs.rejected, data_cfg)
    m_w, m_l = _mask(y_w), _mask(y_l)
    with torch.no_grad():  # π_ref never changes: its log-probs once, in chunks
        ref_w, ref_l = (torch.cat([token_log_probs(ref, prompts[i:i + 2048], y[i:i + 2048],
                                                   m[i:i + 2048]).sum(1)
                                   for i in range(0, len(prompts), 2048)])
                        for y, m in ((y_w, m_w), (y_l, m_l)))
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    hist = DPOHistory()
    B = cfg.batch_size
    with progress_bar(cfg.steps, progress) as bar:
        for _ in range(cfg.steps):
            idx = torch.randint(len(prompts), (B,), generator=g)
            p = prompts[idx]
            logp = token_log_probs(policy, torch.cat([p, p]), torch.cat([y_w[idx], y_l[idx]]),
                                   torch.cat([m_w[idx], m_l[idx]])).sum(dim=1)  # (2B,)
            loss = dpo_loss(logp[:B], logp[B:], ref_w[idx], ref_l[idx], cfg.beta)
            optimizer_step(opt, loss, policy, max_norm=1.0)
            hist.loss.append(loss.item())
            with torch.no_grad():
                margin = (logp[:B] - ref_w[idx]) - (logp[B:] - ref_l[idx])
                hist.accuracy.append(float((margin > 0).float().mean()))
            bar.update()
    hist.seconds = time.perf_counter() - t0
    return policy, hist
