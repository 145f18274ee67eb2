"""Tests for pgcourse.tabular.variance: per-trajectory terms and lemma terms against independent routes.

Routes: plain loops over trajectories and steps; autograd of the exact
objective (the lemma's sums must reproduce ∇_θ J); Monte Carlo means and variances within a few
standard errors at fixed seeds; the best constant baseline against a grid of constants.
"""

import numpy as np
import pytest

from pgcourse.tabular import variance
from pgcourse.tabular.moments import exact_moments
from pgcourse.tabular.mdp import (
    chain_mdp,
    enumerate_trajectories,
    exact_policy_gradient,
    policy_evaluation,
    random_mdp,
    sample_trajectories,
    two_state_mdp,
)
from pgcourse.tabular.policies import grad_log_tabular_softmax

CASES = [(2, 2, 3, 0), (3, 2, 3, 1), (2, 3, 4, 2)]  # (S, A, H, seed), small enough to enumerate


def _setup(S, A, H, seed):
    mdp = random_mdp(S, A, H=H, seed=seed)
    theta = np.random.default_rng(seed + 50).normal(size=(S, A))
    return mdp, theta, enumerate_trajectories(mdp, theta)


def _rtg(r):
    return np.flip(np.cumsum(np.flip(r, -1), -1), -1)


def _loop_terms(theta, states, actions, weights):
    out = np.zeros((len(states),) + theta.shape)
    for i in range(len(states)):
        for h in range(states.shape[1]):
            out[i] += grad_log_tabular_softmax(theta, states[i, h], actions[i, h]) * weights[i, h]
    return out


def test_score_weighted_terms_equal_the_loop():
    mdp, theta, _ = _setup(3, 2, 4, 0)
    s, a, r = sample_trajectories(mdp, theta, 7, seed=1)
    w = np.random.default_rng(2).normal(size=r.shape)
    np.testing.assert_allclose(variance.score_weighted_terms(theta, s, a, w), _loop_terms(theta, s, a, w), atol=1e-14)
    with pytest.raises(ValueError, match="weights must have the shape"):
        variance.score_weighted_terms(theta, s, a, w[:, :1])


def test_per_trajectory_terms_call_the_estimator_one_trajectory_at_a_time():
    mdp, theta, traj = _setup(2, 2, 3, 0)
    calls = []

    def estimate(s, a, r):
        calls.append(s.shape)
        return variance.score_weighted_terms(theta, s, a, _rtg(r)).mean(0)

    terms = variance.per_trajectory_terms(estimate, traj)
    assert set(calls) == {(1, 3)} and len(calls) == len(traj.probs)
    np.testing.assert_allclose(terms, variance.score_weighted_terms(theta, traj.states, traj.actions, _rtg(traj.rewards)))


@pytest.mark.parametrize("S, A, H, seed", CASES)
def test_lemma_terms_zero_below_diagonal_and_sum_to_the_gradient(S, A, H, seed):
    mdp, theta, traj = _setup(S, A, H, seed)
    T = variance.lemma_terms(mdp, theta)
    assert T.shape == (H, H, S, A)
    norms = variance.lemma_term_norms(T)
    assert norms[np.tril_indices(H, k=-1)].max() < 1e-12             # the lemma
    assert norms[np.triu_indices(H)].min() > 1e-6                    # and only below the diagonal
    exact = exact_policy_gradient(mdp, theta)                        # autograd: an independent route
    np.testing.assert_allclose(T.sum(axis=(0, 1)), exact, atol=1e-12)
    np.testing.assert_allclose(np.einsum("htsa,ht->sa", T, np.triu(np.ones((H, H)))), exact, atol=1e-12)
    # one entry by a plain loop over the enumerated trajectories
    h, t = H - 1, 0
    loop = sum(p * grad_log_tabular_softmax(theta, traj.states[m, h], traj.actions[m, h]) * traj.rewards[m, t]
               for m, p in enumerate(traj.probs))
    np.testing.assert_allclose(T[h, t], loop, atol=1e-15)


