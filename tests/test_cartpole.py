"""CartPole REINFORCE: rollout masking against a single env replay, the loss's gradient against the
estimator built by hand, the weights (each baseline against a loop), a short graded training run,
the pictures against their data, the package's import graph, and silence on stderr."""

import dataclasses
import subprocess
import sys
from pathlib import Path

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
    norm = reinforce_weights(r, m)
    assert abs(norm[valid].mean()) < 1e-5 and abs(norm[valid].std() - 1) < 1e-4 and np.all(norm[~valid] == 0)
    with pytest.raises(ValueError, match="weighting"):
        reinforce_weights(r, m, "advantage")


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_baselines_against_a_loop(batch, gamma):
    """b_h: mean of G_{j,h} over the envs alive at h, τ_i included; leave-one-out: over j ≠ i alive (0 if none)."""
    r, m = batch.rewards, batch.mask
    N, T = m.shape
    G = np.zeros((N, T))
    for i in range(N):
        for h in reversed(range(int(batch.lengths[i]))):
            G[i, h] = r[i, h] + (gamma * G[i, h + 1] if h + 1 < T else 0.0)
    mean_b, loo_b = np.zeros((N, T)), np.zeros((N, T))
    for i in range(N):
        for h in range(int(batch.lengths[i])):
            alive = [j for j in range(N) if m[j, h]]
            mean_b[i, h] = np.mean([G[j, h] for j in alive])
            others = [G[j, h] for j in alive if j != i]
            loo_b[i, h] = np.mean(others) if others else 0.0
    for weighting, b in (("reward_to_go_baseline", mean_b), ("reward_to_go_loo_baseline", loo_b)):
        w = reinforce_weights(r, m, weighting, gamma=gamma, normalize=False)
        np.testing.assert_allclose(w, (G - b) * m, rtol=1e-5, atol=1e-3, err_msg=weighting)
    assert np.any(batch.lengths == T) and np.sum(batch.lengths == T) == 1  # a step with one env alive: LOO b = 0


def test_baselines_in_expectation_by_enumerating_pairs():
    """Exact E[ĝ] over every pair (τ_1, τ_2) of a small fixed-horizon MDP (N = 2, γ = 1, all alive):
    leave-one-out gives ∇J; the batch mean that includes τ_i gives (1 − 1/N) ∇J = ∇J / 2."""
    from pgcourse.tabular.mdp import enumerate_trajectories, exact_policy_gradient, random_mdp
    from pgcourse.tabular.policies import grad_log_tabular_softmax_batch

    mdp = random_mdp(S=2, A=2, H=3, seed=4)
    theta = np.random.default_rng(4).normal(size=(2, 2))
    traj = enumerate_trajectories(mdp, theta)
    M = len(traj.probs)
    first, second = np.repeat(np.arange(M), M), np.tile(np.arange(M), M)  # every ordered pair
    probs = traj.probs[first] * traj.probs[second]
    score = grad_log_tabular_softmax_batch(theta, traj.states, traj.actions)  # (M, H, S, A)
    exact = exact_policy_gradient(mdp, theta)
    for weighting, factor in (("reward_to_go_loo_baseline", 1.0), ("reward_to_go_baseline", 0.5)):
        mean = np.zeros_like(exact)
        for k in range(M * M):
            pair = [first[k], second[k]]
            w = reinforce_weights(traj.rewards[pair], np.ones((2, mdp.H)), weighting, gamma=1.0, normalize=False)
            mean += probs[k] * np.einsum("nhsa,nh->sa", score[pair], w) / 2
        np.testing.assert_allclose(mean, factor * exact, atol=1e-5, err_msg=weighting)


