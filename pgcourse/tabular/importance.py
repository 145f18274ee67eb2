"""Importance weighting and the score function: the lecture's warm-up (notebook 01).

The objective is an expectation under a distribution that depends on θ:

    J(θ) = E_{x∼P_θ}[f(x)] = Σ_x P_θ(x) f(x).

For any sampling distribution ρ with max_x P_θ(x)/ρ(x) < ∞ (ρ(x) > 0 wherever P_θ(x) > 0),

    ∇_θ J(θ) = E_{x∼ρ}[∇_θ P_θ(x) f(x) / ρ(x)],

and choosing ρ = P_{θ0} gives the score-function (likelihood-ratio) form

    ∇_θ J(θ0) = E_{x∼P_θ0}[∇_θ ln P_θ0(x) f(x)].

The course uses two families where exact answers exist:
- categorical: P_θ = softmax(θ) over K outcomes, θ ∈ R^K, f ∈ R^K the value of each outcome;
- Gaussian: P_θ = N(θ, σ²) in one dimension, for the picture of a distribution that moves.

This module holds the exact answers (autograd of the exact expectation), input validation, and
the rows g(x) of any estimator that averages a per-sample term, whose exact moments
`pgcourse.tabular.moments.exact_moments` then takes. The estimators themselves are the students' exercise
in notebook 01.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.distributions import Categorical, Normal

from pgcourse.tabular.policies import tabular_softmax as softmax  # P_θ = softmax(θ): one state's tabular softmax
from pgcourse.tabular.validation import check_indices, check_simplex, validate_theta as _validate_theta

ArrayLike = np.ndarray | list | tuple


def validate_theta_vector(theta: ArrayLike) -> np.ndarray:
    """θ ∈ R^K as a finite float64 vector of shape (K,); a clear ValueError otherwise.

    `validation.validate_theta` for one distribution's logits: exactly one axis, named "(K,)" in the error."""
    return _validate_theta(theta, ndim=1, shape_name="(K,)")


def validate_distribution(p: ArrayLike, name: str = "p", K: int | None = None) -> np.ndarray:
    """Return p as a float vector on the simplex Δ(K), or raise ValueError saying what is wrong."""
    p = np.asarray(p, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"{name} must be a vector of shape (K,), got shape {p.shape}")
    if K is not None and p.shape[0] != K:
        raise ValueError(f"{name} has {p.shape[0]} entries but there are K = {K} outcomes")
    return check_simplex(p, name)


def validate_sampling_distribution(rho: ArrayLike, K: int) -> np.ndarray:
    """ρ ∈ Δ(K) with ρ(x) > 0 for every x, so that max_x P_θ(x)/ρ(x) < ∞ for softmax P_θ."""
    rho = validate_distribution(rho, "rho", K)
    if np.any(rho == 0):
        zeros = np.flatnonzero(rho == 0).tolist()
        raise ValueError(
            f"rho is zero at outcomes {zeros}, where P_theta > 0: the ratio P_theta(x)/rho(x) is "
            "unbounded there and importance weighting cannot see those outcomes"
        )
    return rho


def validate_samples(xs: ArrayLike, K: int) -> np.ndarray:
    """Samples as a non-empty integer vector with values in {0, …, K−1}."""
    arr = np.asarray(xs)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"xs must be a non-empty vector of samples, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):   # whole numbers in a float array are accepted here
        if not np.all(np.mod(arr, 1) == 0):
            raise ValueError("xs must hold integer outcomes 0, …, K−1")
        arr = arr.astype(int)
    return check_indices(arr, "xs", K, "K")


def validate_values(f: ArrayLike, K: int) -> np.ndarray:
    """f ∈ R^K, one value per outcome."""
    f = np.asarray(f, dtype=float)
    if f.shape != (K,):
        raise ValueError(f"f must have shape ({K},), one value per outcome, got {f.shape}")
    return f


def exact_objective(theta: ArrayLike | torch.Tensor, f: ArrayLike) -> torch.Tensor:
    """J(θ) = Σ_x softmax(θ)_x f(x) as a differentiable float64 torch scalar."""
    theta_t = torch.as_tensor(np.asarray(theta, dtype=float) if not torch.is_tensor(theta) else theta,
                              dtype=torch.float64)
    f_t = torch.as_tensor(np.asarray(f, dtype=float), dtype=torch.float64)
    return torch.softmax(theta_t, dim=-1) @ f_t


