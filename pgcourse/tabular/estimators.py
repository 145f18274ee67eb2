"""The REINFORCE estimator: graduated from notebook 03 (deriving REINFORCE).

A trajectory τ = (s_0, a_0, s_1, a_1, …, s_{H−1}, a_{H−1}) has likelihood

    ρ_θ(τ) = μ(s_0) π_θ(a_0|s_0) P(s_1|s_0, a_0) π_θ(a_1|s_1) ⋯ π_θ(a_{H−1}|s_{H−1}),

so ln ρ_θ(τ) = ln μ(s_0) + Σ_{h=0}^{H−1} ln π_θ(a_h|s_h) + Σ_{h=0}^{H−2} ln P(s_{h+1}|s_h, a_h). Only the
policy terms depend on θ, hence the gradient needs no model of μ or P:

    ∇_θ ln ρ_θ(τ) = Σ_{h=0}^{H−1} ∇_θ ln π_θ(a_h|s_h).

With J(θ) = E_{τ∼ρ_θ}[R(τ)], R(τ) = Σ_{h=0}^{H−1} r(s_h, a_h), the importance-weighting trick with the
sampling distribution ρ_{θ_0} (notebook 01) gives REINFORCE (Williams 1992):

    ∇_θ J(θ) = E_{τ∼ρ_θ}[(Σ_{h=0}^{H−1} ∇_θ ln π_θ(a_h|s_h)) R(τ)]
             ≈ (1/N) Σ_{i=1}^N (Σ_{h=0}^{H−1} ∇_θ ln π_θ(a_h^i|s_h^i)) R(τ_i),   τ_i ∼ ρ_θ.

(The lecture's summary slide writes Σ_{h=0}^{H}; the trajectory's last step is h = H − 1.)

Policies are tabular softmax, θ ∈ R^{S×A} (`pgcourse.tabular.policies`). Shapes: N trajectories, H steps;
states and actions are integer arrays, rewards float, each (N, H) as `mdp.sample_trajectories`
returns them. `per_trajectory_reinforce_terms` keeps one term per trajectory, so that exact means
and variances follow by enumerating every trajectory (`mdp.enumerate_trajectories`, `pgcourse.tabular.variance`).
References: Williams (1992); Sutton et al. (2000).
"""

from __future__ import annotations

import numpy as np
import torch

from pgcourse.tabular.mdp import TabularMDP
from pgcourse.tabular.policies import grad_log_tabular_softmax_batch, tabular_softmax
from pgcourse.tabular.validation import check_indices, validate_theta

__all__ = [
    "validate_trajectories",
    "log_trajectory_likelihood",
    "grad_log_trajectory_likelihood",
    "per_trajectory_reinforce_terms",
    "score_weighted_terms",
    "reinforce_gradient_estimate",
]


def validate_trajectories(theta: object, states: object, actions: object, rewards: object = None,
                          ndim: int | None = None) -> tuple[np.ndarray, ...]:
    """Check and convert (θ, states, actions[, rewards]); a ValueError says what is wrong.

    theta: (S, A) finite; states, actions: integers of one shape (..., H) with H ≥ 1 (exactly
    `ndim` axes when given), states in 0..S−1, actions in 0..A−1; rewards: finite, that same shape.
    Returns float64 theta, int64 states and actions, and float64 rewards when given.
    """
    theta = validate_theta(theta, ndim=2, shape_name="(S, A)")
    S, A = theta.shape
    states, actions = np.asarray(states), np.asarray(actions)
    if states.shape != actions.shape:
        raise ValueError(f"states {states.shape} and actions {actions.shape} must have the same shape")
    if states.ndim < 1 or states.shape[-1] == 0 or (ndim is not None and states.ndim != ndim):
        want = "(..., H)" if ndim is None else ("(H,)" if ndim == 1 else "(N, H)")
        raise ValueError(f"states and actions must have shape {want} with H ≥ 1, got {states.shape}")
    out = [theta, check_indices(states, "states", S, "S"), check_indices(actions, "actions", A, "A")]
    if rewards is not None:
        rewards = np.asarray(rewards, dtype=float)
        if rewards.shape != states.shape:
            raise ValueError(f"rewards {rewards.shape} must have the shape of states {states.shape}: "
                             "one reward r(s_h, a_h) per step")
        if not np.all(np.isfinite(rewards)):
            raise ValueError("rewards contain NaN or infinite values")
        out.append(rewards)
    return tuple(out)