def test_sampler_draws_from_the_policy():
    """First actions of 4,000 envs under a policy with π(right | s) = 0.8 everywhere: within 5 standard errors."""
    policy = make_policy(hidden=4, seed=0)
    with torch.no_grad():
        for p in policy.parameters():
            p.zero_()
        policy.net[2].bias.copy_(torch.tensor([0.0, np.log(4.0)]))  # softmax → (0.2, 0.8)
    env = make_vec_env(4000)
    ro = rollout(env, policy, np.random.default_rng(0), seed=0)
    env.close()
    p_hat, se = ro.actions[:, 0].mean(), np.sqrt(0.8 * 0.2 / 4000)
    assert abs(p_hat - 0.8) < 5 * se, p_hat


def test_config_validation():
    with pytest.raises(ValueError, match="gamma"):
        CartPoleConfig(gamma=1.5)
    with pytest.raises(ValueError, match="num_envs"):
        CartPoleConfig(num_envs=0)


def _greedy_returns_one_by_one(policy, num_episodes: int, seed: int) -> np.ndarray:
    """R(τ) of greedy episodes played one at a time in a plain CartPole-v1 (its 500-step limit
    included), each from a start state the vector env draws for `seed`: `evaluate` by another route."""
    vec = make_vec_env(num_episodes)
    vec.reset(seed=seed)
    starts = vec.unwrapped.state.T.copy()  # (N, 4) float64
    vec.close()
    single, returns = gym.make("CartPole-v1"), []
    for s0 in starts:
        single.reset(seed=0)
        single.unwrapped.state = s0.copy()
        obs, ret, done = s0.astype(np.float32), 0.0, False
        while not done:
            with torch.no_grad():
                action = int(policy(torch.from_numpy(obs)).argmax())
            obs, reward, terminated, truncated, _ = single.step(action)
            ret, done = ret + reward, terminated or truncated
        returns.append(ret)
    single.close()
    return np.array(returns)


def test_grading_run_learns_and_is_deterministic():
    h = train_reinforce(GRADING_CONFIG, progress=False)
    assert h.mean_last() >= 150, h.mean_last()
    assert h.env_steps >= GRADING_CONFIG.max_env_steps and not h.solved
    assert len(h.episode_returns) == len(h.episode_end_steps) and np.all(np.diff(h.episode_end_steps) >= 0)
    again = train_reinforce(GRADING_CONFIG, progress=False,
                            loss_fn=lambda lp, w, m: -(m * lp * w).sum() / lp.shape[0])  # a student's loss
    assert again.episode_returns == h.episode_returns
    np.testing.assert_array_equal(evaluate(h.policy, 4), _greedy_returns_one_by_one(h.policy, 4, seed=0))


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


def test_live_curve_is_a_callback_called_after_every_batch():
    from pgcourse.cartpole.plots import LivePlot

    seen = []
    h = train_reinforce(dataclasses.replace(GRADING_CONFIG, max_env_steps=2000), progress=False,
                        callback=lambda hist: seen.append((hist.env_steps, hist.finished)))
    assert len(seen) == len(h.batch_seconds) >= 2 and seen[-1] == (h.env_steps, True)
    assert not any(done for _, done in seen[:-1])
    assert LivePlot().enabled is False  # outside Jupyter it draws nothing


def test_smoothed_curve_is_the_running_mean_of_the_last_100():
    from pgcourse.cartpole import TrainingHistory
    from pgcourse.cartpole.plots import smoothed_curve

    rets = list(np.random.default_rng(0).integers(8, 500, size=250).astype(float))
    h = TrainingHistory(config=GRADING_CONFIG, weighting="return", normalize=False,
                        episode_returns=rets, episode_end_steps=list(range(10, 2510, 10)))
    steps, smooth = smoothed_curve(h)
    np.testing.assert_array_equal(steps, np.arange(10, 2510, 10))
    np.testing.assert_allclose(smooth, [np.mean(rets[max(0, e - 99): e + 1]) for e in range(250)])


