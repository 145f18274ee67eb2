"""Visible checks for notebook 03 (deriving REINFORCE).

`check_grad_log_trajectory_likelihood` compares Σ_h ∇_θ ln π_θ(a_h|s_h) with a hand case and with
autograd of the *full* ln ρ_θ(τ) (μ and P included) under two different MDPs that share the
trajectory. `check_reinforce_gradient_estimate` compares the estimate with a hand case, and checks
its exact expectation by enumerating every trajectory of a small MDP against ∇_θ J(θ) (autograd of
the exact objective). Both name known mistakes when the answer matches one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from pgcourse.tabular import mdp as M
from pgcourse.checks.core import Check, Mistake
from pgcourse.tabular.estimators import log_trajectory_likelihood
from pgcourse.tabular.policies import grad_log_tabular_softmax_batch
from pgcourse.tabular.moments import exact_moments


def _steps(theta: np.ndarray, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """∇_θ ln π_θ(a_h|s_h) per step, shape (..., H, S, A)."""
    return grad_log_tabular_softmax_batch(np.asarray(theta, float), np.asarray(states), np.asarray(actions))


def _counts(theta: np.ndarray, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Σ_h e_{s_h} ⊗ e_{a_h}: the grad-log-likelihood without its −π_θ(·|s_h) part, (..., S, A)."""
    S, A = np.shape(theta)
    return (np.eye(S)[states][..., :, None] * np.eye(A)[actions][..., None, :]).sum(axis=-3)


