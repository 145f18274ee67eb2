"""Plausible wrong answers (and other correct ones) for notebook 01's exercises."""

import numpy as np
import torch

from pgcourse.tabular import importance as iw
from mutation import Exercise

NOTEBOOK = "01_importance_weighting"


def _checked(theta, xs, rho, f):
    theta = iw.validate_theta_vector(theta)
    K = theta.shape[0]
    return (theta, iw.validate_samples(xs, K), iw.validate_sampling_distribution(rho, K),
            iw.validate_values(f, K), iw.softmax(theta), np.eye(K))


# ---- iw_gradient_estimate ------------------------------------------------------------------

def iw_sign_flipped(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return -np.mean(p[xs, None] * (eye[xs] - p) * (f[xs] / rho[xs])[:, None], axis=0)


def iw_divides_by_p_theta(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.mean(p[xs, None] * (eye[xs] - p) * (f[xs] / p[xs])[:, None], axis=0)


def iw_missing_f(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.mean(p[xs, None] * (eye[xs] - p) / rho[xs, None], axis=0)


def iw_sum_not_mean(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.sum(p[xs, None] * (eye[xs] - p) * (f[xs] / rho[xs])[:, None], axis=0)


def iw_no_rho(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.mean(p[xs, None] * (eye[xs] - p) * f[xs, None], axis=0)


def iw_missing_normaliser_term(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.mean(p[xs, None] * eye[xs] * (f[xs] / rho[xs])[:, None], axis=0)


def iw_rho_off_by_one(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.mean(p[xs, None] * (eye[xs] - p) * (f[xs] / rho[(xs + 1) % len(rho)])[:, None], axis=0)


def iw_divides_by_K(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.sum(p[xs, None] * (eye[xs] - p) * (f[xs] / rho[xs])[:, None], axis=0) / len(theta)


def iw_divides_by_N_minus_1(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.sum(p[xs, None] * (eye[xs] - p) * (f[xs] / rho[xs])[:, None], axis=0) / (len(xs) - 1)


def iw_missing_p_factor(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    return np.mean((eye[xs] - p) * (f[xs] / rho[xs])[:, None], axis=0)


def iw_no_validation(theta, xs, rho, f):
    theta, xs, rho, f = (np.asarray(a, dtype=float) for a in (theta, xs, rho, f))
    xs = xs.astype(int)
    p = iw.softmax(theta)
    return np.mean(p[xs, None] * (np.eye(len(theta))[xs] - p) * (f[xs] / rho[xs])[:, None], axis=0)


def iw_checks_only_sampled_rho(theta, xs, rho, f):
    theta = iw.validate_theta_vector(theta)
    K = theta.shape[0]
    rho = iw.validate_distribution(rho, "rho", K)
    xs = iw.validate_samples(xs, K)
    f = iw.validate_values(f, K)
    if np.any(rho[xs] == 0):
        raise ValueError("rho is zero at a sample")
    p = iw.softmax(theta)
    return np.mean(p[xs, None] * (np.eye(K)[xs] - p) * (f[xs] / rho[xs])[:, None], axis=0)


def iw_loop(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    total = np.zeros_like(theta)
    for x in xs:
        grad_p = np.array([p[x] * ((x == k) - p[k]) for k in range(len(theta))])
        total += grad_p * f[x] / rho[x]
    return total / len(xs)


def iw_autograd(theta, xs, rho, f):
    theta, xs, rho, f, _, _ = _checked(theta, xs, rho, f)
    theta_t = torch.tensor(theta, requires_grad=True)
    p = torch.softmax(theta_t, dim=0)
    surrogate = torch.mean(p[torch.as_tensor(xs)] * torch.as_tensor(f[xs] / rho[xs]))
    surrogate.backward()
    return theta_t.grad.numpy()


def iw_as_score_times_ratio(theta, xs, rho, f):
    theta, xs, rho, f, p, eye = _checked(theta, xs, rho, f)
    ratio = p[xs] / rho[xs]                      # ∇P/ρ = (P/ρ) ∇ln P
    return np.mean((eye[xs] - p) * (ratio * f[xs])[:, None], axis=0)


# ---- score_function_gradient_estimate ------------------------------------------------------

def _checked_sf(theta, xs, f):
    theta = iw.validate_theta_vector(theta)
    K = theta.shape[0]
    return theta, iw.validate_samples(xs, K), iw.validate_values(f, K), iw.softmax(theta), np.eye(K)


def sf_sign_flipped(theta, xs, f):
    theta, xs, f, p, eye = _checked_sf(theta, xs, f)
    return np.mean((p - eye[xs]) * f[xs, None], axis=0)


def sf_grad_p_not_log(theta, xs, f):
    theta, xs, f, p, eye = _checked_sf(theta, xs, f)
    return np.mean(p[xs, None] * (eye[xs] - p) * f[xs, None], axis=0)


def sf_missing_f(theta, xs, f):
    theta, xs, f, p, eye = _checked_sf(theta, xs, f)
    return np.mean(eye[xs] - p, axis=0)


def sf_sum_not_mean(theta, xs, f):
    theta, xs, f, p, eye = _checked_sf(theta, xs, f)
    return np.sum((eye[xs] - p) * f[xs, None], axis=0)


def sf_missing_normaliser_term(theta, xs, f):
    theta, xs, f, p, eye = _checked_sf(theta, xs, f)
    return np.mean(eye[xs] * f[xs, None], axis=0)


def sf_divides_by_p(theta, xs, f):
    theta, xs, f, p, eye = _checked_sf(theta, xs, f)
    return np.mean((eye[xs] - p) * (f[xs] / p[xs])[:, None], axis=0)


def sf_divides_by_K(theta, xs, f):
    theta, xs, f, p, eye = _checked_sf(theta, xs, f)
    return np.sum((eye[xs] - p) * f[xs, None], axis=0) / len(theta)


def sf_no_validation(theta, xs, f):
    theta, f = np.asarray(theta, dtype=float), np.asarray(f, dtype=float)
    xs = np.asarray(xs).astype(int)
    p = iw.softmax(theta)
    return np.mean((np.eye(len(theta))[xs] - p) * f[xs, None], axis=0)


def sf_loop(theta, xs, f):
    theta, xs, f, p, _ = _checked_sf(theta, xs, f)
    total = np.zeros_like(theta)
    for x in xs:
        score = -p.copy()
        score[x] += 1.0
        total += score * f[x]
    return total / len(xs)


def sf_list_comprehension(theta, xs, f):
    theta, xs, f, p, _ = _checked_sf(theta, xs, f)
    return np.mean([(np.eye(len(theta))[x] - p) * f[x] for x in xs], axis=0)


def sf_autograd(theta, xs, f):
    theta, xs, f, _, _ = _checked_sf(theta, xs, f)
    theta_t = torch.tensor(theta, requires_grad=True)
    log_p = torch.log_softmax(theta_t, dim=0)
    torch.mean(log_p[torch.as_tensor(xs)] * torch.as_tensor(f[xs])).backward()
    return theta_t.grad.numpy()


EXERCISES = [
    Exercise("test_iw_gradient_estimate", "iw_gradient_estimate",
             wrong=[iw_sign_flipped, iw_divides_by_p_theta, iw_missing_f, iw_sum_not_mean, iw_no_rho,
                    iw_missing_normaliser_term, iw_rho_off_by_one, iw_no_validation, iw_checks_only_sampled_rho,
                    iw_divides_by_K, iw_divides_by_N_minus_1, iw_missing_p_factor],
             correct=[iw_loop, iw_autograd, iw_as_score_times_ratio],
             hints={"iw_sign_flipped": "right size, wrong sign", "iw_divides_by_p_theta": "instead of ρ(x_i)",
                    "iw_missing_f": "f(x_i) is missing", "iw_sum_not_mean": "you summed over the samples",
                    "iw_no_rho": "you forgot to divide by ρ(x_i)", "iw_missing_normaliser_term": "the −P_θ part",
                    "iw_divides_by_K": "you divided by K", "iw_divides_by_N_minus_1": "you divided by N − 1",
                    "iw_missing_p_factor": "the factor P_θ(x) is missing"}),
    Exercise("test_score_function_gradient_estimate", "score_function_gradient_estimate",
             wrong=[sf_sign_flipped, sf_grad_p_not_log, sf_missing_f, sf_sum_not_mean, sf_missing_normaliser_term,
                    sf_divides_by_p, sf_no_validation, sf_divides_by_K],
             correct=[sf_loop, sf_autograd, sf_list_comprehension],
             hints={"sf_sign_flipped": "right size, wrong sign", "sf_grad_p_not_log": "instead of ∇_θ ln P_θ(x)",
                    "sf_missing_f": "f(x_i) is missing", "sf_sum_not_mean": "you summed over the samples",
                    "sf_missing_normaliser_term": "the −P_θ part", "sf_divides_by_K": "you divided by K"}),
]
