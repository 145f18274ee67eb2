"""Visible checks for notebook 01 (importance weighting).

Each check compares the student's estimator with the lecture's formula on a hand case, with the
exact gradient (autograd of J(θ) = Σ_x softmax(θ)_x f(x)) through exact enumeration of its
expectation, and on bad input.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pgcourse.tabular import importance as iw
from pgcourse.tabular.moments import exact_moments
from pgcourse.checks.core import Check


def _grad_p(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows ∇_θ P_θ(x_i) = P_θ(x_i)(e_{x_i} − P_θ), shape (N, K)."""
    p = iw.softmax(theta)
    return p[x][:, None] * (np.eye(len(theta))[x] - p)


def _grad_log_p(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows ∇_θ ln P_θ(x_i) = e_{x_i} − P_θ, shape (N, K)."""
    return np.eye(len(theta))[x] - iw.softmax(theta)


def _case(seed: int, K: int, N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=K)
    f = rng.normal(size=K) + 1.0
    rho = 0.5 * rng.dirichlet(np.ones(K)) + 0.5 / K
    xs = rng.choice(K, size=N, p=rho)
    return theta, f, rho, xs


def _mean_mistakes(correct: np.ndarray, N: int, K: int) -> list:
    """Dividing the sum of the N terms by something other than N."""
    total = correct * N
    return [
        ("you summed over the samples: the estimate is the *mean* (1/N) Σ_i.", total),
        ("you divided by K, the number of outcomes: the mean is over the N samples, (1/N) Σ_i.", total / K),
        ("you divided by N − 1: the estimate is the mean (1/N) Σ_i (N − 1 belongs to an unbiased "
         "*variance*, not a mean).", total / (N - 1) if N > 1 else np.full_like(total, np.inf)),
    ]


def _iw_mistakes(theta, xs, rho, f):
    p, K = iw.softmax(theta), len(theta)
    correct = np.mean(_grad_p(theta, xs) * (f[xs] / rho[xs])[:, None], axis=0)
    return correct, _mean_mistakes(correct, len(xs), K) + [
        ("∇_θ P_θ(x) = P_θ(x)(e_x − P_θ): the factor P_θ(x) is missing (you used ∇_θ ln P_θ(x) with the weight "
         "1/ρ(x)).", np.mean(_grad_log_p(theta, xs) * (f[xs] / rho[xs])[:, None], axis=0)),
        ("you divided by P_θ(x_i) instead of ρ(x_i): the samples come from ρ, so the weight is 1/ρ(x_i).",
         np.mean(_grad_log_p(theta, xs) * f[xs][:, None], axis=0)),
        ("f(x_i) is missing from each term.", np.mean(_grad_p(theta, xs) / rho[xs][:, None], axis=0)),
        ("you forgot to divide by ρ(x_i).", np.mean(_grad_p(theta, xs) * f[xs][:, None], axis=0)),
        ("∇_θ P_θ(x) = P_θ(x)(e_x − P_θ): the −P_θ part (from the softmax's normaliser) is missing.",
         np.mean((p[xs] * f[xs] / rho[xs])[:, None] * np.eye(K)[xs], axis=0)),
    ]


def _score_mistakes(theta, xs, f):
    K = len(theta)
    correct = np.mean(_grad_log_p(theta, xs) * f[xs][:, None], axis=0)
    return correct, _mean_mistakes(correct, len(xs), K) + [
        ("f(x_i) is missing from each term.", np.mean(_grad_log_p(theta, xs), axis=0)),
        ("you used ∇_θ P_θ(x) instead of ∇_θ ln P_θ(x) = ∇_θ P_θ(x) / P_θ(x).",
         np.mean(_grad_p(theta, xs) * f[xs][:, None], axis=0)),
        ("∇_θ ln P_θ(x) = e_x − P_θ: the −P_θ part (from ln Σ_x' exp θ_x') is missing.",
         np.mean(np.eye(K)[xs] * f[xs][:, None], axis=0)),
    ]


def check_iw_gradient_estimate(iw_gradient_estimate: Callable, seed: int = 0, K: int = 4) -> None:
    """(1/N) Σ_i ∇_θ P_θ(x_i) f(x_i) / ρ(x_i): hand case, known mistakes, exact unbiasedness, bad input."""
    check = Check("iw_gradient_estimate", iw_gradient_estimate)

    theta, f, rho, xs = _case(seed, K, N=6)     # the hand case is symmetric: this one tells mistakes apart
    six = [("six samples", lambda: (check.call("six samples", theta, xs, rho, f), _iw_mistakes(theta, xs, rho, f)[1]))]
    theta0, f0, rho0, x0 = np.zeros(3), np.array([1.0, 0.0, 0.0]), np.full(3, 1 / 3), np.array([0])
    expected, mistakes = _iw_mistakes(theta0, x0, rho0, f0)
    out = check.call("hand case", theta0, x0, rho0, f0)
    check.expect_close("hand case", out, expected, mistakes=mistakes, diagnose=six, context=(
        "θ = 0 (so P_θ is uniform over K = 3), one sample x = 0, ρ uniform, f = [1, 0, 0]:\n"
        "∇_θ P_θ(0) = P_θ(0)(e_0 − P_θ) = [2/9, −1/9, −1/9]; dividing by ρ(0) = 1/3 and multiplying "
        "by f(0) = 1 gives [2/3, −1/3, −1/3]."))

    expected, mistakes = _iw_mistakes(theta, xs, rho, f)
    out = check.call("six samples", theta, xs, rho, f)
    check.expect_shape("six samples", out, (K,))
    check.expect_close("six samples", out, expected, mistakes=mistakes)

    # Exact unbiasedness: the estimator averages a term g(x), so E_{x∼ρ}[ĝ] = Σ_x ρ(x) g(x).
    terms = iw.per_outcome_terms(lambda x: check.call("one sample", theta, x, rho, f), K)
    mean = exact_moments(terms, rho).mean
    check.expect_close("exact expectation", mean, iw.exact_gradient(theta, f), context=(
        "Σ_x ρ(x) · (your estimate from the single sample x) should equal the exact ∇_θ J(θ) "
        "(autograd of Σ_x P_θ(x) f(x)): the estimator must be unbiased."))

    check.expect_raises("rho has a zero", ValueError, theta0, np.array([0, 1]), np.array([0.5, 0.5, 0.0]), f0,
                        hint="ρ(x) = 0 where P_θ(x) > 0 breaks max_x P_θ(x)/ρ(x) < ∞.")
    check.expect_raises("rho does not sum to 1", ValueError, theta0, x0, np.array([0.5, 0.2, 0.2]), f0)
    check.expect_raises("sample out of range", ValueError, theta0, np.array([3]), rho0, f0,
                        hint="outcomes are 0, …, K−1.")
    check.done()


def check_score_function_gradient_estimate(score_function_gradient_estimate: Callable, seed: int = 0,
                                           K: int = 4) -> None:
    """(1/N) Σ_i ∇_θ ln P_θ(x_i) f(x_i): hand case, known mistakes, exact unbiasedness, bad input."""
    check = Check("score_function_gradient_estimate", score_function_gradient_estimate)

    theta, f, _, _ = _case(seed, K, N=0)
    p = iw.softmax(theta)
    xs = np.random.default_rng(seed + 1).choice(K, size=6, p=p)
    six = [("six samples", lambda: (check.call("six samples", theta, xs, f), _score_mistakes(theta, xs, f)[1]))]
    theta0, f0, x0 = np.zeros(3), np.array([1.0, 0.0, 0.0]), np.array([0])
    expected, mistakes = _score_mistakes(theta0, x0, f0)
    out = check.call("hand case", theta0, x0, f0)
    check.expect_close("hand case", out, expected, mistakes=mistakes, diagnose=six, context=(
        "θ = 0, one sample x = 0, f = [1, 0, 0]: ∇_θ ln P_θ(0) = e_0 − P_θ = [2/3, −1/3, −1/3], times f(0) = 1."))

    expected, mistakes = _score_mistakes(theta, xs, f)
    out = check.call("six samples", theta, xs, f)
    check.expect_shape("six samples", out, (K,))
    check.expect_close("six samples", out, expected, mistakes=mistakes)

    terms = iw.per_outcome_terms(lambda x: check.call("one sample", theta, x, f), K)
    mean = exact_moments(terms, p).mean
    check.expect_close("exact expectation", mean, iw.exact_gradient(theta, f), context=(
        "Σ_x P_θ(x) · (your estimate from the single sample x) should equal the exact ∇_θ J(θ)."))

    check.expect_raises("sample out of range", ValueError, theta0, np.array([-1]), f0,
                        hint="outcomes are 0, …, K−1.")
    check.expect_raises("f has the wrong length", ValueError, theta0, x0, np.ones(4),
                        hint="f holds one value per outcome, shape (K,).")
    check.done()
