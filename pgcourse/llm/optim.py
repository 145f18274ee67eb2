"""One optimiser step, the update every trainer of the lab makes (SFT, RM, REINFORCE/RLOO, DPO,
PPO, REBEL): clear the gradients, backpropagate the loss, clip the gradient norm (unless
max_norm is None: SFT does not clip), step.

References: Pascanu et al. 2013 (gradient-norm clipping); Loshchilov & Hutter 2019 (AdamW).
"""

from __future__ import annotations

import torch


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, model: torch.nn.Module,
                   max_norm: float | None) -> None:
    """θ ← opt(θ, ∇_θ loss), the gradient norm of `model`'s parameters first clipped to max_norm
    (max_norm=None: no clipping). A learning-rate schedule, if any, steps after this call."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    opt.step()
