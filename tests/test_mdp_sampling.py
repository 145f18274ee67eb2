"""Tests for pgcourse.tabular.mdp's sampling and enumeration, against the exact quantities of
tests/test_mdp.py: sampled frequencies, returns and REINFORCE gradients within 4 standard errors
at fixed seeds; each enumerated probability is the trajectory likelihood ρ_θ(τ), recomputed
independently, and the enumerated REINFORCE estimators average to the exact gradient.
"""

import numpy as np
import pytest

from pgcourse.tabular.mdp import (chain_mdp, enumerate_trajectories, exact_policy_gradient, random_mdp, sample_trajectories,
                          two_state_mdp)
from pgcourse.tabular.policies import grad_log_tabular_softmax_batch, tabular_softmax
from test_mdp import _J, _theta


# ----------------------------------------------------------------------------- sampling
def test_sampling_shapes_dtypes_and_seeds():
    mdp, theta = random_mdp(3, 2, H=6, seed=17), _theta(3, 2)
    tr = sample_trajectories(mdp, theta, 50, seed=0)
    states, actions, rewards = tr
    assert states.shape == actions.shape == rewards.shape == (50, 6)
    assert states.dtype == actions.dtype == np.int64 and rewards.dtype == np.float64
    assert states.min() >= 0 and states.max() < 3 and actions.min() >= 0 and actions.max() < 2
    np.testing.assert_array_equal(rewards, mdp.r[states, actions])
    again = sample_trajectories(mdp, theta, 50, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(tr, again))
    other = sample_trajectories(mdp, theta, 50, seed=1)
    assert not np.array_equal(tr.states, other.states)
    via_pi = sample_trajectories(mdp, None, 50, np.random.default_rng(0), pi=tabular_softmax(theta))
    assert all(np.array_equal(x, y) for x, y in zip(tr, via_pi))


def test_sampling_never_takes_zero_probability_steps():
    mdp = two_state_mdp(H=6)  # deterministic P, μ = δ_0
    pi = np.array([[1.0, 0.0], [0.0, 1.0]])  # stay in 0 forever
    s, a, _ = sample_trajectories(mdp, None, 200, 3, pi=pi)
    assert np.all(s == 0) and np.all(a == 0)


def test_sampled_trajectory_frequencies_match_enumeration():
    mdp, theta = chain_mdp(3, H=4), _theta(3, 2)  # P has zeros: some trajectories are impossible
    e = enumerate_trajectories(mdp, theta)
    N = 50_000
    s, a, _ = sample_trajectories(mdp, theta, N, seed=4)
    code = lambda st, ac: (st * 2 + ac) @ (6 ** np.arange(4))  # a trajectory as one integer
    sampled, exact = code(s, a), code(e.states, e.actions)
    assert set(sampled) <= set(exact)  # never an impossible trajectory
    freq = (sampled[:, None] == exact[None]).mean(0)
    se = np.sqrt(e.probs * (1 - e.probs) / N)
    assert np.all(np.abs(freq - e.probs) < 4 * se)


def test_monte_carlo_return_within_standard_errors():
    mdp, theta = random_mdp(4, 3, H=5, seed=18), _theta(4, 3)
    ret = sample_trajectories(mdp, theta, 20_000, seed=1).rewards.sum(1)  # R(τ): (N,)
    se = ret.std(ddof=1) / np.sqrt(len(ret))
    assert abs(ret.mean() - _J(mdp, theta)) < 4 * se


def test_monte_carlo_reinforce_gradient_within_standard_errors():
    mdp, theta = random_mdp(3, 2, H=4, seed=19), _theta(3, 2)
    s, a, r = sample_trajectories(mdp, theta, 20_000, seed=2)
    per_traj = grad_log_tabular_softmax_batch(theta, s, a).sum(1) * r.sum(1)[:, None, None]  # (N, S, A)
    se = per_traj.std(0, ddof=1) / np.sqrt(len(r))
    assert np.all(np.abs(per_traj.mean(0) - exact_policy_gradient(mdp, theta)) < 4 * se + 1e-12)


