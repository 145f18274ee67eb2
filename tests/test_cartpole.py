"""CartPole REINFORCE: rollout masking against a single env replay, the loss's gradient against the
estimator built by hand, the weights, a short graded training run, the pictures, and silence on stderr."""

import dataclasses
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgcourse.cartpole import (
    GRADING_CONFIG, CartPoleConfig, evaluate, log_probs_of, make_policy, make_vec_env, reinforce_loss,
    reinforce_weights, rollout, train_reinforce,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def batch():
    env = make_vec_env(8)
    ro = rollout(env, make_policy(seed=0), np.random.default_rng(0), seed=0)
    env.close()
    return ro


def test_rollout_shapes_and_mask(batch):
    N, T = batch.actions.shape
    assert (N, T) == (8, batch.lengths.max())
    assert batch.obs.shape == (N, T, 4) and batch.rewards.shape == batch.mask.shape == (N, T)
    assert batch.returns.shape == (N,)
    H = batch.lengths
    assert np.all(H >= 1) and len(np.unique(H)) > 1  # ragged, so the padding is exercised
    steps = np.arange(T)
    np.testing.assert_array_equal(batch.mask, (steps[None, :] < H[:, None]).astype(np.float32))
    assert np.all(batch.rewards[batch.mask == 0] == 0) and np.all(batch.rewards[batch.mask == 1] == 1)
    np.testing.assert_array_equal(batch.returns, (batch.rewards * batch.mask).sum(1))
    np.testing.assert_array_equal(batch.returns, H)


def test_mask_ends_where_a_single_env_terminates(batch):
    """Replay each env's actions in a plain (non-vector) CartPole from the same start state."""
    single = gym.make("CartPole-v1").unwrapped
    for i in range(batch.actions.shape[0]):
        single.reset(seed=0)
        single.state = batch.obs[i, 0].astype(np.float64)
        for h in range(batch.lengths[i]):
            np.testing.assert_allclose(single.state, batch.obs[i, h], atol=1e-5)
            _, _, terminated, _, _ = single.step(int(batch.actions[i, h]))
            assert terminated == (h == batch.lengths[i] - 1), f"env {i}: mask ends at {batch.lengths[i]}, env at {h + 1}"


def test_truncation_is_an_end_too():
    env = gym.make_vec("CartPole-v1", num_envs=16, vectorization_mode="vector_entry_point", max_episode_steps=15)
    ro = rollout(env, make_policy(seed=1), np.random.default_rng(1), seed=1)
    assert ro.lengths.max() == 15 and ro.actions.shape[1] == 15 and ro.lengths.min() < 15
    np.testing.assert_array_equal(ro.returns, ro.lengths)


def test_rollout_is_reproducible():
    a, b = (rollout(make_vec_env(4), make_policy(seed=3), np.random.default_rng(5), seed=7) for _ in range(2))
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.obs, b.obs)


def test_loss_gradient_is_the_reinforce_estimator(batch):
    """∇ L = -(1/N) Σ_i Σ_h ∇ ln π(a_ih | s_ih) w_ih, with each ∇ ln π from its own Categorical."""
    policy = make_policy(seed=0)
    weights = reinforce_weights(batch.rewards, batch.mask)
    params = list(policy.parameters())
    loss = reinforce_loss(log_probs_of(policy, batch.obs, batch.actions), torch.from_numpy(weights),
                          torch.from_numpy(batch.mask))
    auto = torch.autograd.grad(loss, params)
    by_hand = [torch.zeros_like(p) for p in params]
    N = batch.actions.shape[0]
    for i in range(N):
        for h in range(batch.lengths[i]):
            dist = policy.distribution(torch.from_numpy(batch.obs[i, h]))
            g = torch.autograd.grad(dist.log_prob(torch.tensor(batch.actions[i, h])), params)
            for acc, gp in zip(by_hand, g):
                acc -= gp * float(weights[i, h]) / N
    for a, b in zip(auto, by_hand):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_weights_carry_no_gradient():
    log_probs = torch.randn(3, 5, requires_grad=True)
    weights = torch.randn(3, 5, requires_grad=True)
    reinforce_loss(log_probs, weights, torch.ones(3, 5)).backward()
    assert weights.grad is None and log_probs.grad is not None
    torch.testing.assert_close(log_probs.grad, -weights.detach() / 3)