def test_learning_curves_draw_the_mean_and_the_range_over_seeds():
    from pgcourse.cartpole.plots import animate_policy, plot_learning_curves, smoothed_curve

    html = animate_policy(make_policy(seed=0), max_frames=20)  # untrained: a short episode
    assert "<script" in html.data and "return" in html.data
    runs = [train_reinforce(dataclasses.replace(GRADING_CONFIG, max_env_steps=3000, seed=s), progress=False)
            for s in range(2)]
    ax = plot_learning_curves({"rtg-baseline": runs}, num_points=50).axes[0]
    mean_line, solved_line = ax.lines
    assert mean_line.get_label() == "rtg-baseline (2 seeds)" and solved_line.get_ydata()[0] == 475
    grid = mean_line.get_xdata()
    curves = np.array([np.interp(grid, *smoothed_curve(h), left=np.nan) for h in runs])  # nan before a first end
    np.testing.assert_allclose(mean_line.get_ydata(), np.nanmean(curves, 0))
    band = ax.collections[0].get_paths()[0].vertices  # fill_between: the upper edge, then the lower one
    assert band[:, 1].max() == pytest.approx(np.nanmax(curves)) and band[:, 1].min() == pytest.approx(np.nanmin(curves))
    with pytest.raises(ValueError, match="at least one"):
        plot_learning_curves({"empty": []})


def test_one_import_path_for_the_cartpole_names():
    """Outside the package nothing imports its private modules or the old module names (import
    cycles across all of pgcourse are tests/test_structure.py's)."""
    root = Path(__file__).resolve().parents[1]
    outside = [p for folder in ("pgcourse", "tests", "benchmarks", "solutions", "notebooks", "tools")
               for p in (root / folder).rglob("*") if p.suffix in (".py", ".ipynb")
               and "cartpole" not in p.parent.name and p.name != "test_cartpole.py"]
    for path in outside:
        text = path.read_text()
        for old in ("cartpole._rollout", "cartpole._training", "cartpole_rollout", "cartpole_plots"):
            assert old not in text, f"{path.relative_to(root)} imports {old}"


def test_nothing_on_stderr():
    """A graded notebook cell with any stderr output scores zero: train, evaluate, animate in silence."""
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from pgcourse.cartpole import GRADING_CONFIG, train_reinforce, evaluate\n"
        "from pgcourse.cartpole.plots import LivePlot, animate_policy, plot_learning_curves\n"
        "import dataclasses\n"
        "h = train_reinforce(dataclasses.replace(GRADING_CONFIG, max_env_steps=5000), callback=LivePlot())\n"
        "evaluate(h.policy, 4); evaluate(h.policy, 4, greedy=False)\n"
        "plot_learning_curves([h]); animate_policy(h.policy, max_frames=10)\n"
        "print('done')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    assert "done" in out.stdout


def test_one_sampler_draws_what_rollout_and_the_animation_draw():
    """`CategoricalMLP.sample` is the course's only way to draw CartPole actions: the rollout's draws
    are exactly the sampler's with the same generator, and its frequencies are π_θ(·|s)."""
    import torch
    from pgcourse.cartpole import make_policy, make_vec_env, rollout

    policy, env = make_policy(seed=3), make_vec_env(4)
    batch = rollout(env, policy, np.random.default_rng(5), seed=6)
    sampler = torch.Generator().manual_seed(int(np.random.default_rng(5).integers(2**63 - 1)))
    with torch.no_grad():
        again = np.stack([policy.sample(torch.from_numpy(batch.obs[:, h]), generator=sampler).numpy()
                          for h in range(batch.obs.shape[1])], axis=1)
    assert np.array_equal(again[batch.mask == 1], batch.actions[batch.mask == 1])
    state = torch.zeros(4)
    with torch.no_grad():
        draws = policy.sample(state.expand(20_000, 4), generator=torch.Generator().manual_seed(0)).numpy()
        p = float(policy.distribution(state).probs[1])
    se = np.sqrt(p * (1 - p) / 20_000)
    assert abs(draws.mean() - p) < 5 * se and draws.shape == (20_000,)
