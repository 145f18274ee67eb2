"""Plausible wrong answers (and other correct ones) for notebook 03's exercises."""

import numpy as np
import torch

from pgcourse.tabular import mdp as M
from pgcourse.tabular.estimators import validate_trajectories
from pgcourse.tabular.policies import grad_log_tabular_softmax, tabular_softmax
from mutation import Exercise

NOTEBOOK = "03_reinforce_derivation"


# ---- grad_log_trajectory_likelihood ----------------------------------------------------------

def _scores(theta, states, actions):
    """Per-step scores e_s ⊗ (e_a − π_θ(·|s)) by hand, (..., S, A) (the library's batch score is an answer)."""
    S, A = theta.shape
    return np.eye(S)[states][..., :, None] * (np.eye(A)[actions] - tabular_softmax(theta)[states])[..., None, :]


def _steps(theta, states, actions):
    """Validated per-step scores ∇_θ ln π_θ(a_h|s_h), (H, S, A)."""
    theta, states, actions = validate_trajectories(theta, states, actions, ndim=1)
    return _scores(theta, states, actions)


def glt_sign_flipped(theta, states, actions):
    return -_steps(theta, states, actions).sum(axis=0)


def glt_missing_pi_term(theta, states, actions):
    steps = _steps(theta, states, actions)
    S, A = steps.shape[1:]
    return sum(np.outer(np.eye(S)[s], np.eye(A)[a]) for s, a in zip(states, actions))


def glt_last_step_only(theta, states, actions):
    return _steps(theta, states, actions)[-1]


def glt_mean_over_h(theta, states, actions):
    return _steps(theta, states, actions).mean(axis=0)


def glt_drops_first_step(theta, states, actions):
    return _steps(theta, states, actions)[1:].sum(axis=0)


def glt_drops_last_step(theta, states, actions):
    """range(H − 1): the off-by-one from reading "H − 1 transitions" as "H − 1 steps"."""
    return _steps(theta, states, actions)[:-1].sum(axis=0)


def glt_made_up_transition_terms(theta, states, actions):
    """Adds a "∇ ln P" term for each transition, modelling P(s_{h+1}|s_h, a_h) by π_θ(a_h|s_{h+1})."""
    steps = _steps(theta, states, actions)
    states, actions = np.asarray(states), np.asarray(actions)
    extra = _scores(np.asarray(theta, float), states[1:], actions[:-1]).sum(axis=0)
    return steps.sum(axis=0) + extra


def glt_no_validation(theta, states, actions):
    theta = np.asarray(theta, dtype=float)
    states, actions = np.asarray(states).astype(int), np.asarray(actions).astype(int)
    pi = tabular_softmax(theta)
    S, A = theta.shape
    n = min(len(states), len(actions))              # silently truncates mismatched inputs
    out = np.zeros((S, A))
    for s, a in zip(states[:n], actions[:n]):
        out[s % S] += np.eye(A)[a % A] - pi[s % S]  # negative or too-large indices wrap around
    return out


def glt_loop(theta, states, actions):
    theta = np.asarray(theta, dtype=float)
    states, actions = np.asarray(states), np.asarray(actions)
    S, A = theta.shape
    if states.shape != actions.shape or states.ndim != 1:
        raise ValueError("states and actions must have the same shape (H,)")
    out = np.zeros((S, A))
    for s, a in zip(states, actions):
        if not (0 <= s < S and 0 <= a < A):
            raise ValueError("state or action out of range")
        p = np.exp(theta[s] - theta[s].max())
        p /= p.sum()
        out[s] -= p
        out[s, a] += 1.0
    return out


def glt_single_step_scores(theta, states, actions):
    """Notebook 02's single-step score from the library, summed over h (a list comprehension)."""
    theta, states, actions = validate_trajectories(theta, states, actions, ndim=1)
    return sum([grad_log_tabular_softmax(theta, s, a) for s, a in zip(states, actions)])


