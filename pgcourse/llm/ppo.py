"""PPO on the summarizer: several epochs of clipped-ratio updates on each batch of samples.

For each batch of responses y_i ~ π_old(· | x_i) (π_old = the policy when it sampled them):
    r_i   = RM(x_i, y_i) − β Σ_t [ln π_old(y_i,t | ·) − ln π_ref(y_i,t | ·)]   (−1 without <end>)
    A_i   = r_i − V_φ(x_i),  whitened over the batch (mean 0, std 1)
    ω_t(θ) = π_θ(y_i,t | x_i, y_i,<t) / π_old(y_i,t | x_i, y_i,<t)   (the importance ratio; the
             lecture's ρ is the sampling distribution, so the ratio is not called ρ here)
    L(θ)  = − mean over response tokens of min(ω_t A_i, clip(ω_t, 1 − ε, 1 + ε) A_i),  ε = 0.2
    L(φ)  = mean_i (V_φ(x_i) − r_i)²
repeated for `epochs` passes over `minibatches` shuffled minibatches, then a fresh batch is drawn.

Simplifications with respect to Huang et al. 2024 (which follows Stiennon et al. 2020), said
plainly:
  * the whole response gets one advantage A_i = r_i − V_φ(x_i): a learned *prompt-level* value
    baseline instead of a per-token value and GAE. With the reward only at the end and γ = λ = 1
    (their setting), GAE reduces to r_i − V(x_i, y_i,<t); we keep only the t = 0 term;
  * the KL penalty is summed into the final reward (the same r_i as REINFORCE / RLOO here), not
    spread over tokens;
  * the value model is a separate copy of the SFT network with a scalar head read at the prompt's
    last token (TL;DR:), as in their separate-critic setup; no value clipping, no reward whitening;
  * one sample per prompt, the same 64 samples per update and sampling temperature as the other
    methods; no adaptive KL controller, no learning-rate decay.

References: Schulman et al. 2017 (PPO); Stiennon et al. 2020; Huang et al. 2024 ("The N+
implementation details of RLHF with PPO"); Ziegler et al. 2019.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import Post, PromptSet, as_prompt_set
from .model import LMPolicy, ScalarHeadModel, token_log_probs
from pgcourse.notebook.progress import progress_bar
from .optim import optimizer_step
from .rl import LMFunctions, RLConfig
from .rollout import RewardFn, RLHistory, record, rollout


# ----------------------------------------------------------------------------- PPO pieces
class ValueModel(ScalarHeadModel):
    """V_φ(x): a copy of the SFT network with a scalar head read at the prompt's last token."""

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        """(B, Tp) -> (B,) value estimates."""
        h, _ = self.body.hidden(prompts)  # (B, Tp, C)
        return self.score(h[:, -1])


def ppo_clip_loss(token_logp: torch.Tensor, old_token_logp: torch.Tensor, adv: torch.Tensor,
                  mask: torch.Tensor, clip: float = 0.2) -> torch.Tensor:
    """−mean over masked tokens of min(w A, clip(w, 1−ε, 1+ε) A), w = exp(ln π_θ − ln π_old).

    token_logp, old_token_logp, mask: (B, R); adv: (B,) one advantage per response (constant).
    """
    if token_logp.shape != old_token_logp.shape or token_logp.shape != mask.shape \
            or adv.shape != token_logp.shape[:1]:
        raise ValueError(f"need (B,R),(B,R),(B,),(B,R); got {tuple(token_logp.shape)}, "
                         f"{tuple(old_token_logp.shape)}, {tuple(adv.shape)}, {tuple(mask.shape)}")
    ratio = torch.exp(token_logp - old_token_logp.detach())  # (B, R)
    a = adv.detach()[:, None]
    surrogate = torch.minimum(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a)
    return -(surrogate * mask).sum() / mask.sum().clamp(min=1)


@dataclass(frozen=True)
class PPOConfig:
    """PPO's own settings (`train_ppo`): `epochs` passes of `minibatches` clipped-ratio updates per
    batch of samples, ε = clip, the policy's and the value model's learning rates, and whether
    the advantages are whitened. Steps, samples per step, β, temperature, grad clip and reward
    come from the RLConfig passed beside it."""

    epochs: int = 4  # passes over each batch of samples
    minibatches: int = 2  # minibatches per pass (64 samples -> 2 × 32)
    clip: float = 0.2  # ε of the clipped ratio
    lr: float = 1e-4  # policy AdamW learning rate (several updates per batch: smaller than RLOO's)
    value_lr: float = 1e-3  # value-model AdamW learning rate
    whiten: bool = True  # normalise advantages over the batch


def train_ppo(sft: LMPolicy, rm: RewardFn, data: PromptSet | list[Post], seed: int,
              rl_cfg: RLConfig, cfg: PPOConfig = PPOConfig(), fns: LMFunctions = LMFunctions(),
              progress: str | None = None) -> tuple[LMPolicy, RLHistory]:
    """PPO from a copy of `sft` (π_ref = the frozen SFT), with `rl_cfg`'s steps, samples per step,
    β, temperature, grad clip, no-end score and reward (its lr and k are not used). Returns
    (policy, RLHistory)."""
    data = as_prompt_set(data)
    t0 = time.perf_counter()
    policy, ref = copy.deepcopy(sft), sft
    value = ValueModel(sft, seed)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    vopt = torch.optim.AdamW(value.parameters(), lr=cfg.value_lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    N = rl_cfg.samples_per_step
    hist = RLHistory()
    with progress_bar(rl_cfg.steps, progress) as bar:
        for step in range(rl_cfg.steps):
            pidx = torch.randint(len(data), (N,), generator=g)
            ro = rollout(policy, ref, rm, data, pidx, rl_cfg.beta, rl_cfg.temperature,
                         rl_cfg.no_end_score, g, fns, reward=rl_cfg.reward)
            with torch.no_grad():
                adv = ro.rewards - value(ro.prompts)  # (N,)
                if cfg.whiten:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            for _ in range(cfg.epochs):
                for mb in torch.randperm(N, generator=g).chunk(cfg.minibatches):
                    logp = token_log_probs(policy, ro.prompts[mb], ro.responses[mb], ro.mask[mb])
                    loss = ppo_clip_loss(logp, ro.old_token_logp[mb], adv[mb], ro.mask[mb],
                                         cfg.clip)
                    optimizer_step(opt, loss, policy, rl_cfg.grad_clip)
                    v_loss = F.mse_loss(value(ro.prompts[mb]), ro.rewards[mb])
                    optimizer_step(vopt, v_loss, value, rl_cfg.grad_clip)
            record(hist, ro, (step + 1) * N, bar)
    hist.seconds = time.perf_counter() - t0
    return policy, hist
