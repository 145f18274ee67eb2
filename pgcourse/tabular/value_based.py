"""Value-based pieces for the recap notebook (00): Baird's counterexample.

Semi-gradient TD(0) with a linear value function v_w(s) = wᵀx(s) updates

    w ← w + α ω_t δ_t x(S_t),   δ_t = R_{t+1} + γ v_w(S_{t+1}) − v_w(S_t),   ω_t = π(A_t|S_t) / b(A_t|S_t),

following a gradient of v_w(S_t) only, not of the target (hence "semi"). Q-learning is the same
update with q_w(s, a) and the target max_{a'} q_w(s', a'). Off-policy data, bootstrapping and
function approximation together (the "deadly triad") can make w diverge even when the true
values are exactly representable.

Baird's counterexample (Baird 1995; Sutton & Barto 2018, section 11.2): 7 states, 8 features,
zero reward everywhere (so w = 0 is exact), γ = 0.99. The *dashed* action moves to one of the six
upper states uniformly, the *solid* action to the lower state 6. The behaviour policy b takes
dashed with probability 6/7 (so the visited states are uniform), the target policy π always takes
solid. Features: x(i) = 2e_i + e_7 for the upper states i = 0..5 and x(6) = e_6 + 2e_7; start
w_0 = (1, 1, 1, 1, 1, 1, 10, 1).
"""

from __future__ import annotations

import numpy as np

__all__ = ["BAIRD_GAMMA", "BAIRD_W0", "baird_features", "baird_expected_td", "baird_off_policy_td"]

BAIRD_GAMMA = 0.99
BAIRD_W0 = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 10.0, 1.0])
N_STATES = 7
LOWER = 6  # the state the solid action leads to
P_SOLID_BEHAVIOUR = 1.0 / 7.0  # b(solid | s); π(solid | s) = 1


def baird_features() -> np.ndarray:
    """x(s) for Baird's 7 states as rows, shape (7, 8): 2e_i + e_7 (upper i = 0..5), e_6 + 2e_7 (lower)."""
    X = np.zeros((N_STATES, 8))
    X[np.arange(6), np.arange(6)] = 2.0
    X[:6, 7] = 1.0
    X[LOWER, 6], X[LOWER, 7] = 1.0, 2.0
    return X


def _features_and_w0(features: np.ndarray | None, w0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    X = baird_features() if features is None else np.asarray(features, dtype=float)
    if X.ndim != 2 or X.shape[0] != N_STATES:
        raise ValueError(f"features must have shape (7, d), got {X.shape}")
    if w0 is None:
        w0 = BAIRD_W0 if X.shape[1] == 8 else np.ones(X.shape[1])
    w0 = np.array(w0, dtype=float)
    if w0.shape != (X.shape[1],):
        raise ValueError(f"w0 must have shape ({X.shape[1]},), got {w0.shape}")
    return X, w0


def baird_expected_td(steps: int, alpha: float = 0.01, gamma: float = BAIRD_GAMMA,
                      features: np.ndarray | None = None, w0: np.ndarray | None = None) -> np.ndarray:
    """Expected semi-gradient off-policy TD(0) ("semi-gradient DP"): no sampling noise.

    w ← w + (α/7) Σ_s (E_π[R + γ v_w(S') | s] − v_w(s)) x(s), states weighted uniformly (the
    behaviour's distribution); under π (always solid) E_π[R + γ v_w(S') | s] = γ v_w(6).
    features: (7, d), default Baird's (7, 8); w0: (d,). Returns the weights w_0..w_steps, (steps+1, d).
    """
    X, w = _features_and_w0(features, w0)
    history = np.empty((steps + 1, X.shape[1]))
    history[0] = w
    for t in range(steps):
        v = X @ w  # (7,)
        delta = gamma * v[LOWER] - v  # (7,): expected TD error under π in each state
        w = w + alpha / N_STATES * X.T @ delta
        history[t + 1] = w
    return history


def baird_off_policy_td(steps: int, alpha: float = 0.01, gamma: float = BAIRD_GAMMA, seed: int = 0,
                        features: np.ndarray | None = None, w0: np.ndarray | None = None) -> np.ndarray:
    """Sampled semi-gradient off-policy TD(0) on Baird's counterexample, following b.

    At each step: A_t ∼ b (solid w.p. 1/7), S_{t+1} = 6 after solid, uniform over 0..5 after dashed;
    ω_t = π(A_t|S_t)/b(A_t|S_t) = 7 for solid, 0 for dashed; R = 0. The first state is uniform.
    Returns the weights w_0..w_steps, (steps+1, d).
    """
    X, w = _features_and_w0(features, w0)
    rng = np.random.default_rng(seed)
    history = np.empty((steps + 1, X.shape[1]))
    history[0] = w
    s = int(rng.integers(N_STATES))
    for t in range(steps):
        solid = rng.random() < P_SOLID_BEHAVIOUR
        s_next = LOWER if solid else int(rng.integers(6))
        if solid:  # ω = 0 after dashed: no update
            delta = 0.0 + gamma * X[s_next] @ w - X[s] @ w
            w = w + alpha * (1.0 / P_SOLID_BEHAVIOUR) * delta * X[s]
        history[t + 1] = w
        s = s_next
    return history