def glt_float32(theta, states, actions):
    """Correct, in single precision: compared with a float32 tolerance."""
    return _steps(theta, states, actions).astype(np.float32).sum(axis=0)


def glt_autograd_log_pi(theta, states, actions):
    _steps(theta, states, actions)                  # validation only
    t = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
    torch.log_softmax(t, dim=-1)[torch.as_tensor(states), torch.as_tensor(actions)].sum().backward()
    return t.grad.numpy()


def glt_autograd_full_log_rho_made_up_mdp(theta, states, actions):
    """Correct: autograd of the *full* ln ρ_θ(τ) with any made-up μ and P that do not depend on θ."""
    _steps(theta, states, actions)
    S, A = np.shape(theta)
    world = M.random_mdp(S, A, H=len(states), seed=123)
    states, actions = np.asarray(states), np.asarray(actions)
    t = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
    log_rho = (np.log(world.mu[states[0]]) + torch.log_softmax(t, -1)[states, actions].sum()
               + np.log(world.P[states[:-1], actions[:-1], states[1:]]).sum())
    log_rho.backward()
    return t.grad.numpy()


# ---- reinforce_gradient_estimate -------------------------------------------------------------

def _batch(theta, states, actions, rewards):
    """Validated (N, H, S, A) scores and (N, H) rewards."""
    theta, states, actions, rewards = validate_trajectories(theta, states, actions, rewards, ndim=2)
    return _scores(theta, states, actions), rewards


def rf_sum_not_mean(theta, states, actions, rewards):
    steps, r = _batch(theta, states, actions, rewards)
    return np.sum(steps.sum(axis=1) * r.sum(axis=1)[:, None, None], axis=0)


def rf_reward_to_go(theta, states, actions, rewards):
    """Unbiased too (notebook 04), but not the estimator this exercise asks for."""
    steps, r = _batch(theta, states, actions, rewards)
    rtg = np.flip(np.cumsum(np.flip(r, 1), 1), 1)
    return np.mean(np.sum(steps * rtg[:, :, None, None], axis=1), axis=0)


def rf_per_step_reward(theta, states, actions, rewards):
    steps, r = _batch(theta, states, actions, rewards)
    return np.mean(np.sum(steps * r[:, :, None, None], axis=1), axis=0)


def rf_missing_pi_term(theta, states, actions, rewards):
    steps, r = _batch(theta, states, actions, rewards)
    S, A = np.shape(theta)
    counts = np.eye(S)[np.asarray(states)][..., :, None] * np.eye(A)[np.asarray(actions)][..., None, :]
    return np.mean(counts.sum(axis=1) * r.sum(axis=1)[:, None, None], axis=0)


def rf_sign_flipped(theta, states, actions, rewards):
    steps, r = _batch(theta, states, actions, rewards)
    return -np.mean(steps.sum(axis=1) * r.sum(axis=1)[:, None, None], axis=0)


def rf_last_step_only(theta, states, actions, rewards):
    steps, r = _batch(theta, states, actions, rewards)
    return np.mean(steps[:, -1] * r.sum(axis=1)[:, None, None], axis=0)


def rf_mean_over_h(theta, states, actions, rewards):
    steps, r = _batch(theta, states, actions, rewards)
    return np.mean(steps.mean(axis=1) * r.sum(axis=1)[:, None, None], axis=0)


def rf_drops_first_step(theta, states, actions, rewards):
    steps, r = _batch(theta, states, actions, rewards)
    return np.mean(steps[:, 1:].sum(axis=1) * r.sum(axis=1)[:, None, None], axis=0)


def rf_product_of_means(theta, states, actions, rewards):
    steps, r = _batch(theta, states, actions, rewards)
    return steps.sum(axis=1).mean(axis=0) * r.sum(axis=1).mean()


