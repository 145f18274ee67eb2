"""Tests for pgcourse.tabular.estimators: the REINFORCE estimator against independent routes.

Routes: hand-computed cases; autograd of the full ln ρ_θ(τ) (μ and P included) under different MDPs;
a plain Python loop; autograd of the surrogate (1/N) Σ_i ln ρ_θ(τ_i) R(τ_i); exact unbiasedness by
enumerating every trajectory against `exact_policy_gradient` (1e-10); Monte Carlo within 5 standard
errors at a fixed seed; the exact variance (by enumeration) against the empirical one of many independent terms.
"""

import warnings

import numpy as np
import pytest
import torch

from pgcourse.tabular import mdp as M
from pgcourse.tabular.estimators import (
    grad_log_trajectory_likelihood,
    log_trajectory_likelihood,
    per_trajectory_reinforce_terms,
    reinforce_gradient_estimate,
    validate_trajectories,
)
from pgcourse.tabular.policies import tabular_softmax

SIZES = [(2, 2, 1), (3, 2, 3), (2, 3, 4)]  # (S, A, H), small enough to enumerate


def _theta(S, A, seed=0):
    return np.random.default_rng(seed + 7).normal(size=(S, A))


def _loop_terms(theta, states, actions, rewards):
    """The estimator's terms written as plainly as possible."""
    S, A = theta.shape
    pi = tabular_softmax(theta)
    out = np.zeros((len(states), S, A))
    for i, (s_row, a_row, r_row) in enumerate(zip(states, actions, rewards)):
        for s, a in zip(s_row, a_row):
            out[i, s] += np.eye(A)[a] - pi[s]
        out[i] *= r_row.sum()
    return out


def test_hand_cases():
    theta = np.zeros((2, 2))
    g = grad_log_trajectory_likelihood(theta, np.array([0, 0, 1]), np.array([1, 1, 0]))
    np.testing.assert_allclose(g, [[-1.0, 1.0], [0.5, -0.5]])
    est = reinforce_gradient_estimate(theta, np.array([[0, 0, 1]]), np.array([[1, 1, 0]]), np.array([[1.0, 0.0, 2.0]]))
    np.testing.assert_allclose(est, [[-3.0, 3.0], [1.5, -1.5]])
    # two trajectories: the mean, not the sum
    est2 = reinforce_gradient_estimate(theta, np.array([[0], [1]]), np.array([[1], [1]]), np.array([[2.0], [0.0]]))
    np.testing.assert_allclose(est2, [[-0.5, 0.5], [0.0, 0.0]])


@pytest.mark.parametrize("S, A, H", SIZES + [(4, 3, 7)])
def test_grad_log_likelihood_is_autograd_of_full_log_rho_for_any_P(S, A, H):
    theta = _theta(S, A, H)
    tau = M.sample_trajectories(M.random_mdp(S, A, H=H, seed=1), theta, 3, seed=2)
    ours = grad_log_trajectory_likelihood(theta, tau.states, tau.actions)  # batch form: (3, S, A)
    assert ours.shape == (3, S, A)
    for mdp_seed in (1, 2):  # the same trajectories under two different P and μ
        mdp = M.random_mdp(S, A, H=H, seed=mdp_seed)
        for i in range(3):
            t = torch.tensor(theta, requires_grad=True)
            (grad,) = torch.autograd.grad(log_trajectory_likelihood(mdp, t, tau.states[i], tau.actions[i]), t)
            np.testing.assert_allclose(ours[i], grad.numpy(), atol=1e-12)
            np.testing.assert_allclose(grad_log_trajectory_likelihood(theta, tau.states[i], tau.actions[i]), ours[i])


@pytest.mark.parametrize("S, A, H", SIZES)
def test_log_likelihood_matches_enumerated_probabilities(S, A, H):
    mdp, theta = M.random_mdp(S, A, H=H, seed=3), _theta(S, A, 3)
    enum = M.enumerate_trajectories(mdp, theta)
    log_rho = log_trajectory_likelihood(mdp, theta, enum.states, enum.actions).numpy()
    np.testing.assert_allclose(np.exp(log_rho), enum.probs, rtol=1e-12)


