"""Plausible wrong answers (and other correct ones) for notebook 04's exercises."""

import numpy as np
import torch

from pgcourse.tabular.policies import grad_log_tabular_softmax, grad_log_tabular_softmax_batch
from mutation import Exercise

NOTEBOOK = "04_reward_to_go"


def _rtg(r):
    return np.flip(np.cumsum(np.flip(r, -1), -1), -1)


# ---- reward_to_go ---------------------------------------------------------------------------

def rtg_sums_from_zero(rewards):
    return np.cumsum(rewards, axis=-1)                       # Σ_{t≤h}: the past


def rtg_not_flipped_back(rewards):
    return np.cumsum(np.flip(rewards, -1), axis=-1)          # reversed time


def rtg_total_return(rewards):
    rewards = np.asarray(rewards)
    return np.broadcast_to(rewards.sum(-1, keepdims=True), rewards.shape).copy()


def rtg_excludes_current(rewards):
    return _rtg(rewards) - rewards                           # Σ_{t>h}


def rtg_first_axis(rewards):
    return np.cumsum(np.asarray(rewards)[::-1], axis=0)[::-1]  # written for one trajectory (H,)


def rtg_in_place(rewards):
    for h in range(rewards.shape[-1] - 2, -1, -1):           # right values, but overwrites the input
        rewards[..., h] += rewards[..., h + 1]
    return rewards


def rtg_loop(rewards):
    rewards = np.asarray(rewards, dtype=float)
    G = np.zeros_like(rewards)
    for h in range(rewards.shape[-1]):
        G[..., h] = rewards[..., h:].sum(axis=-1)
    return G


def rtg_triangular_matrix(rewards):
    H = np.shape(rewards)[-1]
    return np.asarray(rewards, dtype=float) @ np.tril(np.ones((H, H)))  # [t, h] = 1 if t ≥ h


def rtg_total_minus_past(rewards):
    rewards = np.asarray(rewards, dtype=float)
    past = np.cumsum(rewards, axis=-1) - rewards             # Σ_{t<h} r_t
    return rewards.sum(-1, keepdims=True) - past


def rtg_list_comprehension(rewards):
    rewards = np.asarray(rewards)
    rows = rewards.reshape(-1, rewards.shape[-1])
    return np.array([[row[h:].sum() for h in range(len(row))] for row in rows]).reshape(rewards.shape)


def rtg_apply_along_axis(rewards):
    return np.apply_along_axis(lambda row: np.cumsum(row[::-1])[::-1], -1, np.asarray(rewards))


def rtg_torch(rewards):
    return torch.as_tensor(np.asarray(rewards)).flip(-1).cumsum(-1).flip(-1).numpy()


def rtg_float32(rewards):
    """Correct, in single precision: compared with a float32 tolerance."""
    return np.flip(np.cumsum(np.flip(np.asarray(rewards, dtype=np.float32), -1), -1), -1)


# ---- discounted_reward_to_go ----------------------------------------------------------------

def _backward(rewards, gamma):
    G = np.array(rewards, dtype=float)
    for h in range(G.shape[-1] - 2, -1, -1):
        G[..., h] += gamma * G[..., h + 1]
    return G


def drtg_absolute_power(rewards, gamma):
    t = np.arange(np.shape(rewards)[-1])
    return _rtg(gamma ** t * np.asarray(rewards, dtype=float))   # γ^t, not γ^{t−h}


def drtg_power_off_by_one(rewards, gamma):
    return gamma * _backward(rewards, gamma)                      # γ^{t−h+1}


def drtg_undiscounted(rewards, gamma):
    return _rtg(np.asarray(rewards, dtype=float))


def drtg_forward(rewards, gamma):
    G = np.array(rewards, dtype=float)
    for h in range(1, G.shape[-1]):                               # G_h = r_h + γ G_{h−1}: the past
        G[..., h] += gamma * G[..., h - 1]
    return G


def drtg_reversed(rewards, gamma):
    return np.flip(_backward(rewards, gamma), -1)


def drtg_divides_by_power(rewards, gamma):
    rewards = np.asarray(rewards, dtype=float)
    w = gamma ** np.arange(rewards.shape[-1])
    return _rtg(w * rewards) / w                                  # 0/0 at γ = 0, underflow for long H


def drtg_loop_over_h(rewards, gamma):
    """The definition read left to right: for each h, G_h = Σ_{t≥h} γ^{t−h} r_t (the sum over t as a dot
    product: a Python double loop is O(H²) and takes seconds on the hidden test's H = 2000)."""
    rewards = np.asarray(rewards, dtype=float)
    H = rewards.shape[-1]
    G = np.zeros_like(rewards)
    for h in range(H):
        G[..., h] = rewards[..., h:] @ (float(gamma) ** np.arange(H - h))
    return G


def drtg_power_matrix(rewards, gamma):
    H = np.shape(rewards)[-1]
    t, h = np.arange(H)[:, None], np.arange(H)[None, :]
    M = np.where(t >= h, float(gamma) ** np.maximum(t - h, 0), 0.0)   # [t, h] = γ^{t−h} for t ≥ h
    return np.asarray(rewards, dtype=float) @ M


