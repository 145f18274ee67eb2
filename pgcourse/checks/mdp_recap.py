"""Visible checks for notebook 00 (MDP recap).

`check_finite_horizon_objective` compares the student's backward induction with
`pgcourse.tabular.mdp.policy_evaluation` (itself tested against the enumeration of every trajectory) on a
hand case, a random MDP, the one-step horizon, and bad input.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pgcourse.checks.core import Check
from pgcourse.tabular.mdp import TabularMDP, policy_evaluation, random_mdp, two_state_mdp


def _backward(P, r, H, pi, *, steps=None, backup="expectation"):
    """V_H = 0, Q_h = r + P V_{h+1}, V_h = Σ_a π Q_h (or max_a Q_h); returns V_0, (S,)."""
    V = np.zeros(P.shape[0])
    for _ in range(H if steps is None else steps):
        Q = r + P @ V
        V = Q.max(axis=1) if backup == "max" else (pi * Q).sum(axis=1)
    return V


def _backward_with(P, r, H, pi, next_values, combine):
    V = np.zeros(P.shape[0])
    for _ in range(H):
        V = combine(pi * (r + next_values(P, V)))
    return V


def _mistakes(P, r, mu, H, pi):
    """The right J and the values that plausible mistakes produce. Several can coincide on a small,
    symmetric case: `Check.expect_close` then gives no hint from it and asks the next case."""
    V0 = _backward(P, r, H, pi)
    S, A = pi.shape
    by_actions = lambda x: x.sum(axis=1)                                          # noqa: E731
    current_state = lambda P, V: np.einsum("sat,s->sa", P, V)                     # noqa: E731
    transposed = lambda P, V: np.einsum("tas,t->sa", P, V)                        # noqa: E731
    mistakes = [
        ("you ran H + 1 backup steps: h runs over 0, …, H−1, so there are exactly H rewards.",
         float(mu @ _backward(P, r, H, pi, steps=H + 1))),
        ("you ran H − 1 backup steps: h runs over 0, …, H−1, so there are exactly H rewards.",
         float(mu @ _backward(P, r, H, pi, steps=H - 1))),
        ("you averaged V_0 over states uniformly: J = Σ_s μ(s) V_0(s) weights the start states by μ.",
         float(V0.mean())),
        ("you returned V_0 at state 0: J = Σ_s μ(s) V_0(s) averages over the start state s_0 ∼ μ.", float(V0[0])),
        ("you backed up max_a Q_h(s, a) (the optimal value) instead of Σ_a π(a|s) Q_h(s, a) (the value of π).",
         float(mu @ _backward(P, r, H, pi, backup="max"))),
        ("the next-state values must be Σ_{s'} P(s'|s, a) V_{h+1}(s') (P @ V), a sum over the *last* axis of P.",
         float(mu @ _backward_with(P, r, H, pi, current_state, by_actions))),
        ("you used P transposed: P[s, a, s'] is the probability of moving from s to s', so the next-state values "
         "are Σ_{s'} P[s, a, s'] V(s') (P @ V), not Σ_s P[s, a, s'] V(s).",
         float(mu @ _backward_with(P, r, H, pi, transposed, by_actions))),
    ]
    if S == A:   # summing π(a|s) Q(s, a) over states instead of actions has the right shape only here
        mistakes.append(("V_h(s) = Σ_a π(a|s) Q_h(s, a) sums over the actions (axis=1); you summed over the states "
                         "(axis=0).", float(mu @ _backward_with(P, r, H, pi, lambda P, V: P @ V,
                                                                 lambda x: x.sum(axis=0)))))
    return reference_objective(P, r, mu, H, pi), mistakes


def _random_case(seed: int, S: int, A: int, H: int):
    mdp = random_mdp(S, A, H=H, seed=seed)
    pi = np.random.default_rng(seed + 100).dirichlet(np.ones(A), size=S)  # (S, A)
    return mdp.P.copy(), mdp.r.copy(), mdp.mu.copy(), H, pi


def check_finite_horizon_objective(finite_horizon_objective: Callable, seed: int = 0, S: int = 3, A: int = 2,
                                   H: int = 4) -> None:
    """J(π) = E[Σ_{h=0}^{H−1} r(s_h, a_h)]: hand case, random MDP, H = 1, bad input."""
    check = Check("finite_horizon_objective", finite_horizon_objective)

    def diagnosis(S_: int, A_: int):      # a random case of this size, where the mistakes give different values
        case = f"random MDP (S={S_}, A={A_}, H={H})"
        P_, r_, mu_, H__, pi_ = _random_case(seed, S_, A_, H)
        return case, lambda: (check.call(case, P_, r_, mu_, H__, pi_), _mistakes(P_, r_, mu_, H__, pi_)[1])

    two = two_state_mdp(H=3)
    uniform = np.full((2, 2), 0.5)
    expected, mistakes = _mistakes(two.P, two.r, two.mu, 3, uniform)
    out = check.call("two-state MDP, uniform policy", two.P.copy(), two.r.copy(), two.mu.copy(), 3, uniform)
    check.expect_shape("two-state MDP, uniform policy", out, ())
    check.expect_close("two-state MDP, uniform policy", out, expected, mistakes=mistakes, context=(
        "two_state_mdp(H=3): start in state 0, reward 1 in state 1; under the uniform policy s_1 and s_2 are\n"
        "uniform over {0, 1}, so J = 0 + 1/2 + 1/2 = 1."), diagnose=[diagnosis(S, A), diagnosis(3, 3)])
    switch_then_stay = np.array([[0.0, 1.0], [1.0, 0.0]])
    out = check.call("two-state MDP, optimal policy", two.P.copy(), two.r.copy(), two.mu.copy(), 3, switch_then_stay)
    check.expect_close("two-state MDP, optimal policy", out, 2.0, diagnose=[diagnosis(S, A), diagnosis(3, 3)], context=(
        "switch in state 0, stay in state 1: rewards 0, 1, 1, so J = 2 = H − 1."))

    P, r, mu, H_, pi = _random_case(seed, S, A, H)
    expected, mistakes = _mistakes(P, r, mu, H_, pi)
    out = check.call(f"random MDP (S={S}, A={A}, H={H})", P, r, mu, H_, pi)
    check.expect_close(f"random MDP (S={S}, A={A}, H={H})", out, expected, mistakes=mistakes, context=(
        "expected μ · V_0 from policy evaluation (equal to Σ_τ ρ(τ) R(τ) over every trajectory)."),
        diagnose=[diagnosis(3, 3)])

    out = check.call("one step (H = 1)", P, r, mu, 1, pi)
    check.expect_close("one step (H = 1)", out, float(mu @ (pi * r).sum(axis=1)), context=(
        "with H = 1, J = Σ_s μ(s) Σ_a π(a|s) r(s, a): a single reward."))

    bad_pi = pi.copy()
    bad_pi[0] *= 2
    check.expect_raises("pi rows do not sum to 1", ValueError, P, r, mu, H_, bad_pi,
                        hint="each row π(·|s) must be a probability distribution over actions.")
    check.expect_raises("H = 2.5", ValueError, P, r, mu, 2.5, pi, hint="the horizon is an integer ≥ 1.")
    check.expect_raises("r has the wrong shape", ValueError, P, r[:-1], mu, H_, pi,
                        hint="r must have shape (S, A), matching P of shape (S, A, S).")
    check.done()


def reference_objective(P: np.ndarray, r: np.ndarray, mu: np.ndarray, H: int, pi: np.ndarray) -> float:
    """J(π) = μ · V_0 through `TabularMDP` and `policy_evaluation`: the route the check trusts."""
    mdp = TabularMDP(P, r, mu, H=H)
    return float(mu @ policy_evaluation(mdp, pi=pi).V[0])
