"""The input checks the tabular core shares: parameters θ and distributions on the simplex.

Every public function of `importance`, `policies`, `mdp` and `estimators` checks its inputs at
the boundary and raises a `ValueError` that says what is wrong, never a silent wrong number:

- θ (softmax logits, or any parameter array such as the features φ(s, a)) must be finite, non-empty
  and of the expected shape: `validate_theta`;
- a distribution p ∈ Δ(K) (μ, each row P(· | s, a), π(· | s), ρ, trajectory probabilities ρ_θ(τ))
  must be finite, non-negative and sum to 1 over its last axis: `check_simplex`, with one
  tolerance, `SIMPLEX_ATOL`;
- indices (states s ∈ {0, …, S−1}, actions a ∈ {0, …, A−1}, outcomes x ∈ {0, …, K−1}) must be
  integers in range: `check_indices`; a size or a horizon (S, A, H, N) an integer ≥ 1: `check_count`.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SIMPLEX_ATOL", "check_count", "check_indices", "check_simplex", "validate_theta"]

# |Σ_x p(x) − 1| allowed: loose enough for float32 inputs, tight enough to catch real mistakes.
SIMPLEX_ATOL = 1e-6


def _shape(x: object) -> tuple[int, ...]:
    return tuple(np.shape(x)) if not isinstance(x, torch.Tensor) else tuple(x.shape)


def validate_theta(theta: object, *, ndim: int | None = None, shape: tuple[int, ...] | None = None,
                   shape_name: str | None = None, keep_tensor: bool = False,
                   name: str = "theta") -> np.ndarray | torch.Tensor:
    """θ checked: non-empty, `ndim` axes (or exactly `shape`), every entry finite.

    shape_name: how the error names the expected shape, e.g. "(S, A)" or "(K,)".
    keep_tensor: a torch tensor comes back as it is (its autograd graph kept); otherwise it is
    detached, and everything comes back as float64 NumPy.
    Raises ValueError naming `name`, the expected and the actual shape, or the non-finite values.
    """
    is_tensor = isinstance(theta, torch.Tensor)
    x = theta if is_tensor else np.asarray(theta, dtype=float)
    got = _shape(x)
    if (shape is not None and got != tuple(shape)) or (ndim is not None and len(got) != ndim) \
            or len(got) == 0 or 0 in got:
        expected = shape_name or (str(tuple(shape)) if shape is not None else
                                  f"({', '.join('n' * ndim)}{',' * (ndim == 1)})" if ndim else "(..., n)")
        raise ValueError(f"{name} must have shape {expected}, with no empty axis, got shape {got}")
    finite = bool(torch.isfinite(x).all()) if is_tensor else bool(np.all(np.isfinite(x)))
    if not finite:
        raise ValueError(f"{name} contains NaN or infinite values")
    if is_tensor and keep_tensor:
        return x
    return (x.detach().cpu().numpy() if is_tensor else x).astype(np.float64)


def check_simplex(p: object, name: str = "p") -> np.ndarray:
    """p as float64, checked to lie on the simplex over its last axis: p ≥ 0, finite, Σ_x p(x) = 1.

    Works for one distribution (K,) and for a stack of them (…, K), such as P (S, A, S) or π (S, A).
    Raises ValueError naming `name` and, for a stack, the first row that does not sum to 1.
    """
    p = np.asarray(p, dtype=float)
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"{name} must be a distribution over a last axis of K ≥ 1 outcomes, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be finite and non-negative" + (f", got {p}" if p.size <= 10 else ""))
    sums = p.sum(axis=-1)
    bad = np.abs(sums - 1.0) > SIMPLEX_ATOL
    if p.ndim == 1 and bad:
        raise ValueError(f"{name} must sum to 1, but it sums to {float(sums):.6g}")
    if np.any(bad):
        where = tuple(np.argwhere(bad)[0].tolist())
        raise ValueError(f"{name} must sum to 1 over its last axis; at index {list(where)} it sums to "
                         f"{sums[where]:.6g}")
    return p


def check_indices(x: object, name: str, upper: int, upper_name: str) -> np.ndarray:
    """x as int64, checked to hold integers in 0..upper−1 (`upper_name` names the bound: "S", "A", "K").

    An integer dtype is required: a float array of states or actions is a bug upstream, not a
    number to round. Raises ValueError naming `name`, the range and the values found.
    """
    x = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x)
    if x.size and not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() >= upper):
        raise ValueError(f"{name} must lie in 0..{upper_name}−1 = 0..{upper - 1}; got values in "
                         f"{x.min()}..{x.max()}")
    return x.astype(np.int64)


def check_count(name: str, x: object, minimum: int = 1) -> int:
    """x as an int, checked to be an integer (not a bool) ≥ `minimum`: a size S, A, a horizon H, a count N."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {x!r}")
    return int(x)