def exact_gradient(theta: ArrayLike, f: ArrayLike) -> np.ndarray:
    """∇_θ J(θ) by autograd of the exact expectation: an independent route to the answer."""
    theta_t = torch.tensor(validate_theta_vector(theta), dtype=torch.float64, requires_grad=True)
    exact_objective(theta_t, validate_values(f, theta_t.shape[0])).backward()
    return theta_t.grad.numpy()


def sample(p: ArrayLike, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """n integer samples from the categorical distribution p."""
    p = validate_distribution(p)
    rng = np.random.default_rng(seed)
    return rng.choice(p.shape[0], size=n, p=p)


def per_outcome_terms(estimator: Callable[[np.ndarray], np.ndarray], K: int) -> np.ndarray:
    """Rows g(x) = estimator(xs=[x]) for x = 0…K−1, shape (K, K).

    An estimator that averages a per-sample term, ĝ = (1/N) Σ_i g(x_i), is determined by g, so
    its exact mean and covariance under any sampling distribution q follow by enumeration:
    `pgcourse.tabular.moments.exact_moments(per_outcome_terms(estimator, K), q)`.
    """
    return np.stack([np.asarray(estimator(np.array([x])), dtype=float) for x in range(K)])


def kl_divergence(p: ArrayLike, q: ArrayLike) -> float:
    """KL(p ‖ q) = Σ_x p(x) ln(p(x)/q(x)), the distance used on the variance plot's x-axis.

    torch.distributions' categorical KL: 0 ln 0 = 0, and +inf where q(x) = 0 < p(x). Unchecked,
    as before: p and q are taken to be distributions (validate_args=False)."""
    p_t, q_t = (Categorical(probs=torch.as_tensor(np.asarray(v, dtype=float)), validate_args=False)
                for v in (p, q))
    return float(torch.distributions.kl_divergence(p_t, q_t))


# ---- the Gaussian picture: P_θ = N(θ, σ²) in one dimension ----------------------------------

def gaussian_pdf(x: np.ndarray, theta: float, sigma: float) -> np.ndarray:
    """The density N(x; θ, σ²) = exp(−(x − θ)²/(2σ²)) / (σ√(2π)) at x (any shape), by
    torch.distributions.Normal."""
    normal = Normal(torch.as_tensor(theta, dtype=torch.float64), torch.as_tensor(sigma, dtype=torch.float64),
                    validate_args=False)  # unchecked, as before: σ > 0 is the caller's
    return normal.log_prob(torch.as_tensor(x, dtype=torch.float64)).exp().numpy()[()]


def gaussian_score(x: np.ndarray, theta: float, sigma: float) -> np.ndarray:
    """∇_θ ln N(x; θ, σ²) = (x − θ)/σ²."""
    return (np.asarray(x) - theta) / sigma**2


def gaussian_objective(theta: float, sigma: float, f: Callable[[np.ndarray], np.ndarray],
                       grid: np.ndarray | None = None) -> float:
    """J(θ) = ∫ N(x; θ, σ²) f(x) dx by the trapezoidal rule on a fine grid (exact to plot accuracy)."""
    if grid is None:
        grid = np.linspace(theta - 8 * sigma, theta + 8 * sigma, 4001)
    return float(np.trapezoid(gaussian_pdf(grid, theta, sigma) * f(grid), grid))


def gaussian_score_ascent(theta0: float, sigma: float, f: Callable[[np.ndarray], np.ndarray],
                          lr: float, steps: int, n_samples: int, seed: int = 0) -> np.ndarray:
    """Stochastic gradient ascent θ ← θ + η (1/N) Σ_i (x_i − θ)/σ² f(x_i), x_i ∼ N(θ, σ²).

    Returns the path θ_0, …, θ_steps (shape (steps + 1,)).
    """
    rng = np.random.default_rng(seed)
    path = [float(theta0)]
    for _ in range(steps):
        x = rng.normal(path[-1], sigma, size=n_samples)
        path.append(path[-1] + lr * float(np.mean(gaussian_score(x, path[-1], sigma) * f(x))))
    return np.array(path)
