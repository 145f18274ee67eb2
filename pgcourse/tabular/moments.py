"""Exact moments by enumeration: the mean and covariance of an estimator, with no sampling.

Every estimator in the course averages a per-sample term over N independent samples,

    ĝ = (1/N) Σ_{i=1}^N g(x_i),   x_i ∼ p,

where a sample x is an outcome (notebook 01: x ∈ {0, …, K−1}, p = ρ or P_θ) or a whole
trajectory (notebooks 03 and 04: x = τ, p = ρ_θ). When the samples can be listed, x_1 … x_M with
probabilities p_1 … p_M,

    E[ĝ] = Σ_m p_m g(x_m),   Cov[ĝ] = (1/N) Σ_m p_m (g(x_m) − E g)(g(x_m) − E g)ᵀ,

exactly, and "total variance" is the trace of the covariance for N = 1, E‖g(x) − E g‖².
`importance.per_outcome_terms` and `variance.per_trajectory_terms` build the rows g(x_m); the
checks use the same function to take an answer's exact expectation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pgcourse.tabular.validation import check_simplex

__all__ = ["Moments", "exact_moments"]


class Moments(NamedTuple):
    """Exact moments of one sample's term g(x): mean (…), covariance (D, D) with D = mean.size,
    and total variance tr Cov = E‖g − E g‖² (divide by N for an average of N samples)."""

    mean: np.ndarray
    cov: np.ndarray
    total_variance: float


def exact_moments(terms: np.ndarray, probs: np.ndarray) -> Moments:
    """E g = Σ_m p_m g_m,  Cov g = Σ_m p_m (g_m − E g)(g_m − E g)ᵀ,  tr Cov = Σ_m p_m ‖g_m − E g‖².

    terms: (M, …) one row g_m per enumerated sample (outcome or trajectory);
    probs: (M,) their probabilities, on the simplex. Returns Moments(mean (…), cov (D, D), total_variance).
    """
    terms = np.asarray(terms, dtype=float)
    probs = check_simplex(probs, "probs")
    if terms.ndim == 0 or probs.shape != (terms.shape[0],):
        raise ValueError(f"probs must have shape ({terms.shape[0] if terms.ndim else '?'},), one probability per "
                         f"row of terms, got {probs.shape}")
    mean = np.tensordot(probs, terms, axes=1)
    centred = (terms - mean).reshape(len(probs), -1)  # (M, D)
    cov = centred.T @ (probs[:, None] * centred)
    return Moments(mean, cov, float(np.trace(cov)))
