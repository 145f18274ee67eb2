"""Returns and reward-to-go: ideas from the REINFORCE notebook, graduated into the package.

The lecture's REINFORCE gradient weights every ln π_θ(a_h | s_h) by the full return R(τ); the
"further simplification" keeps only the rewards that come *after* step h, the reward-to-go

    G_h = Σ_{t=h}^{H-1} r_t                      (undiscounted, finite horizon H)
    G_h = Σ_{t=h}^{H-1} γ^{t-h} r_t              (discounted, γ ∈ [0, 1])

because an action at step h cannot change rewards earned before it (Williams 1992; Sutton et
al. 2000). Both functions work on the last axis of an array of shape (..., H), so a batch of N
trajectories padded to a common length T is one call: (N, T) → (N, T). Padding must be zeros
(as the CartPole rollout produces), so that it adds nothing to the sums.

Both accept a NumPy array or a torch tensor and return the same type.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

__all__ = ["reward_to_go", "discounted_reward_to_go"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def _check_rewards(rewards: object) -> None:
    if not isinstance(rewards, (np.ndarray, torch.Tensor)):
        raise ValueError(
            f"rewards must be a NumPy array or a torch tensor of shape (..., H), got {type(rewards).__name__}; "
            "wrap a list with np.asarray(rewards, dtype=float)"
        )
    if rewards.ndim < 1:
        raise ValueError("rewards must have at least one axis (the time axis H, last); got a scalar")


def reward_to_go(rewards: ArrayT) -> ArrayT:
    """Undiscounted reward-to-go along the last axis: G_h = Σ_{t=h}^{H-1} r_t.

    Example: ``reward_to_go(np.array([1., 2., 3.]))`` → ``[6., 5., 3.]``; G_0 = R(τ).

    Args:
        rewards: r_0 … r_{H-1}, shape (..., H); NumPy array or torch tensor.

    Returns:
        G, shape (..., H), same type as ``rewards`` (integer arrays stay integer).
    """
    _check_rewards(rewards)
    if isinstance(rewards, torch.Tensor):
        # A reversed cumulative sum: G_h = R(τ) - Σ_{t<h} r_t would lose precision, flipping does not.
        return rewards.flip(-1).cumsum(-1).flip(-1)
    return np.flip(np.cumsum(np.flip(rewards, -1), axis=-1), -1).copy()


def discounted_reward_to_go(rewards: ArrayT, gamma: float) -> ArrayT:
    """Discounted reward-to-go along the last axis: G_h = Σ_{t=h}^{H-1} γ^{t-h} r_t.

    Computed by the backward recursion G_{H-1} = r_{H-1}, G_h = r_h + γ G_{h+1}: H vectorized
    steps over all leading axes at once, exact for every γ ∈ [0, 1] (no division by γ^h, which
    would overflow for long horizons). γ = 1 gives ``reward_to_go``; γ = 0 gives the rewards.

    Args:
        rewards: r_0 … r_{H-1}, shape (..., H); NumPy array or torch tensor.
        gamma: discount factor γ ∈ [0, 1].

    Returns:
        G, shape (..., H), floating point, same type as ``rewards``.
    """
    _check_rewards(rewards)
    gamma = float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
    if isinstance(rewards, torch.Tensor):
        r = rewards if rewards.is_floating_point() else rewards.to(torch.get_default_dtype())
        out = torch.empty_like(r)
    else:
        r = np.asarray(rewards)
        r = r if np.issubdtype(r.dtype, np.floating) else r.astype(np.float64)
        out = np.empty_like(r)
    H = r.shape[-1]
    if H == 0:
        return out
    out[..., H - 1] = r[..., H - 1]
    for h in range(H - 2, -1, -1):
        out[..., h] = r[..., h] + gamma * out[..., h + 1]
    return out