def drtg_zeros_like_int(rewards, gamma):
    """The backward recursion into np.zeros_like(rewards): integer rewards give an integer G, truncated."""
    rewards = np.asarray(rewards)
    G = np.zeros_like(rewards)
    G[..., -1] = rewards[..., -1]
    for h in range(rewards.shape[-1] - 2, -1, -1):
        G[..., h] = rewards[..., h] + gamma * G[..., h + 1]
    return G


def drtg_torch(rewards, gamma):
    r = torch.as_tensor(np.asarray(rewards, dtype=float))
    G = [r[..., -1]]
    for h in range(r.shape[-1] - 2, -1, -1):
        G.append(r[..., h] + gamma * G[-1])
    return torch.stack(G[::-1], dim=-1).numpy()


def drtg_float32(rewards, gamma):
    """Correct, in single precision: compared with a float32 tolerance."""
    G = np.array(rewards, dtype=np.float32)
    for h in range(G.shape[-1] - 2, -1, -1):
        G[..., h] += np.float32(gamma) * G[..., h + 1]
    return G


# ---- reward_to_go_gradient_estimate ---------------------------------------------------------

def _weighted(theta, states, actions, weights):
    scores = grad_log_tabular_softmax_batch(theta, states, actions)
    return np.einsum("nhsa,nh->sa", scores, weights) / len(weights)


def est_reinforce(theta, states, actions, rewards):
    rewards = np.asarray(rewards, dtype=float)
    return _weighted(theta, states, actions, np.broadcast_to(rewards.sum(1, keepdims=True), rewards.shape))


def est_sums_from_zero(theta, states, actions, rewards):
    return _weighted(theta, states, actions, np.cumsum(rewards, axis=1))


def est_reversed_time(theta, states, actions, rewards):
    return _weighted(theta, states, actions, np.flip(_rtg(rewards), 1))


def est_excludes_current(theta, states, actions, rewards):
    return _weighted(theta, states, actions, _rtg(rewards) - rewards)


def est_sum_not_mean(theta, states, actions, rewards):
    return len(rewards) * _weighted(theta, states, actions, _rtg(rewards))


def est_divides_by_N_minus_1(theta, states, actions, rewards):
    N = len(rewards)
    return N * _weighted(theta, states, actions, _rtg(rewards)) / (N - 1)


def est_mean_over_steps(theta, states, actions, rewards):
    return _weighted(theta, states, actions, _rtg(rewards)) / np.shape(rewards)[1]


def est_sign_flipped(theta, states, actions, rewards):
    return -_weighted(theta, states, actions, _rtg(rewards))


def est_missing_normaliser(theta, states, actions, rewards):
    S, A = np.shape(theta)
    one_hot = np.eye(S)[states][..., :, None] * np.eye(A)[actions][..., None, :]
    return np.einsum("nhsa,nh->sa", one_hot, _rtg(rewards)) / len(rewards)


def est_naive_softmax(theta, states, actions, rewards):
    with np.errstate(over="ignore", invalid="ignore"):              # overflows for large logits
        pi = np.exp(theta) / np.exp(theta).sum(1, keepdims=True)
    S, A = np.shape(theta)
    scores = np.eye(S)[states][..., :, None] * (np.eye(A)[actions] - pi[states])[..., None, :]
    return np.einsum("nhsa,nh->sa", scores, _rtg(rewards)) / len(rewards)


def est_loop(theta, states, actions, rewards):
    N, H = np.shape(rewards)
    total = np.zeros(np.shape(theta))
    for i in range(N):
        for h in range(H):
            G = sum(rewards[i, t] for t in range(h, H))
            total += grad_log_tabular_softmax(theta, states[i, h], actions[i, h]) * G
    return total / N


def est_autograd(theta, states, actions, rewards):
    theta_t = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
    log_pi = torch.log_softmax(theta_t, dim=1)[torch.as_tensor(states), torch.as_tensor(actions)]  # (N, H)
    G = torch.as_tensor(_rtg(np.asarray(rewards, dtype=float)).copy())
    (log_pi * G).sum(1).mean().backward()                         # the surrogate's gradient is the estimate
    return theta_t.grad.numpy()


def est_float32(theta, states, actions, rewards):
    """Correct, in single precision: compared with a float32 tolerance."""
    scores = grad_log_tabular_softmax_batch(theta, states, actions).astype(np.float32)
    return np.einsum("nhsa,nh->sa", scores, _rtg(np.asarray(rewards, dtype=np.float32))) / np.float32(len(rewards))


# ---- baseline_gradient_estimate -------------------------------------------------------------

def _per_step(theta, states, baseline):
    baseline, states = np.asarray(baseline, dtype=float), np.asarray(states)
    if baseline.shape == (np.shape(theta)[0],):
        return baseline[states]
    if baseline.shape == states.shape:
        return baseline
    raise ValueError(f"baseline has shape {baseline.shape}")


def bl_ignored(theta, states, actions, rewards, baseline):
    _per_step(theta, states, baseline)
    return _weighted(theta, states, actions, _rtg(rewards))


