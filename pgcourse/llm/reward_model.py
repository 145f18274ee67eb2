"""The reward model: the SFT network with a scalar head, trained on preferences (Bradley-Terry).

r_φ(x, y) = w · h_φ(x, y)[t_end] + c, the final hidden state read at the end token (the last
token when there is none), initialised from the SFT weights. Loss on a pair y_c ≻ y_r:
    L(φ) = − ln σ(r_φ(x, y_c) − r_φ(x, y_r)).
After training, the mean score of reference summaries is subtracted so a reference scores ≈ 0.

References: Bradley & Terry 1952; Stiennon et al. 2020; Huang et al. 2024 (RM details).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .data import EOS, PAD, DataConfig, Post, encode_prompts, encode_responses
from .model import GPT, LMPolicy, ScalarHeadModel
from .optim import optimizer_step
from .preferences import PairSet, make_probes
from pgcourse.notebook.progress import progress_bar


class RewardGateError(RuntimeError):
    """Raised when the reward model fails the targeted probes that RL needs."""


class RewardModel(ScalarHeadModel):
    """A body copied from the SFT policy (the lab's GPT or an `hf.HFPolicy`) and a linear head
    read at the end token."""

    def __init__(self, sft: LMPolicy, seed: int = 0):
        super().__init__(sft, seed)
        self.register_buffer("offset", torch.zeros(()))  # mean reference score, subtracted

    def forward(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """(B, Tp), (B, R) -> (B,) scores r(x, y) − offset, read at the first <end> (else the
        last non-pad response token)."""
        h, _ = self.body.hidden(torch.cat([prompts, responses], dim=1))  # (B, Tp + R, C)
        R = responses.shape[1]
        cols = torch.arange(R).expand_as(responses)
        is_end = responses == EOS
        first_end = torch.where(is_end, cols, R).min(dim=1).values  # (B,)
        last_tok = torch.where(responses != PAD, cols, -1).max(dim=1).values.clamp(min=0)
        read = torch.where(first_end < R, first_end, last_tok) + prompts.shape[1]
        h_end = h[torch.arange(h.shape[0]), read]  # (B, C)
        return self.score(h_end) - self.offset


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """L = mean_i −ln σ(r_c,i − r_r,i) over (N,) scores (written with logsigmoid for stability)."""
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"shapes differ: {tuple(r_chosen.shape)} vs {tuple(r_rejected.shape)}")
    return -F.logsigmoid(r_chosen - r_rejected).mean()


@dataclass(frozen=True)
class RMConfig:
    """Reward-model training (`train_reward_model`) and the gate before RL (`check_reward_gate`):
    `steps` AdamW steps of the Bradley-Terry loss on `batch_size` pairs, the body's learning rate
    decayed linearly to 10% and the new head's `head_lr_mult` times larger; RL refuses to start
    when a gated probe's accuracy is below `probe_threshold`."""

    steps: int = 500  # optimizer steps
    batch_size: int = 64  # pairs per step
    lr: float = 1e-3  # AdamW learning rate of the body, decayed linearly to 10%
    head_lr_mult: float = 10.0  # the freshly initialised scalar head learns this much faster
    probe_threshold: float = 0.75  # RL refuses to start below this on the gated probes
    gated_probes: tuple[str, ...] = ("repeat", "hallucination")  # probes the gate checks


@dataclass
class RMReport:
    loss: list[float] = field(default_factory=list)  # BT loss per step
    accuracy: float = float("nan")  # held-out agreement with the gold judge (non-tied pairs)
    probes: dict[str, float] = field(default_factory=dict)  # P(r(good) > r(one flaw)) per probe
    offset: float = 0.0  # mean raw score of references, subtracted from every score
    seconds: float = 0.0  # wall-clock time


@torch.no_grad()
def score(rm: RewardModel, posts: list[Post], summaries: list[tuple[int, ...]],
          data_cfg: DataConfig, batch: int = 1024) -> np.ndarray:
    """RM scores of summaries given as token tuples, encoded with `data_cfg`: (N,) float64."""
    out = []
    for i in range(0, len(posts), batch):
        p = encode_prompts(posts[i: i + batch], data_cfg)
        y = encode_responses(summaries[i: i + batch], data_cfg)
        out.append(rm(p, y).double().numpy())
    return np.concatenate(out)


def pair_accuracy(rm: RewardModel, pairs: PairSet, data_cfg: DataConfig) -> float:
    """Fraction of pairs with a gold preference where the RM agrees with the gold judge."""
    diff = (score(rm, pairs.posts, pairs.chosen, data_cfg)
            - score(rm, pairs.posts, pairs.rejected, data_cfg))
    keep = pairs.gold_margin != 0
    return float(np.mean(np.sign(diff[keep]) == np.sign(pairs.gold_margin[keep])))


def probe_accuracy(rm: RewardModel, posts: list[Post], seed: int, data_cfg: DataConfig
                   ) -> dict[str, float]:
    """For each probe kind, the fraction where r(good summary) > r(same with one flaw)."""
    out = {}
    probes = make_probes(posts, np.random.default_rng(seed), data_cfg.max_summary)
    for kind, (ps, good, bad) in probes.items():
        out[kind] = (float(np.mean(score(rm, ps, good, data_cfg) > score(rm, ps, bad, data_cfg)))
                     if ps else float("nan"))
    return out


def train_reward_model(sft: GPT, train: PairSet, heldout: PairSet, probe_posts: list[Post],
                       ref_posts: list[Post], refs: list[tuple[int, ...]], seed: int,
                       cfg: RMConfig, data_cfg: DataConfig, progress: str | None = None
                       ) -> tuple[RewardModel, RMReport]:
    """Fit r_φ by Bradley-Terry on `train`; normalise on references; report accuracy and probes.
    Summaries are encoded with `data_cfg`; progress: a label for a progress bar, or None."""
    t0 = time.perf_counter()
    rm = RewardModel(sft, seed=seed)
    prompts = encode_prompts(train.posts, data_cfg)
    y_c, y_r = encode_responses(train.chosen, data_cfg), encode_responses(train.rejected, data_cfg)
    # the new head starts from scratch while the body is pretrained: give it a larger step
    opt = torch.optim.AdamW([{"params": rm.body.parameters(), "lr": cfg.lr},
                             {"params": rm.head.parameters(), "lr": cfg.lr * cfg.head_lr_mult}],
                            weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.1,
                                              total_iters=max(cfg.steps, 1))
    g = torch.Generator().manual_seed(seed)
    report = RMReport()
    with progress_bar(cfg.steps, progress) as bar:
        for _ in range(cfg.steps):
            idx = torch.randint(len(train.posts), (cfg.batch_size,), generator=g)
            p = prompts[idx]
            r = rm(torch.cat([p, p]), torch.cat([y_c[idx], y_r[idx]]))  # one forward for both
            loss = bradley_terry_loss(r[: len(idx)], r[len(idx):])
            optimizer_step(opt, loss, rm, max_norm=1.0)
            sched.step()
            report.loss.append(loss.item())
            bar.update()
    rm.eval()
    rm.offset.fill_(float(score(rm, ref_posts, refs, data_cfg).mean()))
    report.offset = float(rm.offset)
    report.accuracy = pair_accuracy(rm, heldout, data_cfg)
    report.probes = probe_accuracy(rm, probe_posts, seed, data_cfg)
    report.seconds = time.perf_counter() - t0
    for p in rm.parameters():
        p.requires_grad_(False)
    return rm, report


def check_reward_gate(report: RMReport, cfg: RMConfig = RMConfig(), strict: bool = True) -> bool:
    """RL is only worth running if the RM ranks the flaws it will be pushed towards: raise
    RewardGateError (or warn, with strict=False) when a gated probe is below the threshold."""
    low = {k: report.probes.get(k, float("nan")) for k in cfg.gated_probes}
    low = {k: v for k, v in low.items() if not v >= cfg.probe_threshold}
    if not low:
        return True
    msg = (f"reward model fails the probes {low} (need ≥ {cfg.probe_threshold}): RL against it "
           "would learn to repeat/hallucinate. Train the RM longer or add minimal pairs.")
    if strict:
        raise RewardGateError(msg)
    warnings.warn(msg, stacklevel=2)
    return False
