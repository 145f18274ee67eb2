"""Tests for pgcourse.tabular.mdp: every exact quantity against an independent route.

Routes: hand-computed values; enumeration of all trajectories vs dynamic programming (1e-12);
autograd vs central finite differences; the policy gradient theorem's closed form; a long truncated
sum vs the linear solve; brute force over deterministic policies vs DP; Monte Carlo within 4
standard errors at fixed seeds (sampling and enumeration: tests/test_mdp_sampling.py).
"""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from pgcourse.tabular.mdp import (
    TabularMDP,
    chain_mdp,
    enumerate_trajectories,
    exact_objective,
    exact_policy_gradient,
    local_optimum_mdp,
    objective_from_policy,
    optimal_value,
    policy_evaluation,
    random_mdp,
    two_state_mdp,
)
from pgcourse.tabular.policies import tabular_softmax

torch.set_num_threads(1)

FINITE = [(2, 2, 3), (3, 2, 4), (2, 3, 5)]  # (S, A, H) small enough to enumerate


def _theta(S, A, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed + 100).normal(size=(S, A))


def _J(mdp, theta):
    return exact_objective(mdp, theta).item()


def _state_visitation(mdp, theta):
    """d^π exactly, for the policy gradient theorem's closed form (a route independent of autograd).

    Finite horizon: d_h(s) = Pr^π(s_h = s), (H, S). Discounted: d^π_μ = (1 − γ) μᵀ (I − γ P_π)^{-1}, (S,).
    """
    P_pi = np.einsum("sa,sat->st", tabular_softmax(theta), mdp.P)
    if mdp.finite_horizon:
        d = [mdp.mu]
        for _ in range(mdp.H - 1):
            d.append(d[-1] @ P_pi)
        return np.stack(d)
    return (1 - mdp.gamma) * np.linalg.solve((np.eye(mdp.S) - mdp.gamma * P_pi).T, mdp.mu)


# ----------------------------------------------------------------------------- construction
def _valid():
    return dict(P=np.full((2, 2, 2), 0.5), r=np.zeros((2, 2)), mu=np.array([0.5, 0.5]), H=3)


@pytest.mark.parametrize("change, match", [
    (dict(P=np.full((2, 2), 0.5)), r"P must have shape \(S, A, S\)"),
    (dict(P=np.full((2, 2, 3), 1 / 3)), r"P must have shape \(S, A, S\)"),
    (dict(r=np.zeros((2, 3))), r"r must have shape \(S, A\)"),
    (dict(mu=np.array([1.0, 0.0, 0.0])), r"mu must have shape \(S,\)"),
    (dict(r=np.array([[0.0, np.inf], [0.0, 0.0]])), "r contains NaN"),
    (dict(P=np.array([[[1.5, -0.5], [1, 0]], [[1, 0], [1, 0]]])), "non-negative"),
    (dict(P=np.array([[[0.5, 0.4], [1, 0]], [[1, 0], [1, 0]]])), r"sum to 1 .* index \[0, 0\]"),
    (dict(mu=np.array([0.5, 0.6])), "mu must sum to 1"),
    (dict(mu=np.array([np.nan, 1.0])), "mu must be finite"),
    (dict(gamma=0.9), "exactly one of H"),
    (dict(H=None), "exactly one of H"),
    (dict(H=0), "H must be an integer ≥ 1"),
    (dict(H=2.5), "H must be an integer"),
    (dict(H=True), "H must be an integer"),
    (dict(H=None, gamma=1.0), "0 ≤ gamma < 1"),
    (dict(H=None, gamma=-0.1), "0 ≤ gamma < 1"),
    (dict(H=None, gamma="0.9"), "gamma must be a number"),
])
def test_validation_errors(change, match):
    with pytest.raises(ValueError, match=match):
        TabularMDP(**{**_valid(), **change})