def bl_added(theta, states, actions, rewards, baseline):
    return _weighted(theta, states, actions, _rtg(rewards) + _per_step(theta, states, baseline))


def bl_next_step(theta, states, actions, rewards, baseline):
    b = _per_step(theta, states, baseline)
    b_next = np.concatenate([b[:, 1:], np.zeros_like(b[:, :1])], axis=1)
    return _weighted(theta, states, actions, _rtg(rewards) - b_next)


def bl_previous_step(theta, states, actions, rewards, baseline):
    b = _per_step(theta, states, baseline)
    return _weighted(theta, states, actions, _rtg(rewards) - np.roll(b, 1, axis=1))


def bl_from_total_return(theta, states, actions, rewards, baseline):
    rewards = np.asarray(rewards, dtype=float)
    return _weighted(theta, states, actions, rewards.sum(1, keepdims=True) - _per_step(theta, states, baseline))


def bl_broadcast_over_time(theta, states, actions, rewards, baseline):
    baseline = np.asarray(baseline, dtype=float)
    b = baseline if baseline.ndim == 2 else baseline[None, :]     # b[h] instead of b[s_h]
    return _weighted(theta, states, actions, _rtg(rewards) - b)


def bl_indexed_by_action(theta, states, actions, rewards, baseline):
    baseline = np.asarray(baseline, dtype=float)
    b = baseline[actions] if baseline.ndim == 1 else baseline
    return _weighted(theta, states, actions, _rtg(rewards) - b)


def bl_no_validation(theta, states, actions, rewards, baseline):
    baseline = np.asarray(baseline, dtype=float)
    b = baseline[states] if baseline.ndim == 1 else baseline
    return _weighted(theta, states, actions, _rtg(rewards) - b)


def bl_sum_not_mean(theta, states, actions, rewards, baseline):
    return len(rewards) * _weighted(theta, states, actions, _rtg(rewards) - _per_step(theta, states, baseline))


def bl_loop(theta, states, actions, rewards, baseline):
    baseline = np.asarray(baseline, dtype=float)
    N, H = np.shape(rewards)
    S = np.shape(theta)[0]
    if baseline.shape not in ((S,), (N, H)):
        raise ValueError("baseline must have shape (S,) or (N, H)")
    total = np.zeros(np.shape(theta))
    for i in range(N):
        for h in range(H):
            b = baseline[states[i, h]] if baseline.shape == (S,) else baseline[i, h]
            G = sum(rewards[i, t] for t in range(h, H))
            total += grad_log_tabular_softmax(theta, states[i, h], actions[i, h]) * (G - b)
    return total / N


def bl_autograd(theta, states, actions, rewards, baseline):
    b = _per_step(theta, states, baseline)
    theta_t = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
    log_pi = torch.log_softmax(theta_t, dim=1)[torch.as_tensor(states), torch.as_tensor(actions)]
    adv = torch.as_tensor((_rtg(np.asarray(rewards, dtype=float)) - b).copy())
    (log_pi * adv).sum(1).mean().backward()
    return theta_t.grad.numpy()


EXERCISES = [
    Exercise("test_reward_to_go", "reward_to_go",
             wrong=[rtg_sums_from_zero, rtg_not_flipped_back, rtg_total_return, rtg_excludes_current, rtg_first_axis,
                    rtg_in_place],
             correct=[rtg_loop, rtg_triangular_matrix, rtg_total_minus_past, rtg_list_comprehension,
                      rtg_apply_along_axis, rtg_torch, rtg_float32]),
    Exercise("test_discounted_reward_to_go", "discounted_reward_to_go",
             wrong=[drtg_absolute_power, drtg_power_off_by_one, drtg_undiscounted, drtg_forward, drtg_reversed,
                    drtg_divides_by_power, drtg_zeros_like_int],
             correct=[drtg_loop_over_h, drtg_power_matrix, drtg_torch, drtg_float32]),
    Exercise("test_reward_to_go_gradient_estimate", "reward_to_go_gradient_estimate",
             wrong=[est_reinforce, est_sums_from_zero, est_reversed_time, est_excludes_current, est_sum_not_mean,
                    est_mean_over_steps, est_sign_flipped, est_missing_normaliser, est_naive_softmax,
                    est_divides_by_N_minus_1],
             correct=[est_loop, est_autograd, est_float32],
             hints={"est_divides_by_N_minus_1": "divided by N − 1", "est_sum_not_mean": "summed over the trajectories",
                    "est_reinforce": "full return R(τ)", "est_sums_from_zero": "from t = 0 to h",
                    "est_mean_over_steps": "averaged over the steps h too", "est_excludes_current": "r_h itself"}),
    Exercise("test_baseline_gradient_estimate", "baseline_gradient_estimate",
             wrong=[bl_ignored, bl_added, bl_next_step, bl_previous_step, bl_from_total_return, bl_broadcast_over_time,
                    bl_indexed_by_action, bl_no_validation, bl_sum_not_mean],
             correct=[bl_loop, bl_autograd]),
]