@pytest.mark.parametrize("S, A, H", SIZES)
def test_vectorized_equals_loop_and_autograd_surrogate(S, A, H):
    mdp, theta = M.random_mdp(S, A, H=H, seed=4), _theta(S, A, 4)
    tau = M.sample_trajectories(mdp, theta, 20, seed=5)
    terms = per_trajectory_reinforce_terms(theta, *tau)
    np.testing.assert_allclose(terms, _loop_terms(theta, *tau), atol=1e-12)
    est = reinforce_gradient_estimate(theta, *tau)
    np.testing.assert_allclose(est, terms.mean(axis=0), atol=1e-14)
    t = torch.tensor(theta, requires_grad=True)
    log_pi = torch.log_softmax(t, -1)[torch.as_tensor(tau.states), torch.as_tensor(tau.actions)].sum(1)
    torch.mean(log_pi * torch.as_tensor(tau.rewards.sum(1))).backward()
    np.testing.assert_allclose(est, t.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("S, A, H", SIZES)
def test_exactly_unbiased_by_enumeration(S, A, H):
    mdp, theta = M.random_mdp(S, A, H=H, seed=6), _theta(S, A, 6)
    enum = M.enumerate_trajectories(mdp, theta)
    one_at_a_time = np.stack([reinforce_gradient_estimate(theta, enum.states[m:m + 1], enum.actions[m:m + 1],
                                                          enum.rewards[m:m + 1]) for m in range(len(enum.probs))])
    exact = M.exact_policy_gradient(mdp, theta)
    np.testing.assert_allclose(np.tensordot(enum.probs, one_at_a_time, axes=1), exact, atol=1e-10)
    terms = per_trajectory_reinforce_terms(theta, enum.states, enum.actions, enum.rewards)  # all at once
    np.testing.assert_allclose(terms, one_at_a_time, atol=1e-12)


def test_exact_variance_matches_empirical_and_monte_carlo_within_5_se():
    mdp, theta = M.random_mdp(3, 2, H=4, seed=8), _theta(3, 2, 8)
    tau = M.sample_trajectories(mdp, theta, 20_000, seed=9)
    terms = per_trajectory_reinforce_terms(theta, *tau)
    enum = M.enumerate_trajectories(mdp, theta)
    exact_terms = per_trajectory_reinforce_terms(theta, enum.states, enum.actions, enum.rewards)
    mean = np.tensordot(enum.probs, exact_terms, axes=1)
    variance = float(enum.probs @ ((exact_terms - mean) ** 2).sum(axis=(1, 2)))
    empirical = float(((terms - terms.mean(0)) ** 2).sum(axis=(1, 2)).mean())
    assert abs(empirical - variance) < 0.05 * variance
    se = terms.std(axis=0) / np.sqrt(len(terms))
    assert np.all(np.abs(reinforce_gradient_estimate(theta, *tau) - M.exact_policy_gradient(mdp, theta)) <= 5 * se)


def test_bad_input_raises_value_error():
    theta, s, a, r = np.zeros((3, 2)), np.zeros((2, 4), int), np.zeros((2, 4), int), np.ones((2, 4))
    cases = [
        (reinforce_gradient_estimate, (theta, s, a, r[:, :-1])),          # rewards (N, H − 1)
        (reinforce_gradient_estimate, (theta, s, a, r.sum(1))),           # rewards (N,)
        (reinforce_gradient_estimate, (theta, s, a[:1], r)),              # states/actions mismatch
        (reinforce_gradient_estimate, (theta, s[0], a[0], r[0])),         # one trajectory, not (N, H)
        (reinforce_gradient_estimate, (theta, s + 3, a, r)),              # state = S
        (reinforce_gradient_estimate, (theta, s, a - 1, r)),              # action = −1
        (reinforce_gradient_estimate, (theta, s, a, r * np.nan)),         # NaN rewards
        (reinforce_gradient_estimate, (theta, s.astype(float), a, r)),    # float states
        (reinforce_gradient_estimate, (np.zeros(3), s, a, r)),            # theta not (S, A)
        (grad_log_trajectory_likelihood, (theta, s[0], a[0, :-1])),
        (grad_log_trajectory_likelihood, (theta, np.zeros(0, int), np.zeros(0, int))),  # H = 0
        (grad_log_trajectory_likelihood, (np.full((3, 2), np.inf), s[0], a[0])),
    ]
    for fn, args in cases:
        with pytest.raises(ValueError):
            fn(*args)
    with pytest.raises(ValueError):
        validate_trajectories(theta, s, a, r, ndim=1)


def test_quiet_and_returns_float64():
    theta = 50.0 * _theta(3, 2)  # a near-deterministic policy: no overflow, no warnings
    tau = M.sample_trajectories(M.random_mdp(3, 2, H=3, seed=0), theta, 4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = reinforce_gradient_estimate(theta, *tau)
        log_trajectory_likelihood(M.two_state_mdp(H=2), np.zeros((2, 2)), np.array([0, 0]), np.array([1, 1]))
    assert out.dtype == np.float64 and np.all(np.isfinite(out))
    # an impossible trajectory under this P has ln ρ = −inf, quietly
    assert np.isneginf(float(log_trajectory_likelihood(M.two_state_mdp(H=2), np.zeros((2, 2)),
                                                       np.array([0, 0]), np.array([1, 1]))))