def rf_mean_reward_not_return(theta, states, actions, rewards):
    """R(τ) as the average reward per step, (1/H) Σ_h r_h."""
    steps, r = _batch(theta, states, actions, rewards)
    return np.mean(steps.sum(axis=1) * r.mean(axis=1)[:, None, None], axis=0)


def rf_no_rewards_validation(theta, states, actions, rewards):
    theta, states, actions = validate_trajectories(theta, states, actions)
    steps = _scores(theta, states, actions)
    ret = np.asarray(rewards, dtype=float).reshape(len(rewards), -1).sum(axis=1)   # any reward shape "works"
    return np.mean(steps.sum(axis=1) * ret[:, None, None], axis=0)


def rf_loop(theta, states, actions, rewards):
    theta = np.asarray(theta, dtype=float)
    states, actions, rewards = np.asarray(states), np.asarray(actions), np.asarray(rewards, dtype=float)
    if states.ndim != 2 or not states.shape == actions.shape == rewards.shape:
        raise ValueError("states, actions and rewards must share one shape (N, H)")
    S, A = theta.shape
    pi = tabular_softmax(theta)
    total = np.zeros((S, A))
    for s_row, a_row, r_row in zip(states, actions, rewards):
        score = np.zeros((S, A))
        for s, a in zip(s_row, a_row):
            if not (0 <= s < S and 0 <= a < A):
                raise ValueError("state or action out of range")
            score[s] += np.eye(A)[a] - pi[s]
        total += score * r_row.sum()
    return total / len(states)


def rf_autograd_surrogate(theta, states, actions, rewards):
    """The usual deep-RL route: differentiate the surrogate (1/N) Σ_i (Σ_h ln π_θ(a_h^i|s_h^i)) R(τ_i)."""
    _batch(theta, states, actions, rewards)
    t = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
    log_pi = torch.log_softmax(t, dim=-1)[torch.as_tensor(states), torch.as_tensor(actions)]    # (N, H)
    ret = torch.as_tensor(np.asarray(rewards, dtype=float)).sum(dim=1)                          # (N,)
    torch.mean(log_pi.sum(dim=1) * ret).backward()
    return t.grad.numpy()


def rf_divides_by_N_minus_1(theta, states, actions, rewards):
    return rf_loop(theta, states, actions, rewards) * len(states) / (len(states) - 1)


def rf_swapped_s_and_a(theta, states, actions, rewards):
    return rf_loop(theta, actions, states, rewards)


EXERCISES = [
    Exercise("test_grad_log_trajectory_likelihood", "grad_log_trajectory_likelihood",
             wrong=[glt_sign_flipped, glt_missing_pi_term, glt_last_step_only, glt_mean_over_h, glt_drops_first_step,
                    glt_drops_last_step, glt_made_up_transition_terms, glt_no_validation],
             correct=[glt_loop, glt_autograd_log_pi, glt_autograd_full_log_rho_made_up_mdp, glt_single_step_scores,
                      glt_float32]),
    Exercise("test_reinforce_gradient_estimate", "reinforce_gradient_estimate",
             wrong=[rf_sum_not_mean, rf_reward_to_go, rf_per_step_reward, rf_missing_pi_term, rf_sign_flipped,
                    rf_last_step_only, rf_mean_over_h, rf_drops_first_step, rf_product_of_means,
                    rf_mean_reward_not_return, rf_no_rewards_validation, rf_divides_by_N_minus_1, rf_swapped_s_and_a],
             correct=[rf_loop, rf_autograd_surrogate],
             hints={"rf_sum_not_mean": "you summed over the trajectories", "rf_divides_by_N_minus_1": "divided by N − 1",
                    "rf_swapped_s_and_a": "states and actions are swapped", "rf_reward_to_go": "by the reward-to-go",
                    "rf_per_step_reward": "by the single reward r_h", "rf_missing_pi_term": "the −π_θ(·|s) part",
                    "rf_last_step_only": "only the last step", "rf_product_of_means": "you multiplied two averages"}),
]
