"""Visible checks for notebook 05 (REINFORCE on CartPole).

`check_reinforce_loss` compares the student's surrogate L(θ) = −(1/N) Σ_i Σ_h m_{i,h} ln π_θ(a_{i,h}|s_{i,h}) w_{i,h}
with a hand case, its gradient with respect to ln π with −m·w/N, its gradient with respect to the policy's
parameters with the REINFORCE estimator built by hand (one ``Categorical`` and one ``autograd.grad`` per
valid step), and checks that the weights receive no gradient. `check_training` runs the short, seeded
CartPole training that grading uses and asks for a clearly-learning return.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from pgcourse.checks.core import Check, Mistake, describe_error, one_thread, quiet
from pgcourse.checks.integrity import LibraryAnswerUsed, Watch

# A random policy scores ~22 on CartPole-v1; the correct loss reaches 215–269 (seeds 0–5) with
# GRADING_CONFIG; a sign-flipped loss ~9. Scaled losses (a mean over all steps, …) also learn with
# Adam, which is why the value checks of `check_reinforce_loss` are the ones that catch them.
TRAINING_THRESHOLD = 150.0


def _ragged_mask(rng: np.random.Generator, N: int, T: int) -> np.ndarray:
    """(N, T) 0/1: episode i lasts H_i ∈ 1..T steps; the longest lasts T."""
    lengths = rng.integers(1, T + 1, size=N)
    lengths[rng.integers(N)] = T
    return (np.arange(T)[None, :] < lengths[:, None]).astype(np.float32)


def _loss_mistakes(lp: torch.Tensor, w: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, list[Mistake]]:
    """The right surrogate and the values that known mistakes give (lp, w, m: (N, T) float tensors)."""
    N, T = lp.shape
    terms = m * lp * w
    correct = -terms.sum() / N
    return correct, [
        ("the padding steps (mask 0) count: multiply each term by mask[i, h], the steps after an episode's end "
         "belong to the next episode (gymnasium's autoreset), not to τ_i.", -(lp * w).sum() / N),
        ("you averaged over all N·T entries (`.mean()`): divide by the number of episodes N only. Σ_h runs "
         "over each episode's steps; dividing by T makes the gradient depend on the padding.", -terms.sum() / (N * T)),
        ("you divided by the number of valid steps Σ mask: the estimator is (1/N) Σ_i Σ_h, an average over "
         "episodes of a *sum* over steps.", -terms.sum() / m.sum()),
        ("you averaged over each episode's steps: Σ_h is a sum, so long episodes must count more.",
         -((terms.sum(1) / m.sum(1).clamp(min=1)).mean())),
        ("you summed over the episodes: divide by N (the estimator is a mean over trajectories).", -terms.sum()),
        ("the sign is flipped: the loss is *minus* the estimator's surrogate, so that minimizing it ascends J(θ).",
         terms.sum() / N),
    ]


def _as_loss(check: Check, case: str, out: object) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        check.fail(case, f"expected a torch tensor (a scalar with grad), got {type(out).__name__}: "
                         "do not call .item() or convert to NumPy, the optimizer needs the graph.")
    if out.numel() != 1:
        check.fail(case, f"expected a scalar, got shape {tuple(out.shape)}: sum over i and h, then divide by N.")
    if out.ndim != 0:
        check.fail(case, f"expected a 0-dimensional scalar, got shape {tuple(out.shape)}.")
    return out


def _backward(check: Check, case: str, loss: torch.Tensor) -> None:
    if not loss.requires_grad:
        check.fail(case, "the loss carries no gradient: did you detach log_probs, or build it from NumPy?")
    with quiet():
        loss.backward()


def _hand_estimator(policy: torch.nn.Module, obs: np.ndarray, actions: np.ndarray, w: np.ndarray,
                    m: np.ndarray) -> list[torch.Tensor]:
    """−(1/N) Σ_i Σ_{h: m=1} ∇_θ ln π_θ(a_ih|s_ih) w_ih, one Categorical per step (minus the estimator)."""
    params = list(policy.parameters())
    total = [torch.zeros_like(p) for p in params]
    N, T = actions.shape
    for i in range(N):
        for h in range(T):
            if m[i, h] == 0:
                continue
            dist = torch.distributions.Categorical(logits=policy(torch.as_tensor(obs[i, h])))
            grads = torch.autograd.grad(dist.log_prob(torch.as_tensor(actions[i, h])), params)
            for acc, g in zip(total, grads):
                acc -= g * float(w[i, h]) / N
    return total


def check_reinforce_loss(reinforce_loss: Callable, seed: int = 0, N: int = 4, T: int = 6) -> None:
    """−(1/N) Σ_i Σ_h mask·ln π·w: hand case, gradients (ln π, θ), no gradient into the weights."""
    from pgcourse.cartpole import log_probs_of, make_policy

    check = Check("reinforce_loss", reinforce_loss)

    # Hand case. The padding entries hold nonzero numbers on purpose: only the mask may remove them.
    lp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -4.0, -4.0]], requires_grad=True)
    w = torch.tensor([[2.0, 1.0, 0.5], [-1.0, 5.0, 5.0]])
    m = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    expected, mistakes = _loss_mistakes(lp.detach(), w, m)
    out = _as_loss(check, "hand case", check.call("hand case", lp, w, m))
    check.expect_close("hand case", out.detach(), expected, mistakes=mistakes, context=(
        "N = 2 episodes of lengths 3 and 1 (T = 3; mask = [[1, 1, 1], [1, 0, 0]]):\n"
        "L = −(1/2)·[(−1)(2) + (−2)(1) + (−3)(0.5) + (−0.5)(−1)] = −(1/2)(−5) = 2.5; "
        "the two padding entries (−4 × 5) must not count."))

    # Random ragged batch: value, then ∂L/∂ ln π = −mask·w/N, and no gradient into the weights.
    rng = np.random.default_rng(seed)
    m_np = _ragged_mask(rng, N, T)
    lp = torch.tensor(np.log(rng.uniform(0.05, 1.0, size=(N, T))), dtype=torch.float32, requires_grad=True)
    w = torch.tensor(rng.normal(size=(N, T)) * 3 + 1, dtype=torch.float32, requires_grad=True)
    m = torch.from_numpy(m_np)
    case = f"random batch N={N}, T={T}"
    expected, mistakes = _loss_mistakes(lp.detach(), w.detach(), m)
    out = _as_loss(check, case, check.call(case, lp, w, m))
    check.expect_close(case, out.detach(), expected, rtol=1e-5, atol=1e-6, mistakes=mistakes)
    _backward(check, case, out)
    check.expect_close(f"{case}: gradient with respect to log_probs", lp.grad, -(m * w.detach()) / N,
                       rtol=1e-5, atol=1e-6, context="∂L/∂ ln π_θ(a_ih|s_ih) should be −mask_ih · w_ih / N.")
    if w.grad is not None and torch.any(w.grad != 0):
        check.fail(f"{case}: gradient into the weights", (
            "the weights received a gradient. They are constants (returns or advantages computed from "
            "the rewards): use weights.detach() so that no gradient flows into them.\n"
            f"weights.grad = {w.grad.numpy().round(4)}"))
    check.passed += 1

    # A real policy: the autograd gradient over θ equals the estimator built step by step.
    case = f"policy gradient over θ, N={N}, T={T}"
    with one_thread():
        policy = make_policy(hidden=8, seed=seed)
        obs = rng.normal(size=(N, T, 4)).astype(np.float32) * np.array([1.0, 1.0, 0.1, 1.0], dtype=np.float32)
        actions = rng.integers(0, 2, size=(N, T))
        w_np = (rng.normal(size=(N, T)) * m_np).astype(np.float32)
        loss = _as_loss(check, case, check.call(case, log_probs_of(policy, obs, actions), torch.from_numpy(w_np),
                                                torch.from_numpy(m_np)))
        params = list(policy.parameters())
        if not loss.requires_grad:
            check.fail(case, "the loss carries no gradient: did you detach log_probs?")
        auto = torch.autograd.grad(loss, params)
        by_hand = _hand_estimator(policy, obs, actions, w_np, m_np)
    check.expect_close(case, torch.cat([g.flatten() for g in auto]), torch.cat([g.flatten() for g in by_hand]),
                       rtol=1e-4, atol=1e-6, context=(
                           "∇_θ L should be −(1/N) Σ_i Σ_h mask·∇_θ ln π_θ(a_ih|s_ih)·w_ih, minus the REINFORCE "
                           "estimator (all parameters flattened)."))
    check.done()


def check_training(reinforce_loss: Callable, seed: int = 0, threshold: float = TRAINING_THRESHOLD) -> None:
    """Train with ``GRADING_CONFIG`` (30k env steps, seeded) and your loss; require a clearly-learning return.

    Prints one ✓ line; returns nothing (a float as a test cell's last value would be partial credit).
    """
    import dataclasses

    from pgcourse.cartpole import GRADING_CONFIG, train_reinforce

    if not callable(reinforce_loss):
        raise AssertionError(f"reinforce_loss should be a function, but it is {type(reinforce_loss).__name__}.")
    config = dataclasses.replace(GRADING_CONFIG, seed=seed)
    try:
        with one_thread(), quiet():
            history = train_reinforce(config, loss_fn=Watch("reinforce_loss").wrap(reinforce_loss), progress=False)
    except LibraryAnswerUsed:
        raise
    except NotImplementedError:
        raise AssertionError("reinforce_loss is not implemented yet.") from None
    except Exception as err:
        raise AssertionError(f"training with your reinforce_loss raised {describe_error(err)}") from err
    score = history.mean_last()
    if not np.isfinite(score) or score < threshold:
        hint = ""
        if score < 15:
            hint = ("\nHint: the return went *down* (a random policy gets ~22): the policy learned to fall fast. "
                    "Minimizing your loss must *ascend* J(θ): check its sign.")
        elif score < 40:
            hint = "\nHint: it hardly moved from a random policy (~22): does your loss's gradient reach θ?"
        raise AssertionError(
            f"training for {config.max_env_steps:,} env steps (seed {seed}) reached a mean return of {score:.1f} "
            f"over the last 100 episodes; at least {threshold:.0f} was expected (a correct loss gets 215–269 on seeds 0–5).{hint}")
    print(f"✓ training with your reinforce_loss: mean return of the last 100 episodes {score:.0f} "
          f"after {history.env_steps:,} env steps ({history.seconds:.1f} s).")