@pytest.mark.parametrize("S, A, H, seed", CASES)
def test_reinforce_rtg_and_baselines_are_unbiased(S, A, H, seed):
    mdp, theta, traj = _setup(S, A, H, seed)
    exact = exact_policy_gradient(mdp, theta)
    G = _rtg(traj.rewards)
    V = policy_evaluation(mdp, theta).V
    weights = {
        "reinforce": np.repeat(G[:, :1], H, axis=1),
        "rtg": G,
        "constant": G - 3.0,
        "state": G - variance.baseline_per_step(np.arange(S, dtype=float), traj.states),
        "value": G - variance.baseline_per_step(V, traj.states),
    }
    var = {}
    for name, w in weights.items():
        m = exact_moments(variance.score_weighted_terms(theta, traj.states, traj.actions, w), traj.probs)
        np.testing.assert_allclose(m.mean, exact, atol=1e-12, err_msg=name)
        var[name] = m.total_variance
    assert var["value"] < var["rtg"]


def test_exact_variance_matches_monte_carlo():
    mdp, theta, traj = _setup(3, 2, 3, 1)
    w = lambda r: _rtg(r)  # noqa: E731
    exact = exact_moments(variance.score_weighted_terms(theta, traj.states, traj.actions, w(traj.rewards)),
                                   traj.probs)
    n = 40_000
    s, a, r = sample_trajectories(mdp, theta, n, seed=3)
    g = variance.score_weighted_terms(theta, s, a, w(r)).reshape(n, -1)
    se_mean = g.std(0) / np.sqrt(n)
    assert np.all(np.abs(g.mean(0) - exact.mean.ravel()) < 5 * se_mean + 1e-12)
    sq = np.sum((g - exact.mean.ravel()) ** 2, axis=1)                # unbiased for tr Cov given the exact mean
    assert abs(sq.mean() - exact.total_variance) < 5 * sq.std() / np.sqrt(n)


def test_baseline_per_step_hand_case_and_errors():
    states = np.array([[0, 1, 1], [2, 0, 1]])
    np.testing.assert_array_equal(variance.baseline_per_step(np.array([10.0, 20.0, 30.0]), states),
                                  [[10, 20, 20], [30, 10, 20]])
    steps = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])  # (H, S): b_h(s) = steps[h, s]
    np.testing.assert_array_equal(variance.baseline_per_step(steps, states), [[0, 4, 7], [2, 3, 7]])
    with pytest.raises(ValueError, match=r"shape \(S,\) or \(H, S\)"):
        variance.baseline_per_step(np.zeros((2, 3)), states)


def test_best_constant_baseline_minimises_the_variance():
    mdp, theta, traj = _setup(2, 2, 4, 3)
    G = _rtg(traj.rewards)

    def total_variance(c):
        terms = variance.score_weighted_terms(theta, traj.states, traj.actions, G - c)
        return exact_moments(terms, traj.probs).total_variance

    c_star = variance.best_constant_baseline(theta, traj, G)
    grid = np.linspace(c_star - 2, c_star + 2, 41)
    assert total_variance(c_star) <= min(total_variance(c) for c in grid) + 1e-12
    assert total_variance(c_star) < total_variance(0.0)


def test_best_constant_baseline_deterministic_policy_and_named_mdps():
    mdp = random_mdp(2, 1, H=3, seed=0)  # one action: the score is exactly zero
    theta = np.zeros((2, 1))
    traj = enumerate_trajectories(mdp, theta)
    assert variance.best_constant_baseline(theta, traj, _rtg(traj.rewards)) == 0.0
    two = two_state_mdp(H=2)
    traj = enumerate_trajectories(two, np.zeros((2, 2)))
    # θ = 0: G_0 = G_1 + 0 and u = ∇_0 + ∇_1; by hand c* = E⟨g_0, u⟩ / E‖u‖² = 1/2 here
    assert variance.best_constant_baseline(np.zeros((2, 2)), traj, _rtg(traj.rewards)) == pytest.approx(0.5)
    chain = chain_mdp(3, H=4)
    th = np.zeros((3, 2))
    T = variance.lemma_terms(chain, th)
    assert variance.lemma_term_norms(T)[np.tril_indices(4, k=-1)].max() < 1e-12
