"""Tests for pgcourse.tabular.policies: softmax policies and their score functions, checked by autograd."""

import numpy as np
import pytest
import torch

from pgcourse.tabular.policies import (
    grad_log_linear_softmax_all_pairs,
    grad_log_tabular_softmax,
    grad_log_tabular_softmax_batch,
    linear_softmax_policy,
    tabular_softmax,
)

torch.set_num_threads(1)


def _theta(S=3, A=4, seed=0):
    return np.random.default_rng(seed).normal(size=(S, A))


def test_tabular_softmax_matches_definition_numpy_and_torch():
    theta = _theta()
    expected = np.exp(theta) / np.exp(theta).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(tabular_softmax(theta), expected, rtol=1e-14)
    out = tabular_softmax(torch.tensor(theta))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-14)


def test_tabular_softmax_hand_case_and_lists():
    np.testing.assert_allclose(tabular_softmax([[0.0, 0.0], [0.0, np.log(3.0)]]), [[0.5, 0.5], [0.25, 0.75]])


@pytest.mark.parametrize("big", [1000.0, -1000.0])
def test_tabular_softmax_no_overflow(big):
    theta = np.array([[big, 0.0], [big, big]])
    for out in (tabular_softmax(theta), tabular_softmax(torch.tensor(theta)).numpy()):
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out.sum(1), 1.0)
    np.testing.assert_allclose(tabular_softmax(theta)[1], [0.5, 0.5])
    assert tabular_softmax(theta)[0, 0] == (1.0 if big > 0 else 0.0)


def test_grad_log_tabular_softmax_against_autograd():
    theta = _theta()
    for s in range(3):
        for a in range(4):
            t = torch.tensor(theta, requires_grad=True)
            torch.log_softmax(t, dim=-1)[s, a].backward()
            g = grad_log_tabular_softmax(theta, s, a)
            np.testing.assert_allclose(g, t.grad.numpy(), atol=1e-14)
            assert np.all(np.delete(g, s, axis=0) == 0)  # e_s ⊗ (…): zero outside row s
            assert abs(g[s].sum()) < 1e-14  # e_a − π(·|s) sums to zero


def test_grad_log_tabular_softmax_hand_case_and_torch_type():
    np.testing.assert_allclose(grad_log_tabular_softmax(np.zeros((2, 2)), 1, 0), [[0, 0], [0.5, -0.5]])
    out = grad_log_tabular_softmax(torch.zeros(2, 2), 1, 0)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), [[0, 0], [0.5, -0.5]])


def test_grad_log_batch_equals_loop_numpy_and_torch():
    theta = _theta()
    rng = np.random.default_rng(1)
    states, actions = rng.integers(0, 3, size=(5, 7)), rng.integers(0, 4, size=(5, 7))
    batch = grad_log_tabular_softmax_batch(theta, states, actions)
    assert batch.shape == (5, 7, 3, 4)
    loop = np.array([[grad_log_tabular_softmax(theta, s, a) for s, a in zip(srow, arow)]
                     for srow, arow in zip(states, actions)])
    np.testing.assert_allclose(batch, loop, atol=1e-15)
    tb = grad_log_tabular_softmax_batch(torch.tensor(theta), torch.tensor(states), torch.tensor(actions))
    np.testing.assert_allclose(tb.numpy(), batch, atol=1e-15)


def test_linear_softmax_with_one_hot_features_is_tabular():
    S, A = 3, 4
    phi = np.eye(S * A).reshape(S, A, S * A)  # φ(s, a) = e_{(s,a)}: θᵀφ(s, a) = θ_{s,a}
    theta = _theta(S, A).reshape(-1)
    np.testing.assert_allclose(linear_softmax_policy(theta, phi), tabular_softmax(theta.reshape(S, A)), rtol=1e-14)
    np.testing.assert_allclose(grad_log_linear_softmax_all_pairs(theta, phi)[1, 2],
                               grad_log_tabular_softmax(theta.reshape(S, A), 1, 2).reshape(-1), atol=1e-15)


def test_linear_softmax_against_autograd():
    rng = np.random.default_rng(2)
    phi, theta = rng.normal(size=(3, 2, 5)), rng.normal(size=5)
    g = grad_log_linear_softmax_all_pairs(theta, phi)
    assert g.shape == (3, 2, 5)
    t = torch.tensor(theta, requires_grad=True)
    pi = linear_softmax_policy(t, torch.tensor(phi))
    assert isinstance(pi, torch.Tensor) and pi.shape == (3, 2)
    torch.log(pi[2, 1]).backward()
    np.testing.assert_allclose(g[2, 1], t.grad.numpy(), atol=1e-13)
    np.testing.assert_allclose(grad_log_linear_softmax_all_pairs(torch.tensor(theta), phi).numpy(), g, atol=1e-15)


def test_validation_errors():
    with pytest.raises(ValueError, match="NaN"):
        tabular_softmax(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="A ≥ 1"):
        tabular_softmax(np.zeros((2, 0)))
    with pytest.raises(ValueError, match=r"\(S, A\)"):
        grad_log_tabular_softmax(np.zeros(3), 0, 0)
    with pytest.raises(ValueError, match="out of range"):
        grad_log_tabular_softmax(np.zeros((2, 2)), 2, 0)
    with pytest.raises(ValueError, match="same shape"):
        grad_log_tabular_softmax_batch(np.zeros((2, 2)), np.zeros(3, int), np.zeros(4, int))
    with pytest.raises(ValueError, match="integer"):
        grad_log_tabular_softmax_batch(np.zeros((2, 2)), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"actions must lie in 0..A−1 = 0..1; got values in 0..2"):
        grad_log_tabular_softmax_batch(np.zeros((2, 2)), np.array([0, 1]), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"d = len\(theta\) = 3"):
        linear_softmax_policy(np.zeros(3), np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"\(d,\)"):
        grad_log_linear_softmax_all_pairs(np.zeros((3, 1)), np.zeros((2, 2, 3)))