def test_mdp_is_frozen_read_only_and_normalized():
    P = np.full((2, 2, 2), 0.5)
    mdp = TabularMDP(P, np.zeros((2, 2)), [0.5, 0.5], gamma=np.float32(0.5))
    P[0, 0, 0] = 7.0  # a copy was taken
    assert mdp.P[0, 0, 0] == 0.5 and mdp.P.dtype == np.float64
    assert (mdp.S, mdp.A, mdp.finite_horizon, type(mdp.gamma)) == (2, 2, False, float)
    with pytest.raises(ValueError):
        mdp.P[0, 0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        mdp.H = 3
    assert type(TabularMDP(mdp.P, np.zeros((2, 2)), [1, 0], H=np.int64(4)).H) is int


def test_random_mdp_seeded_and_validated():
    a, b, c = random_mdp(3, 2, H=4, seed=5), random_mdp(3, 2, H=4, seed=5), random_mdp(3, 2, H=4, seed=6)
    assert np.array_equal(a.P, b.P) and np.array_equal(a.r, b.r) and not np.array_equal(a.P, c.P)
    assert a.P.shape == (3, 2, 3) and a.r.shape == (3, 2) and a.mu.shape == (3,)
    g = random_mdp(2, 2, gamma=0.9, seed=np.random.default_rng(0))
    assert g.gamma == 0.9 and g.H is None
    with pytest.raises(ValueError, match="S must be"):
        random_mdp(0, 2, H=3)
    with pytest.raises(ValueError, match="exactly one"):
        random_mdp(2, 2)


# ----------------------------------------------------------------------------- named MDPs, by hand
def test_two_state_hand_values():
    mdp = two_state_mdp()
    assert mdp.H == 2 and _J(mdp, np.zeros((2, 2))) == pytest.approx(0.5, abs=1e-15)
    np.testing.assert_allclose(exact_policy_gradient(mdp, np.zeros((2, 2))), [[-0.25, 0.25], [0, 0]], atol=1e-15)
    theta = np.array([[0.0, 1.3], [0.2, -0.4]])
    assert _J(mdp, theta) == pytest.approx(tabular_softmax(theta)[0, 1], abs=1e-15)  # J = π(1|0)
    for H in (1, 5, 8):
        assert _J(two_state_mdp(H=H), np.zeros((2, 2))) == pytest.approx((H - 1) / 2, abs=1e-13)
        assert optimal_value(two_state_mdp(H=H)).J == H - 1
    g = 0.9
    assert _J(two_state_mdp(gamma=g), np.zeros((2, 2))) == pytest.approx(g / (2 * (1 - g)), abs=1e-12)
    assert optimal_value(two_state_mdp(gamma=g)).J == pytest.approx(g / (1 - g), abs=1e-12)


def test_chain_myopic_is_suboptimal():
    n, H, small, big = 5, 10, 0.1, 1.0
    mdp = chain_mdp(n, H=H, small=small, big=big)
    assert optimal_value(mdp).J == pytest.approx(big * (H - n + 1))
    myopic = np.eye(2)[mdp.r.argmax(1)]  # greedy in r(s, a): "back" except in the unreachable end
    assert np.all(myopic[:-1, 0] == 1)
    assert mdp.mu @ policy_evaluation(mdp, pi=myopic).V[0] == pytest.approx(small * H)
    assert exact_policy_gradient(mdp, np.zeros((n, 2)))[0, 0] > 0  # at θ = 0, state 0 leans "back"
    forward = np.tile([0.0, 1.0], (n, 1))
    assert mdp.mu @ policy_evaluation(mdp, pi=forward).V[0] == pytest.approx(big * (H - n + 1))
    with pytest.raises(ValueError, match="n must be"):
        chain_mdp(1)


def test_local_optimum_closed_form_and_basins():
    mdp = local_optimum_mdp()  # H = 2, c = 2.5: J(p) = 2 − p/2 + p²
    for p in (0.01, 0.1, 0.25, 0.7, 0.99):  # θ_{0,1} − θ_{0,0} = logit(p)
        theta = np.array([[0.0, np.log(p / (1 - p))], [0.0, 0.0]])
        assert _J(mdp, theta) == pytest.approx(2 - p / 2 + p**2, abs=1e-13)
    assert optimal_value(mdp).J == pytest.approx(2.5)

    def ascend(theta, steps=300, lr=2.0):
        for _ in range(steps):
            theta = theta + lr * exact_policy_gradient(mdp, theta)
        return _J(mdp, theta)

    assert ascend(np.array([[2.0, 0.0], [0.0, 0.0]])) == pytest.approx(2.0, abs=1e-2)  # p ≈ 0.12: local
    assert ascend(np.zeros((2, 2))) == pytest.approx(2.5, abs=1e-2)  # p = 0.5: global
    with pytest.raises(ValueError, match="H must be"):
        local_optimum_mdp(H=1)


# ----------------------------------------------------------------------------- exact objective
def test_objective_types_numpy_tensor_and_graph():
    mdp, theta = random_mdp(3, 2, H=4, seed=0), _theta(3, 2)
    J_np = exact_objective(mdp, theta)
    assert isinstance(J_np, torch.Tensor) and J_np.shape == () and J_np.dtype == torch.float64
    t = torch.tensor(theta, dtype=torch.float32, requires_grad=True)
    J_t = exact_objective(mdp, t)
    J_t.backward()
    assert J_t.item() == pytest.approx(J_np.item(), rel=1e-6) and t.grad is not None
    pi = torch.tensor(tabular_softmax(theta))
    assert objective_from_policy(mdp, pi).item() == pytest.approx(J_np.item(), abs=1e-14)
    with pytest.raises(ValueError, match=r"theta must have shape \(S, A\) = \(3, 2\)"):
        exact_objective(mdp, np.zeros((2, 3)))


@pytest.mark.parametrize("S, A, H", FINITE)
def test_dp_equals_enumeration(S, A, H):
    mdp, theta = random_mdp(S, A, H=H, seed=S + A + H), _theta(S, A, seed=H)
    e = enumerate_trajectories(mdp, theta)
    assert e.probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert abs((e.probs * e.rewards.sum(1)).sum() - _J(mdp, theta)) < 1e-12


def test_discounted_solve_equals_long_truncated_sum():
    g = 0.9
    mdp, theta = random_mdp(4, 3, gamma=g, seed=1), _theta(4, 3)
    pi = tabular_softmax(theta)
    P_pi, r_pi = np.einsum("sa,sat->st", pi, mdp.P), (pi * mdp.r).sum(1)
    d, total = mdp.mu.copy(), 0.0
    for h in range(800):  # γ^800 ≈ 1e-37
        total += g**h * d @ r_pi
        d = d @ P_pi
    assert abs(_J(mdp, theta) - total) < 1e-12


@pytest.mark.parametrize("mdp", [random_mdp(3, 2, H=4, seed=2), random_mdp(3, 3, gamma=0.8, seed=3)])
def test_gradient_against_central_finite_differences(mdp):
    theta = _theta(mdp.S, mdp.A, seed=4)
    grad = exact_policy_gradient(mdp, theta)
    assert grad.shape == (mdp.S, mdp.A) and grad.dtype == np.float64
    # gradcheck compares autograd through J with central finite differences of J, entry by entry
    t = torch.tensor(theta, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: exact_objective(mdp, x), (t,), eps=1e-6, atol=1e-9)
    assert torch.autograd.gradgradcheck(lambda x: exact_objective(mdp, x), (t,), eps=1e-6, atol=1e-7)
    assert np.array_equal(exact_policy_gradient(mdp, t), grad)


def test_policy_gradient_theorem_finite_horizon():
    mdp, theta = random_mdp(4, 3, H=6, seed=7), _theta(4, 3, seed=7)
    pi, (V, Q), d = tabular_softmax(theta), policy_evaluation(mdp, theta), _state_visitation(mdp, theta)
    adv = Q - V[:, :, None]  # A_h(s, a): (H, S, A)
    closed = (d[:, :, None] * pi[None] * adv).sum(0)  # Σ_h d_h(s) π(a|s) A_h(s, a)
    np.testing.assert_allclose(exact_policy_gradient(mdp, theta), closed, atol=1e-13)


def test_policy_gradient_theorem_discounted():
    g = 0.85
    mdp, theta = random_mdp(4, 3, gamma=g, seed=8), _theta(4, 3, seed=8)
    pi, (V, Q), d = tabular_softmax(theta), policy_evaluation(mdp, theta), _state_visitation(mdp, theta)
    closed = d[:, None] * pi * (Q - V[:, None]) / (1 - g)
    np.testing.assert_allclose(exact_policy_gradient(mdp, theta), closed, atol=1e-12)


# ----------------------------------------------------------------------------- values and visitation
def test_policy_evaluation_finite_horizon():
    mdp, theta = random_mdp(3, 2, H=5, seed=9), _theta(3, 2)
    V, Q = policy_evaluation(mdp, theta)
    assert V.shape == (5, 3) and Q.shape == (5, 3, 2)
    assert mdp.mu @ V[0] == pytest.approx(_J(mdp, theta), abs=1e-13)
    np.testing.assert_allclose(Q[-1], mdp.r)  # last step: only the immediate reward
    np.testing.assert_allclose(V, (tabular_softmax(theta) * Q).sum(-1), atol=1e-14)
    per_step = np.broadcast_to(tabular_softmax(theta), (5, 3, 2))  # per-step π, same at each h
    np.testing.assert_allclose(policy_evaluation(mdp, pi=per_step).V, V, atol=1e-14)


def test_policy_evaluation_discounted_bellman():
    mdp, theta = random_mdp(3, 2, gamma=0.7, seed=10), _theta(3, 2)
    V, Q = policy_evaluation(mdp, theta)
    pi = tabular_softmax(theta)
    np.testing.assert_allclose(Q, mdp.r + 0.7 * mdp.P @ (pi * Q).sum(1), atol=1e-13)
    assert mdp.mu @ V == pytest.approx(_J(mdp, theta), abs=1e-13)


def test_state_visitation_finite_against_enumeration():
    mdp, theta = random_mdp(3, 2, H=4, seed=11), _theta(3, 2)
    d = _state_visitation(mdp, theta)
    e = enumerate_trajectories(mdp, theta)
    counts = np.stack([np.bincount(e.states[:, h], weights=e.probs, minlength=3) for h in range(4)])
    np.testing.assert_allclose(d, counts, atol=1e-13)


def test_state_visitation_discounted_against_truncated_sum():
    g = 0.8
    mdp, theta = random_mdp(3, 2, gamma=g, seed=12), _theta(3, 2)
    P_pi = np.einsum("sa,sat->st", tabular_softmax(theta), mdp.P)
    d, total = mdp.mu.copy(), np.zeros(3)
    for h in range(400):
        total += (1 - g) * g**h * d
        d = d @ P_pi
    np.testing.assert_allclose(_state_visitation(mdp, theta), total, atol=1e-13)
    assert _state_visitation(mdp, theta).sum() == pytest.approx(1.0)


def test_policy_argument_errors():
    mdp = random_mdp(2, 2, H=3, seed=0)
    with pytest.raises(ValueError, match="exactly one of theta"):
        policy_evaluation(mdp)
    with pytest.raises(ValueError, match="exactly one of theta"):
        policy_evaluation(mdp, np.zeros((2, 2)), pi=np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="pi .* must sum to 1"):
        policy_evaluation(mdp, pi=np.zeros((2, 2)))  # logits passed as probabilities
    with pytest.raises(ValueError, match=r"pi must have shape \(2, 2\) or \(3, 2, 2\)"):
        policy_evaluation(mdp, pi=np.full((4, 2, 2), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        policy_evaluation(mdp, np.full((2, 2), np.nan))


# ----------------------------------------------------------------------------- optimal value
@pytest.mark.parametrize("mdp", [random_mdp(3, 2, H=4, seed=13), random_mdp(3, 3, gamma=0.9, seed=14)])
def test_optimal_value_dominates_random_softmax_policies(mdp):
    sol = optimal_value(mdp)
    for k in range(20):
        assert sol.J >= _J(mdp, _theta(mdp.S, mdp.A, seed=k, scale=3.0)) - 1e-12
    assert sol.J == pytest.approx(mdp.mu @ policy_evaluation(mdp, pi=sol.pi).V.reshape(-1, mdp.S)[0], abs=1e-12)


def test_optimal_value_finite_matches_brute_force_over_nonstationary_policies():
    mdp = random_mdp(2, 2, H=3, seed=15)
    sol = optimal_value(mdp)
    assert sol.V.shape == (3, 2) and sol.pi.shape == (3, 2, 2)
    best = max(mdp.mu @ policy_evaluation(mdp, pi=np.eye(2)[np.array(acts).reshape(3, 2)]).V[0]
               for acts in itertools.product(range(2), repeat=6))  # all (A^S)^H = 64 policies
    assert sol.J == pytest.approx(best, abs=1e-13)


def test_optimal_value_discounted_matches_brute_force_and_greedy_softmax():
    mdp = random_mdp(4, 3, gamma=0.9, seed=16)
    sol = optimal_value(mdp)
    assert sol.V.shape == (4,) and sol.pi.shape == (4, 3)
    best = max(mdp.mu @ policy_evaluation(mdp, pi=np.eye(3)[list(acts)]).V
               for acts in itertools.product(range(3), repeat=4))  # all A^S = 81 policies
    assert sol.J == pytest.approx(best, abs=1e-12)
    assert _J(mdp, 60.0 * sol.pi) == pytest.approx(sol.J, abs=1e-9)  # softmax → the greedy policy