def test_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        reinforce_loss(torch.zeros(3, 5), torch.zeros(3, 5, 1), torch.ones(3, 5))


def test_weightings(batch):
    r, m = batch.rewards, batch.mask
    valid = m > 0
    ret = reinforce_weights(r, m, "return", gamma=1.0, normalize=False)
    np.testing.assert_array_equal(ret, np.where(valid, batch.returns[:, None], 0))
    rtg = reinforce_weights(r, m, "reward_to_go", gamma=1.0, normalize=False)
    np.testing.assert_array_equal(rtg, np.where(valid, batch.lengths[:, None] - np.arange(r.shape[1]), 0))
    adv = reinforce_weights(r, m, "reward_to_go_baseline", gamma=0.99, normalize=False)
    np.testing.assert_allclose((adv * m).sum(0), 0, atol=1e-4)  # b_h = mean over envs alive at h
    norm = reinforce_weights(r, m)
    assert abs(norm[valid].mean()) < 1e-5 and abs(norm[valid].std() - 1) < 1e-4 and np.all(norm[~valid] == 0)
    with pytest.raises(ValueError, match="weighting"):
        reinforce_weights(r, m, "advantage")


def test_config_validation():
    with pytest.raises(ValueError, match="gamma"):
        CartPoleConfig(gamma=1.5)
    with pytest.raises(ValueError, match="num_envs"):
        CartPoleConfig(num_envs=0)


def test_grading_run_learns_and_is_deterministic():
    h = train_reinforce(GRADING_CONFIG, progress=False)
    assert h.mean_last() >= 150, h.mean_last()
    assert h.env_steps >= GRADING_CONFIG.max_env_steps and not h.solved
    assert len(h.episode_returns) == len(h.episode_end_steps) and np.all(np.diff(h.episode_end_steps) >= 0)
    again = train_reinforce(GRADING_CONFIG, progress=False,
                            loss_fn=lambda lp, w, m: -(m * lp * w).sum() / lp.shape[0])  # a student's loss
    assert again.episode_returns == h.episode_returns
    assert evaluate(h.policy, 4).shape == (4,)


def test_training_stops_when_solved():
    h = train_reinforce(dataclasses.replace(GRADING_CONFIG, max_env_steps=200_000, stop_when_solved=True),
                        progress=False)
    assert h.solved and h.steps_to_solve == h.env_steps <= 120_000 and h.mean_last() >= 475


def test_bad_loss_fn_is_named():
    with pytest.raises(ValueError, match="scalar"):
        train_reinforce(dataclasses.replace(GRADING_CONFIG, max_env_steps=100), progress=False,
                        loss_fn=lambda lp, w, m: lp * w * m)
    with pytest.raises(ValueError, match="without grad"):
        train_reinforce(dataclasses.replace(GRADING_CONFIG, max_env_steps=100), progress=False,
                        loss_fn=lambda lp, w, m: (lp.detach() * w * m).sum())


def test_pictures():
    from IPython.display import HTML
    from matplotlib.figure import Figure

    from pgcourse.cartpole_plots import animate_policy, plot_learning_curves

    html = animate_policy(make_policy(seed=0), max_frames=20)  # untrained: a short episode
    assert isinstance(html, HTML) and "<script" in html.data and "return" in html.data
    runs = [train_reinforce(dataclasses.replace(GRADING_CONFIG, max_env_steps=3000, seed=s), progress=False)
            for s in range(2)]
    assert isinstance(plot_learning_curves({"rtg-baseline": runs}), Figure)


def test_nothing_on_stderr():
    """A graded notebook cell with any stderr output scores zero: train, evaluate, animate in silence."""
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from pgcourse.cartpole import GRADING_CONFIG, train_reinforce, evaluate\n"
        "from pgcourse.cartpole_plots import animate_policy, plot_learning_curves\n"
        "import dataclasses\n"
        "h = train_reinforce(dataclasses.replace(GRADING_CONFIG, max_env_steps=5000), live_plot=True)\n"
        "evaluate(h.policy, 4); evaluate(h.policy, 4, greedy=False)\n"
        "plot_learning_curves([h]); animate_policy(h.policy, max_frames=10)\n"
        "print('done')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    assert "done" in out.stdout
