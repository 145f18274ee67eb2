"""Exact means and variances of policy-gradient estimators, by enumerating every trajectory.

Every estimator in notebooks 03 and 04 averages a per-trajectory term over N sampled trajectories,

    ĝ = (1/N) Σ_{i=1}^N g(τ_i),   τ_i ∼ ρ_θ,   g(τ) = Σ_{h=0}^{H-1} ∇_θ ln π_θ(a_h | s_h) Ψ_h(τ),

with weights Ψ_h = R(τ) (REINFORCE), Ψ_h = G_h = Σ_{t=h}^{H-1} r_t (reward-to-go) or
Ψ_h = G_h − b_h(s_h) (with a baseline). On a small finite-horizon MDP the trajectories can be
listed (`pgcourse.tabular.mdp.enumerate_trajectories`), so

    E[ĝ] = Σ_τ ρ_θ(τ) g(τ),   Cov[ĝ] = (1/N) Σ_τ ρ_θ(τ) (g(τ) − E g)(g(τ) − E g)ᵀ,

exactly, and "total variance" means the trace of the covariance, E‖g(τ) − E g‖², for N = 1:
`pgcourse.tabular.moments.exact_moments(per_trajectory_terms(estimate, traj), traj.probs)`.

The key lemma behind reward-to-go (notebook 04 asks for its proof, so it is only stated here):
for t < h, E_{τ∼ρ_θ}[∇_θ ln π_θ(a_h | s_h) r(s_t, a_t)] = 0, and a baseline b_h(s_h) leaves the
expectation unchanged. `lemma_terms` computes the whole (h, t) matrix of these expectations.

References: Williams (1992); Sutton et al. (2000); Greensmith, Bartlett & Baxter (2004) for
baselines and variance.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pgcourse.tabular.mdp import EnumeratedTrajectories, TabularMDP, enumerate_trajectories
from pgcourse.tabular.estimators import score_weighted_terms   # g(τ_i) = Σ_h ∇_θ ln π_θ(a_h|s_h) Ψ_h: its home
from pgcourse.tabular.policies import grad_log_tabular_softmax_batch

__all__ = [
    "score_weighted_terms", "per_trajectory_terms", "lemma_terms",
    "lemma_term_norms", "baseline_per_step", "best_constant_baseline",
]


def per_trajectory_terms(estimate: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                         traj: EnumeratedTrajectories) -> np.ndarray:
    """g(τ_m) = estimate(states, actions, rewards) on the single trajectory τ_m (N = 1), for every m.

    estimate: any estimator that averages a per-trajectory term, called with (1, H) arrays.
    traj: from `enumerate_trajectories`. Returns (M, …), one row per enumerated trajectory.
    """
    rows = [np.asarray(estimate(traj.states[m:m + 1], traj.actions[m:m + 1], traj.rewards[m:m + 1]), dtype=float)
            for m in range(len(traj.probs))]
    return np.stack(rows)


def lemma_terms(mdp: TabularMDP, theta: np.ndarray, traj: EnumeratedTrajectories | None = None) -> np.ndarray:
    """T[h, t] = E_{τ∼ρ_θ}[∇_θ ln π_θ(a_h | s_h) r(s_t, a_t)] for all h, t, exactly. Shape (H, H, S, A).

    The lemma: T[h, t] = 0 for t < h (rewards earned before step h). Summing T over all (h, t)
    gives REINFORCE's expectation, over t ≥ h reward-to-go's; both equal ∇_θ J(θ).
    traj: the enumeration of (mdp, theta), if already at hand.
    """
    traj = enumerate_trajectories(mdp, theta) if traj is None else traj
    scores = grad_log_tabular_softmax_batch(np.asarray(theta, dtype=float), traj.states, traj.actions)  # (M, H, S, A)
    return np.einsum("m,mhsa,mt->htsa", traj.probs, scores, traj.rewards)


def lemma_term_norms(terms: np.ndarray) -> np.ndarray:
    """‖T[h, t]‖ (Frobenius) for a (H, H, S, A) array from `lemma_terms`: the (H, H) heatmap."""
    return np.sqrt(np.sum(np.asarray(terms) ** 2, axis=(-2, -1)))


def baseline_per_step(baseline: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Per-step baseline values b_h = b(s_h) for trajectories `states` (…, H).

    baseline: (S,) a state baseline b(s), or (H, S) a step-dependent one b_h(s) such as V^π_h(s)
    from `policy_evaluation(mdp, theta).V`. Returns an array with the shape of states.
    """
    baseline, states = np.asarray(baseline, dtype=float), np.asarray(states)
    if baseline.ndim == 1:
        return baseline[states]
    H = states.shape[-1]
    if baseline.ndim != 2 or baseline.shape[0] != H:
        raise ValueError(f"baseline must have shape (S,) or (H, S) with H = {H}, got {baseline.shape}")
    return baseline[np.arange(H), states]  # b_h(s_h): step index broadcasts along the last axis


def best_constant_baseline(theta: np.ndarray, traj: EnumeratedTrajectories, weights: np.ndarray) -> float:
    """The constant c minimising the total variance of g_c(τ) = Σ_h ∇_θ ln π_θ(a_h|s_h)(Ψ_h − c).

    With u(τ) = Σ_h ∇_θ ln π_θ(a_h|s_h) (mean zero), E‖g_0 − c u‖² is a parabola in c with
    minimum c* = E⟨g_0, u⟩ / E‖u‖². weights: Ψ for every enumerated trajectory, (M, H).
    Returns 0.0 when u ≡ 0 (e.g. a deterministic policy).
    """
    g0 = score_weighted_terms(theta, traj.states, traj.actions, weights).reshape(len(traj.probs), -1)
    u = score_weighted_terms(theta, traj.states, traj.actions, np.ones_like(weights)).reshape(len(traj.probs), -1)
    denom = float(traj.probs @ np.sum(u * u, axis=1))
    return float(traj.probs @ np.sum(g0 * u, axis=1)) / denom if denom > 0 else 0.0