def test_monte_carlo_discounted_truncated_return():
    g, H = 0.8, 60  # truncation bias ≤ γ^H max|r|/(1−γ) ≈ 7e-6
    mdp, theta = random_mdp(3, 2, gamma=g, seed=20), _theta(3, 2)
    r = sample_trajectories(mdp, theta, 10_000, seed=3, H=H).rewards
    ret = r @ g ** np.arange(H)
    se = ret.std(ddof=1) / np.sqrt(len(ret))
    assert abs(ret.mean() - _J(mdp, theta)) < 4 * se + g**H / (1 - g)


def test_sampling_errors():
    fin, disc = random_mdp(2, 2, H=3, seed=0), random_mdp(2, 2, gamma=0.9, seed=0)
    theta = np.zeros((2, 2))
    with pytest.raises(ValueError, match="needs a truncation horizon"):
        sample_trajectories(disc, theta, 10, 0)
    with pytest.raises(ValueError, match="horizon H = 3"):
        sample_trajectories(fin, theta, 10, 0, H=5)
    with pytest.raises(ValueError, match="N must be"):
        sample_trajectories(fin, theta, 0, 0)
    with pytest.raises(ValueError, match="H must be"):
        sample_trajectories(disc, theta, 10, 0, H=0)
    with pytest.raises(ValueError, match="theta must have shape"):
        sample_trajectories(fin, np.zeros(2), 10, 0)


# ----------------------------------------------------------------------------- enumeration
def test_enumeration_probabilities_are_the_trajectory_likelihood():
    mdp, theta = random_mdp(2, 3, H=3, seed=21), _theta(2, 3)
    st, ac, rw, pr = enumerate_trajectories(mdp, theta)
    assert st.shape == ac.shape == rw.shape == (6**3, 3) and pr.shape == (6**3,)
    assert len({tuple(x) for x in np.concatenate([st, ac], 1)}) == 6**3  # all distinct
    pi = tabular_softmax(theta)
    # ρ_θ(τ) = μ(s_0) Π_h π(a_h|s_h) Π_{h<H−1} P(s_{h+1}|s_h, a_h), recomputed independently
    rho = mdp.mu[st[:, 0]] * pi[st, ac].prod(1) * mdp.P[st[:, :-1], ac[:, :-1], st[:, 1:]].prod(1)
    np.testing.assert_allclose(pr, rho, rtol=1e-13)
    np.testing.assert_array_equal(rw, mdp.r[st, ac])


def test_enumeration_drops_zero_probability_trajectories():
    e = enumerate_trajectories(two_state_mdp(H=4), np.zeros((2, 2)))
    assert len(e.probs) == 2**4  # deterministic P and μ = δ_0: only the action choices branch
    np.testing.assert_allclose(e.probs, 1 / 16)


def test_exact_expectation_of_reinforce_estimators_is_the_gradient():
    mdp, theta = random_mdp(2, 2, H=4, seed=22), _theta(2, 2)
    st, ac, rw, pr = enumerate_trajectories(mdp, theta)
    score = grad_log_tabular_softmax_batch(theta, st, ac)  # (M, H, S, A)
    reinforce = score.sum(1) * rw.sum(1)[:, None, None]
    rtg = np.cumsum(rw[:, ::-1], axis=1)[:, ::-1]  # Σ_{t=h}^{H−1} r_t
    reward_to_go = (score * rtg[:, :, None, None]).sum(1)
    exact = exact_policy_gradient(mdp, theta)
    np.testing.assert_allclose(np.einsum("m,msa->sa", pr, reinforce), exact, atol=1e-12)
    np.testing.assert_allclose(np.einsum("m,msa->sa", pr, reward_to_go), exact, atol=1e-12)


def test_enumeration_guards():
    with pytest.raises(ValueError, match=r"\(S·A\)\^H = \(3·3\)\^8"):
        enumerate_trajectories(random_mdp(3, 3, H=8, seed=0), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="exceeds max_trajectories = 10"):
        enumerate_trajectories(random_mdp(2, 2, H=2, seed=0), np.zeros((2, 2)), max_trajectories=10)
    with pytest.raises(ValueError, match="finite-horizon"):
        enumerate_trajectories(random_mdp(2, 2, gamma=0.5, seed=0), np.zeros((2, 2)))