def log_trajectory_likelihood(mdp: TabularMDP, theta: np.ndarray | torch.Tensor, states: object,
                              actions: object) -> torch.Tensor:
    """The full ln ρ_θ(τ), μ and P included, as a float64 torch tensor differentiable in θ.

    ln ρ_θ(τ) = ln μ(s_0) + Σ_{h=0}^{H−1} ln π_θ(a_h|s_h) + Σ_{h=0}^{H−2} ln P(s_{h+1}|s_h, a_h).
    theta: (S, A) (a tensor keeps its graph); states, actions: (..., H). Returns (...);
    −inf for a trajectory with ρ_θ(τ) = 0 under this μ and P. An independent route to
    `grad_log_trajectory_likelihood` via autograd.
    """
    t = torch.as_tensor(validate_theta(theta, shape=(mdp.S, mdp.A), shape_name=f"(S, A) = {(mdp.S, mdp.A)}",
                                       keep_tensor=True)).to(torch.float64)
    _, states, actions = validate_trajectories(t.detach().numpy(), states, actions)
    st, ac = torch.as_tensor(states), torch.as_tensor(actions)
    log_pi = torch.log_softmax(t, dim=-1)[st, ac].sum(-1)  # (...)
    with np.errstate(divide="ignore"):  # ln 0 = −inf is the right answer for impossible τ
        log_mu = torch.as_tensor(np.log(mdp.mu)[states[..., 0]])
        log_p = torch.as_tensor(np.log(mdp.P)[states[..., :-1], actions[..., :-1], states[..., 1:]].sum(-1))
    return log_mu + log_pi + log_p


def grad_log_trajectory_likelihood(theta: object, states: object, actions: object) -> np.ndarray:
    """∇_θ ln ρ_θ(τ) = Σ_{h=0}^{H−1} ∇_θ ln π_θ(a_h|s_h) for a tabular softmax π_θ.

    Each term is e_{s_h} ⊗ (e_{a_h} − π_θ(·|s_h)); μ and P drop out (they do not depend on θ).
    theta: (S, A); states, actions: (H,) for one trajectory, or (..., H) for a batch.
    Returns (S, A), or (..., S, A) for a batch.
    """
    theta, states, actions = validate_trajectories(theta, states, actions)
    return grad_log_tabular_softmax_batch(theta, states, actions).sum(axis=-3)  # sum over h


def score_weighted_terms(theta: object, states: object, actions: object, weights: object) -> np.ndarray:
    """Per-trajectory terms g(τ_i) = Σ_{h=0}^{H−1} ∇_θ ln π_θ(a_h^i|s_h^i) Ψ_h^i for a tabular softmax π_θ.

    theta: (S, A); states, actions: integer (N, H); weights Ψ: (N, H) (R(τ) repeated over h, or G_h,
    or G_h − b). Returns (N, S, A); its mean over axis 0 is the estimate ĝ. Each ∇_θ ln π_θ(a|s) is
    e_s ⊗ (e_a − π_θ(·|s)), scatter-added per trajectory without building an (N, H, S, A) array.
    """
    theta, states, actions = validate_trajectories(theta, states, actions, ndim=2)
    weights = np.asarray(weights, dtype=float)
    if weights.shape != states.shape:
        raise ValueError(f"weights must have the shape of states {states.shape}, got {weights.shape}")
    (N, H), (S, A) = states.shape, theta.shape
    pi = tabular_softmax(theta)
    g = np.zeros((N, S, A))
    rows = np.repeat(np.arange(N), H)
    np.add.at(g, (rows, states.ravel()), (np.eye(A)[actions.ravel()] - pi[states.ravel()]) * weights.reshape(-1, 1))
    return g


def per_trajectory_reinforce_terms(theta: object, states: object, actions: object,
                                   rewards: object) -> np.ndarray:
    """One REINFORCE term per trajectory: g(τ_i) = (Σ_{h=0}^{H−1} ∇_θ ln π_θ(a_h^i|s_h^i)) R(τ_i).

    R(τ_i) = Σ_{h=0}^{H−1} r_h^i. theta: (S, A); states, actions, rewards: (N, H).
    Returns (N, S, A); its mean over N is `reinforce_gradient_estimate`.
    """
    theta, states, actions, rewards = validate_trajectories(theta, states, actions, rewards, ndim=2)
    returns = np.broadcast_to(rewards.sum(axis=1, keepdims=True), rewards.shape)   # R(τ_i) at every step
    return score_weighted_terms(theta, states, actions, returns)


def reinforce_gradient_estimate(theta: object, states: object, actions: object, rewards: object) -> np.ndarray:
    """REINFORCE: ĝ = (1/N) Σ_{i=1}^N (Σ_{h=0}^{H−1} ∇_θ ln π_θ(a_h^i|s_h^i)) R(τ_i), τ_i ∼ ρ_θ.

    An unbiased estimate of ∇_θ J(θ). theta: (S, A); states, actions, rewards: (N, H).
    Returns (S, A).
    """
    return per_trajectory_reinforce_terms(theta, states, actions, rewards).mean(axis=0)
