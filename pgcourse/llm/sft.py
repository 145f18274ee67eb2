"""Supervised fine-tuning: imitate the reference summaries, loss on summary tokens only.

L_SFT(θ) = − (1 / Σ m) Σ_{b,t} m_{b,t} ln π_θ(y_{b,t} | x_b, y_{b,<t}), with m the response mask
(summary tokens and the <end> token; the prompt is context, not a target).

References: Stiennon et al. 2020; Huang et al. 2024 (SFT stage of the TL;DR pipeline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .data import DataConfig, Post, encode_prompts, encode_responses, response_mask
from .model import GPT, ModelConfig, token_log_probs
from .optim import optimizer_step
from pgcourse.notebook.progress import progress_bar


@dataclass(frozen=True)
class SFTConfig:
    """Supervised fine-tuning of `train_sft`: `steps` AdamW steps on batches of (post, reference)
    pairs, the masked NLL of the response tokens, the learning rate decayed linearly to 10%; no
    gradient clipping."""

    steps: int = 1200  # optimizer steps (the copy-in-order skill needs ~1k steps)
    batch_size: int = 64  # (post, reference) pairs per step
    lr: float = 3e-3  # AdamW learning rate, decayed linearly to 10% over the run
    weight_decay: float = 0.0  # AdamW weight decay


@dataclass
class SFTHistory:
    loss: list[float] = field(default_factory=list)  # mean token NLL per step
    seconds: float = 0.0  # wall-clock time of training


def sft_loss(model: GPT, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the response tokens: (B, Tp), (B, R) -> scalar."""
    logp = token_log_probs(model, prompts, responses)  # (B, R), zero outside the mask
    return -logp.sum() / response_mask(responses).sum()


def train_sft(posts: list[Post], refs: list[tuple[int, ...]], seed: int,
              cfg: SFTConfig, model_cfg: ModelConfig, data_cfg: DataConfig,
              progress: str | None = None
              ) -> tuple[GPT, SFTHistory]:
    """Train a fresh GPT (initialised from `seed`) on post -> reference; returns it and its history.
    progress: a label for a progress bar, or None for none."""
    if len(posts) != len(refs) or not posts:
        raise ValueError(f"need as many references as posts (>0), got {len(posts)}, {len(refs)}")
    t0 = time.perf_counter()
    model = GPT(model_cfg, seed=seed)
    prompts = encode_prompts(posts, data_cfg)  # (N, Tp)
    responses = encode_responses(refs, data_cfg)  # (N, R)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.1,
                                              total_iters=max(cfg.steps, 1))
    g = torch.Generator().manual_seed(seed)
    hist = SFTHistory()
    with progress_bar(cfg.steps, progress) as bar:
        for _ in range(cfg.steps):
            idx = torch.randint(len(posts), (cfg.batch_size,), generator=g)
            loss = sft_loss(model, prompts[idx], responses[idx])
            optimizer_step(opt, loss, model, max_norm=None)  # SFT does not clip
            sched.step()
            hist.loss.append(loss.item())
            bar.update()
    hist.seconds = time.perf_counter() - t0
    return model, hist
