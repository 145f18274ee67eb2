"""Plausible wrong answers (and other correct ones) for notebook 00's exercise."""

import numpy as np

from mutation import Exercise

NOTEBOOK = "00_mdp_recap"


def _validated(P, r, mu, H, pi):
    """The solution's input validation, shared by the mutants that get only the maths wrong."""
    P, r, mu, pi = (np.asarray(x, dtype=float) for x in (P, r, mu, pi))
    if P.ndim != 3 or P.shape[0] != P.shape[2] or 0 in P.shape:
        raise ValueError("P must have shape (S, A, S)")
    S, A = P.shape[:2]
    if r.shape != (S, A) or mu.shape != (S,) or pi.shape != (S, A):
        raise ValueError("shape mismatch")
    for x in (P, mu, pi):
        if np.any(x < 0) or not np.allclose(x.sum(axis=-1), 1.0):
            raise ValueError("not a distribution")
    if isinstance(H, bool) or not isinstance(H, (int, np.integer)) or H < 1:
        raise ValueError("bad H")
    return P, r, mu, int(H), pi


def _backward(P, r, pi, steps):
    V = np.zeros(P.shape[0])
    for _ in range(steps):
        V = (pi * (r + P @ V)).sum(axis=1)
    return V


# ---- wrong -------------------------------------------------------------------------------------

def fh_sign_flipped(P, r, mu, H, pi):
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    return -float(mu @ _backward(P, r, pi, H))


def fh_h_plus_one_steps(P, r, mu, H, pi):
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    return float(mu @ _backward(P, r, pi, H + 1))


def fh_h_minus_one_steps(P, r, mu, H, pi):
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    return float(mu @ _backward(P, r, pi, H - 1))


def fh_forgets_mu(P, r, mu, H, pi):
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    return float(_backward(P, r, pi, H).mean())


def fh_starts_in_state_zero(P, r, mu, H, pi):
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    return float(_backward(P, r, pi, H)[0])


def fh_max_backup(P, r, mu, H, pi):
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    V = np.zeros(P.shape[0])
    for _ in range(H):
        V = (r + P @ V).max(axis=1)
    return float(mu @ V)


def fh_forward_wrong_contraction(P, r, mu, H, pi):
    """'Forward' induction that indexes V by the current state: Σ_s P(s'|s, a) V(s)."""
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    V = np.zeros(P.shape[0])
    for _ in range(H):
        V = (pi * (r + np.einsum("sat,s->sa", P, V))).sum(axis=1)
    return float(mu @ V)


def fh_forward_distribution_off_by_one(P, r, mu, H, pi):
    """State distributions d_0..d_H (H + 1 of them): one reward too many."""
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    d, J = mu, 0.0
    P_pi, r_pi = np.einsum("sa,sat->st", pi, P), (pi * r).sum(axis=1)
    for _ in range(H + 1):
        J += d @ r_pi
        d = d @ P_pi
    return float(J)


def fh_policy_transposed(P, r, mu, H, pi):
    """Weights Q_h by π read as (A, S): only right when π is the same in every state."""
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    S, A = pi.shape
    pi_wrong = pi.T.reshape(S, A)
    V = np.zeros(S)
    for _ in range(H):
        V = (pi_wrong * (r + P @ V)).sum(axis=1)
    return float(mu @ V)


def fh_sums_over_states(P, r, mu, H, pi):
    """V_h = Σ over the wrong axis of π Q (states, not actions): has the right shape only when S = A."""
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    V = np.zeros(P.shape[0])
    for _ in range(H):
        V = (pi * (r + P @ V)).sum(axis=0)
    return float(mu @ V)


def fh_transposed_P(P, r, mu, H, pi):
    """Σ_s P[s, a, s'] V(s): P read as P[s', a, s]."""
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    V = np.zeros(P.shape[0])
    for _ in range(H):
        V = (pi * (r + np.einsum("tas,t->sa", P, V))).sum(axis=1)
    return float(mu @ V)


def fh_no_validation(P, r, mu, H, pi):
    P, r, mu, pi = (np.asarray(x, dtype=float) for x in (P, r, mu, pi))
    V = np.zeros(P.shape[0])
    for _ in range(int(H)):
        V = (pi * (r + P @ V)).sum(axis=1)
    return float(mu @ V)


def fh_validates_only_shapes(P, r, mu, H, pi):
    P, r, mu, pi = (np.asarray(x, dtype=float) for x in (P, r, mu, pi))
    S, A = P.shape[:2]
    if r.shape != (S, A) or mu.shape != (S,) or pi.shape != (S, A):
        raise ValueError("shape mismatch")
    if H < 1:
        raise ValueError("bad H")
    return float(mu @ _backward(P, r, pi, int(H)))


# ---- correct -----------------------------------------------------------------------------------

def fh_loops(P, r, mu, H, pi):
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    S, A = pi.shape
    V = [0.0] * S
    for _ in range(H):
        V = [sum(pi[s, a] * (r[s, a] + sum(P[s, a, t] * V[t] for t in range(S))) for a in range(A))
             for s in range(S)]
    return float(sum(mu[s] * V[s] for s in range(S)))


def fh_forward_distributions(P, r, mu, H, pi):
    """d_{h+1}(s') = Σ_s d_h(s) Σ_a π(a|s) P(s'|s, a) and J = Σ_h d_h · r_π: forward, and right."""
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    P_pi, r_pi = np.einsum("sa,sat->st", pi, P), (pi * r).sum(axis=1)
    d, J = mu, 0.0
    for _ in range(H):
        J += d @ r_pi
        d = d @ P_pi
    return float(J)


def fh_matrix_powers(P, r, mu, H, pi):
    """J = Σ_{h=0}^{H−1} μᵀ P_π^h r_π in closed form."""
    P, r, mu, H, pi = _validated(P, r, mu, H, pi)
    P_pi, r_pi = np.einsum("sa,sat->st", pi, P), (pi * r).sum(axis=1)
    return float(sum(mu @ np.linalg.matrix_power(P_pi, h) @ r_pi for h in range(H)))


EXERCISES = [
    Exercise("test_finite_horizon_objective", "finite_horizon_objective",
             wrong=[fh_sign_flipped, fh_h_plus_one_steps, fh_h_minus_one_steps, fh_forgets_mu,
                    fh_starts_in_state_zero, fh_max_backup, fh_forward_wrong_contraction,
                    fh_forward_distribution_off_by_one, fh_policy_transposed, fh_no_validation,
                    fh_validates_only_shapes, fh_sums_over_states, fh_transposed_P],
             correct=[fh_loops, fh_forward_distributions, fh_matrix_powers],
             hints={"fh_h_plus_one_steps": "H + 1 backup steps", "fh_forward_distribution_off_by_one": "H + 1 backup steps",
                    "fh_h_minus_one_steps": "H − 1 backup steps", "fh_forgets_mu": "averaged V_0 over states uniformly",
                    "fh_starts_in_state_zero": "returned V_0 at state 0", "fh_max_backup": "backed up max_a",
                    "fh_forward_wrong_contraction": "a sum over the *last* axis of P",
                    "fh_transposed_P": "you used P transposed", "fh_sums_over_states": "you summed over the states",
                    "fh_sign_flipped": "right size, wrong sign"}),
]