def _made_up_transition_terms(theta: np.ndarray, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Σ_{h<H−1} ∇_θ ln π_θ(a_h|s_{h+1}): what "P(s_{h+1}|s_h, a_h) depends on θ" might add, (..., S, A)."""
    if states.shape[-1] < 2:
        return np.zeros(np.shape(theta))
    return _steps(theta, states[..., 1:], actions[..., :-1]).sum(axis=-3)


def _glt_mistakes(theta, states, actions) -> tuple[np.ndarray, list[Mistake]]:
    steps = _steps(theta, states, actions)  # (H, S, A)
    correct, H = steps.sum(axis=0), len(states)
    return correct, [
        ("∇_θ ln π_θ(a|s) = e_s ⊗ (e_a − π_θ(·|s)): the −π_θ(·|s) part (from the softmax's normaliser) "
         "is missing.", _counts(theta, states, actions)),
        ("you averaged over the steps h: ln ρ_θ(τ) is a *sum* of log-probabilities, so its gradient is "
         "Σ_h, not (1/H) Σ_h.", correct / H),
        ("only the last step's ∇_θ ln π_θ(a_{H−1}|s_{H−1}) is there: sum over every h = 0, …, H−1.", steps[-1]),
        ("the first step h = 0 is missing: the sum runs over h = 0, …, H−1.", steps[1:].sum(axis=0)),
        ("the last step h = H−1 is missing: the sum runs over h = 0, …, H−1 (the lecture's summary slide "
         "writes H as the upper limit, but a trajectory's last action is a_{H−1}).", steps[:-1].sum(axis=0)),
        ("you added terms for the transitions: P(s_{h+1}|s_h, a_h) does not depend on θ, so ln P contributes "
         "nothing to the gradient.", correct + _made_up_transition_terms(theta, states, actions)),
    ]


def _returns_to_go(rewards: np.ndarray) -> np.ndarray:
    return np.flip(np.cumsum(np.flip(rewards, -1), -1), -1)


def _reinforce_mistakes(theta, states, actions, rewards) -> tuple[np.ndarray, list[Mistake]]:
    steps = _steps(theta, states, actions)  # (N, H, S, A)
    N, H = states.shape
    ret = rewards.sum(axis=1)[:, None, None]  # R(τ_i)
    glt = steps.sum(axis=1)  # (N, S, A)
    correct = (glt * ret).mean(axis=0)
    return correct, [
        ("you summed over the trajectories: the estimate is the *mean* (1/N) Σ_i.", correct * N),
        ("you weighted ∇_θ ln π_θ(a_h|s_h) by the reward-to-go Σ_{t≥h} r_t. That is also an unbiased "
         "estimator (notebook 04!), but this exercise asks for REINFORCE as derived: every step is weighted "
         "by the whole return R(τ) = Σ_{h=0}^{H−1} r_h.",
         np.einsum("nhsa,nh->sa", steps, _returns_to_go(rewards)) / N),
        ("you weighted ∇_θ ln π_θ(a_h|s_h) by the single reward r_h: every step is weighted by the whole "
         "return R(τ) = Σ_{h=0}^{H−1} r_h.", np.einsum("nhsa,nh->sa", steps, rewards) / N),
        ("∇_θ ln π_θ(a|s) = e_s ⊗ (e_a − π_θ(·|s)): the −π_θ(·|s) part is missing.",
         (_counts(theta, states, actions) * ret).mean(axis=0)),
        ("only the last step's ∇_θ ln π_θ(a_{H−1}|s_{H−1}) is there: sum over every h = 0, …, H−1.",
         (steps[:, -1] * ret).mean(axis=0)),
        ("your answer is 1/H of the right one: did you average over the steps h, in Σ_h ∇_θ ln π_θ(a_h|s_h) or "
         "in R(τ)? Both are *sums* over h = 0, …, H−1.", correct / H),
        ("the first step h = 0 is missing: the sum runs over h = 0, …, H−1.",
         (steps[:, 1:].sum(axis=1) * ret).mean(axis=0)),
        ("the last step h = H−1 is missing: the sum runs over h = 0, …, H−1.",
         (steps[:, :-1].sum(axis=1) * ret).mean(axis=0)),
        ("you multiplied two averages, ((1/N) Σ_i ∇ ln ρ_θ(τ_i)) · ((1/N) Σ_i R(τ_i)): each trajectory's "
         "gradient must be weighted by *its own* return before averaging.", glt.mean(axis=0) * ret.mean()),
        ("R(τ) is missing: weight each trajectory's Σ_h ∇_θ ln π_θ(a_h|s_h) by its return.", glt.mean(axis=0)),
        ("you divided by N − 1: the estimate is the mean (1/N) Σ_i (N − 1 belongs to an unbiased *variance*).",
         correct * N / (N - 1) if N > 1 else np.full_like(correct, np.inf)),
    ] + _swapped(theta, states, actions, ret)


def _swapped(theta, states, actions, ret) -> list[Mistake]:
    """States and actions swapped in the score: possible (no IndexError) only where every index fits."""
    S, A = np.shape(theta)
    if np.max(states) >= A or np.max(actions) >= S:
        return []
    swapped = _steps(theta, actions, states).sum(axis=1)
    return [("states and actions are swapped: the score of step h is e_{s_h} ⊗ (e_{a_h} − π_θ(·|s_h)), row s_h of θ.",
             (swapped * ret).mean(axis=0))]


def _random_case(seed: int, S: int, A: int, H: int) -> tuple[M.TabularMDP, np.ndarray]:
    mdp = M.random_mdp(S, A, H=H, seed=seed)
    theta = np.random.default_rng(seed + 1000).normal(size=(S, A))
    return mdp, theta


def _autograd_log_rho(mdp: M.TabularMDP, theta: np.ndarray, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(log_trajectory_likelihood(mdp, t, states, actions), t)
    return grad.numpy()


def check_grad_log_trajectory_likelihood(grad_log_trajectory_likelihood: Callable, seed: int = 0,
                                         S: int = 3, A: int = 2, H: int = 4) -> None:
    """Σ_h ∇_θ ln π_θ(a_h|s_h): hand case, known mistakes, autograd of the full ln ρ_θ(τ), bad input."""
    check = Check("grad_log_trajectory_likelihood", grad_log_trajectory_likelihood)

    theta0, s0, a0 = np.zeros((2, 2)), np.array([0, 0, 1]), np.array([1, 1, 0])
    expected, mistakes = _glt_mistakes(theta0, s0, a0)
    out = check.call("hand case", theta0, s0, a0)
    check.expect_close("hand case", out, expected, mistakes=mistakes, context=(
        "θ = 0 (uniform policy, S = A = 2), states (0, 0, 1), actions (1, 1, 0), H = 3:\n"
        "each step adds e_{s_h} ⊗ (e_{a_h} − [½, ½]); state 0 is visited twice with action 1, "
        "giving row 0 = 2·[−½, ½] = [−1, 1]; state 1 once with action 0, giving row 1 = [½, −½]."))

    mdp, theta = _random_case(seed, S, A, H)
    tau = M.sample_trajectories(mdp, theta, 1, seed)
    states, actions = tau.states[0], tau.actions[0]
    expected, mistakes = _glt_mistakes(theta, states, actions)
    out = check.call("random trajectory", theta, states, actions)
    check.expect_shape("random trajectory", out, (S, A))
    check.expect_close("random trajectory", out, expected, mistakes=mistakes)

    # The full ln ρ_θ(τ) under two MDPs that share the trajectory but differ in μ and P.
    other = M.random_mdp(S, A, H=H, seed=seed + 500)
    for name, m in (("autograd of ln ρ_θ(τ)", mdp), ("autograd of ln ρ_θ(τ), another P and μ", other)):
        check.expect_close(name, out, _autograd_log_rho(m, theta, states, actions), rtol=1e-8, atol=1e-10,
                           mistakes=mistakes, context=(
                               "torch autograd of ln ρ_θ(τ) = ln μ(s_0) + Σ_h ln π_θ(a_h|s_h) + Σ_h ln P(s_{h+1}|s_h, a_h), "
                               "μ and P included, should equal your answer for any μ and P."))

    check.expect_raises("states and actions of different lengths", ValueError, theta, states, actions[:-1],
                        hint="a trajectory has one action per state.")
    bad = states.copy()
    bad[-1] = S
    check.expect_raises("state out of range", ValueError, theta, bad, actions, hint=f"states are 0, …, S−1 = {S - 1}.")
    check.done()


def check_reinforce_gradient_estimate(reinforce_gradient_estimate: Callable, seed: int = 0,
                                      S: int = 3, A: int = 2, H: int = 3, N: int = 5) -> None:
    """(1/N) Σ_i (Σ_h ∇_θ ln π_θ(a_h^i|s_h^i)) R(τ_i): hand case, known mistakes, exact unbiasedness, bad input."""
    check = Check("reinforce_gradient_estimate", reinforce_gradient_estimate)

    mdp, theta = _random_case(seed, S, A, H)
    tau = M.sample_trajectories(mdp, theta, N, seed)
    many = f"{N} trajectories"      # where the hand case (N = 1) cannot tell mistakes apart, this case can
    diagnose = [(many, lambda: (check.call(many, theta, tau.states, tau.actions, tau.rewards),
                                _reinforce_mistakes(theta, tau.states, tau.actions, tau.rewards)[1]))]

    theta0 = np.zeros((2, 2))
    s0, a0, r0 = np.array([[0, 0, 1]]), np.array([[1, 1, 0]]), np.array([[1.0, 0.0, 2.0]])
    expected, mistakes = _reinforce_mistakes(theta0, s0, a0, r0)
    out = check.call("hand case", theta0, s0, a0, r0)
    check.expect_close("hand case", out, expected, mistakes=mistakes, diagnose=diagnose, context=(
        "θ = 0, one trajectory (N = 1, H = 3): states (0, 0, 1), actions (1, 1, 0), rewards (1, 0, 2), so "
        "R(τ) = 3.\nΣ_h ∇_θ ln π_θ(a_h|s_h) = [[−1, 1], [½, −½]]; times R(τ) = 3 gives [[−3, 3], [1.5, −1.5]]."))

    expected, mistakes = _reinforce_mistakes(theta, tau.states, tau.actions, tau.rewards)
    out = check.call(f"{N} trajectories", theta, tau.states, tau.actions, tau.rewards)
    check.expect_shape(f"{N} trajectories", out, (S, A))
    check.expect_close(f"{N} trajectories", out, expected, mistakes=mistakes)

    # Exact unbiasedness: E[ĝ] = Σ_τ ρ_θ(τ) ĝ({τ}), over every trajectory, against autograd of J(θ).
    enum = M.enumerate_trajectories(mdp, theta)
    one_each = [(theta, enum.states[m:m + 1], enum.actions[m:m + 1], enum.rewards[m:m + 1])
                for m in range(len(enum.probs))]
    terms = np.stack([np.asarray(out.detach() if hasattr(out, "detach") else out, dtype=float)
                      for out in check.call_many("one enumerated trajectory", one_each)])
    mean = exact_moments(terms, enum.probs).mean
    check.expect_close("exact expectation", mean, M.exact_policy_gradient(mdp, theta), rtol=1e-8, atol=1e-10,
                       context=(f"Σ_τ ρ_θ(τ) · (your estimate from the single trajectory τ), over all "
                                f"{len(enum.probs)} trajectories of a random MDP with S = {S}, A = {A}, H = {H}, "
                                "should equal the exact ∇_θ J(θ): REINFORCE is unbiased."))

    check.expect_raises("rewards of the wrong shape", ValueError, theta, tau.states, tau.actions, tau.rewards[:, :-1],
                        hint="rewards has shape (N, H), like states and actions: one reward per step.")
    check.expect_raises("states and actions of different shapes", ValueError, theta, tau.states,
                        tau.actions[:-1], tau.rewards)
    bad = tau.states.copy()
    bad[0, 0] = -1
    check.expect_raises("state out of range", ValueError, theta, bad, tau.actions, tau.rewards,
                        hint=f"states are 0, …, S−1 = {S - 1}; a negative index silently wraps around in NumPy.")
    check.done()
