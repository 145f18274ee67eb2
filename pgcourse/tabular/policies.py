"""Softmax policies for finite S and A: graduated from notebook 02 (policy parameterization).

Tabular softmax (the lecture's policy 1), θ ∈ R^{S×A}:

    π_θ(a | s) = exp(θ_{s,a}) / Σ_{a'} exp(θ_{s,a'}),
    ∇_θ ln π_θ(a | s) = e_s ⊗ (e_a − π_θ(· | s))          (an S×A matrix, zero outside row s).

Linear softmax (the lecture's policy 2), features φ(s, a) ∈ R^d and θ ∈ R^d:

    π_θ(a | s) = exp(θᵀφ(s, a)) / Σ_{a'} exp(θᵀφ(s, a')),
    ∇_θ ln π_θ(a | s) = φ(s, a) − Σ_{a'} π_θ(a' | s) φ(s, a').

Every function accepts a NumPy array or a torch tensor and returns the same type, so the torch
versions can sit inside autograd. Softmax subtracts the row maximum first, so θ = 1000 is fine.
References: Williams (1992); Sutton et al. (2000); Agarwal et al. (2021) for the tabular case.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from pgcourse.tabular.validation import check_indices, validate_theta

__all__ = [
    "tabular_softmax",
    "grad_log_tabular_softmax",
    "grad_log_tabular_softmax_batch",
    "linear_softmax_policy",
    "grad_log_linear_softmax_all_pairs",
]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def tabular_softmax(theta: ArrayT) -> ArrayT:
    """π_θ(a | s) = exp(θ_{s,a}) / Σ_{a'} exp(θ_{s,a'}), over the last axis.

    theta: (S, A) logits (any shape (..., A) works). Returns probabilities of the same shape and
    type (NumPy float64 in, NumPy float64 out; a tensor in, a differentiable tensor out).
    """
    theta = validate_theta(theta, shape_name="(..., A) with A ≥ 1", keep_tensor=True)
    if isinstance(theta, torch.Tensor):
        return torch.softmax(theta, dim=-1)
    z = np.exp(theta - theta.max(axis=-1, keepdims=True))  # max-shift: no overflow at θ = 1000
    return z / z.sum(axis=-1, keepdims=True)


def _tabular_theta(theta: object) -> tuple[np.ndarray | torch.Tensor, int, int]:
    theta = validate_theta(theta, ndim=2, shape_name="(S, A)", keep_tensor=True)
    return theta, int(theta.shape[0]), int(theta.shape[1])


def grad_log_tabular_softmax(theta: ArrayT, s: int, a: int) -> ArrayT:
    """∇_θ ln π_θ(a | s) = e_s ⊗ (e_a − π_θ(· | s)) for one state-action pair.

    theta: (S, A); s ∈ {0..S−1}; a ∈ {0..A−1}. Returns (S, A), zero outside row s.
    """
    theta, S, A = _tabular_theta(theta)
    if not (0 <= int(s) < S and 0 <= int(a) < A):
        raise ValueError(f"(s, a) = ({s}, {a}) is out of range for theta of shape (S, A) = ({S}, {A})")
    return grad_log_tabular_softmax_batch(theta, np.asarray(int(s)), np.asarray(int(a)))


def grad_log_tabular_softmax_batch(theta: ArrayT, states: ArrayT, actions: ArrayT) -> ArrayT:
    """∇_θ ln π_θ(a | s) for a batch: out[i] = e_{states[i]} ⊗ (e_{actions[i]} − π_θ(· | states[i])).

    theta: (S, A); states, actions: integer arrays of the same shape (...) (e.g. (N, H)).
    Returns (..., S, A), the same type as theta. (Notebook 03 derives what to do with it; there it
    counts as the library's answer, see pgcourse.checks.integrity.)
    """
    theta, S, A = _tabular_theta(theta)
    torch_in = isinstance(theta, torch.Tensor)
    st = np.asarray(states.cpu() if isinstance(states, torch.Tensor) else states)
    ac = np.asarray(actions.cpu() if isinstance(actions, torch.Tensor) else actions)
    if st.shape != ac.shape:
        raise ValueError(f"states {st.shape} and actions {ac.shape} must have the same shape")
    st, ac = check_indices(st, "states", S, "S"), check_indices(ac, "actions", A, "A")
    pi = tabular_softmax(theta)  # (S, A)
    if torch_in:
        eye_s = torch.eye(S, dtype=theta.dtype, device=theta.device)
        eye_a = torch.eye(A, dtype=theta.dtype, device=theta.device)
        st_t, ac_t = torch.as_tensor(st, device=theta.device), torch.as_tensor(ac, device=theta.device)
        return eye_s[st_t][..., :, None] * (eye_a[ac_t] - pi[st_t])[..., None, :]
    # (..., S, 1) * (..., 1, A): the outer product e_s ⊗ (e_a − π(·|s))
    return np.eye(S)[st][..., :, None] * (np.eye(A)[ac] - pi[st])[..., None, :]


def _as_array(x: object, name: str) -> np.ndarray | torch.Tensor:
    """Finite θ or φ: a tensor stays a tensor (autograd), anything else becomes float64 NumPy."""
    return validate_theta(x, keep_tensor=True, name=name)


def _check_phi(theta: np.ndarray | torch.Tensor, phi: np.ndarray | torch.Tensor) -> None:
    if theta.ndim != 1:
        raise ValueError(f"theta must be a vector of shape (d,), got shape {tuple(theta.shape)}")
    if phi.ndim != 3 or phi.shape[-1] != theta.shape[0]:
        raise ValueError(
            f"phi must have shape (S, A, d) with d = len(theta) = {theta.shape[0]}, got {tuple(phi.shape)}"
        )


def linear_softmax_policy(theta: ArrayT, phi: ArrayT) -> ArrayT:
    """π_θ(a | s) = exp(θᵀφ(s, a)) / Σ_{a'} exp(θᵀφ(s, a')).

    theta: (d,); phi: (S, A, d) features. Returns (S, A) probabilities, the type of theta.
    """
    theta, phi = _as_array(theta, "theta"), _as_array(phi, "phi")
    _check_phi(theta, phi)
    if isinstance(theta, torch.Tensor):
        phi = torch.as_tensor(phi, dtype=theta.dtype, device=theta.device)
    return tabular_softmax(phi @ theta)  # logits (S, A)


def grad_log_linear_softmax_all_pairs(theta: ArrayT, phi: ArrayT) -> ArrayT:
    """The score table: out[s, a] = ∇_θ ln π_θ(a | s) = φ(s, a) − Σ_{a'} π_θ(a' | s) φ(s, a'), every (s, a).

    theta: (d,); phi: (S, A, d). Returns (S, A, d); index [s, a] for one pair. (Notebook 02's
    exercise `grad_log_linear_softmax(theta, phi, s, a)` computes one entry of this table.)
    """
    theta, phi = _as_array(theta, "theta"), _as_array(phi, "phi")
    _check_phi(theta, phi)
    if isinstance(theta, torch.Tensor):
        phi = torch.as_tensor(phi, dtype=theta.dtype, device=theta.device)
    pi = tabular_softmax(phi @ theta)  # (S, A)
    weighted = pi[..., None] * phi  # (S, A, d)
    mean_phi = weighted.sum(-2)[..., None, :]  # (S, 1, d): Σ_a' π(a'|s) φ(s, a')
    return phi - mean_phi
