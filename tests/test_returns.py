"""Reward-to-go: hand cases, the plain double loop as an independent route, γ edge cases."""

import numpy as np
import pytest
import torch

from pgcourse.tabular.returns import discounted_reward_to_go, reward_to_go


def loop_rtg(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_h = Σ_{t=h}^{H-1} γ^{t-h} r_t by two plain loops, row by row."""
    r = np.asarray(rewards, dtype=float).reshape(-1, rewards.shape[-1])
    out = np.zeros_like(r)
    for i in range(r.shape[0]):
        for h in range(r.shape[1]):
            out[i, h] = sum(gamma ** (t - h) * r[i, t] for t in range(h, r.shape[1]))
    return out.reshape(rewards.shape)


def test_hand_cases():
    np.testing.assert_array_equal(reward_to_go(np.array([1.0, 2.0, 3.0])), [6.0, 5.0, 3.0])
    np.testing.assert_allclose(discounted_reward_to_go(np.array([1.0, 2.0, 3.0]), 0.5), [2.75, 3.5, 3.0])
    np.testing.assert_array_equal(reward_to_go(np.array([[1, 2, 3], [0, 0, 1]])), [[6, 5, 3], [1, 1, 1]])


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_vectorized_equals_double_loop(gamma):
    rewards = np.random.default_rng(0).normal(size=(3, 2, 9))
    np.testing.assert_allclose(discounted_reward_to_go(rewards, gamma), loop_rtg(rewards, gamma), rtol=1e-12)
    np.testing.assert_allclose(reward_to_go(rewards), loop_rtg(rewards, 1.0), rtol=1e-12)


def test_gamma_edge_cases():
    rewards = np.random.default_rng(1).normal(size=(4, 50))
    np.testing.assert_array_equal(discounted_reward_to_go(rewards, 0.0), rewards)  # only r_h counts
    np.testing.assert_allclose(discounted_reward_to_go(rewards, 1.0), reward_to_go(rewards), rtol=1e-12)
    np.testing.assert_allclose(reward_to_go(rewards)[:, 0], rewards.sum(-1))  # G_0 = R(τ)


def test_long_horizon_is_finite():
    G = discounted_reward_to_go(np.ones(5000), 0.9)
    assert np.all(np.isfinite(G)) and G[0] == pytest.approx(10.0)


def test_torch_in_torch_out():
    r = torch.tensor([[1.0, 2.0, 3.0]])
    G = reward_to_go(r)
    assert isinstance(G, torch.Tensor) and torch.equal(G, torch.tensor([[6.0, 5.0, 3.0]]))
    Gd = discounted_reward_to_go(r, 0.5)
    assert isinstance(Gd, torch.Tensor) and torch.allclose(Gd, torch.tensor([[2.75, 3.5, 3.0]]))


def test_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        discounted_reward_to_go(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="gamma"):
        discounted_reward_to_go(np.ones(3), -0.1)
    with pytest.raises(ValueError, match="NumPy array"):
        reward_to_go([1.0, 2.0])
    with pytest.raises(ValueError, match="scalar"):
        reward_to_go(np.array(1.0))
