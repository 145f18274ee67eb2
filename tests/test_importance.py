"""pgcourse.importance, pgcourse.plotting and the check machinery, against independent routes."""

from __future__ import annotations

import contextlib
import io

import matplotlib
import numpy as np
import pytest

from pgcourse import importance as iw
from pgcourse import plotting
from pgcourse.checks.core import Check

matplotlib.use("Agg")


def test_softmax_is_stable_and_normalized():
    p = iw.softmax(np.array([1000.0, 0.0, -1000.0]))
    assert np.all(np.isfinite(p)) and np.isclose(p.sum(), 1) and np.isclose(p[0], 1)
    assert np.allclose(iw.softmax(np.zeros(4)), 0.25)


def test_exact_gradient_matches_finite_differences_and_closed_form():
    rng = np.random.default_rng(0)
    theta, f = rng.normal(size=5), rng.normal(size=5)
    grad = iw.exact_gradient(theta, f)
    eps = 1e-6
    fd = np.array([(iw.exact_objective(theta + eps * e, f).item() - iw.exact_objective(theta - eps * e, f).item())
                   / (2 * eps) for e in np.eye(5)])
    assert np.allclose(grad, fd, atol=1e-8)
    p = iw.softmax(theta)
    assert np.allclose(grad, p * (f - p @ f), atol=1e-12)          # ∂J/∂θ_x = P(x)(f(x) − J)


@pytest.mark.parametrize("rho, message", [
    ([0.5, 0.5, 0.1], "sum to 1"), ([1.2, -0.2, 0.0], "non-negative"), ([[0.5, 0.5]], "shape"),
    ([0.5, 0.5, 0.0], "zero"), ([0.5, 0.5], "K = 3"),
])
def test_sampling_distribution_validation(rho, message):
    with pytest.raises(ValueError, match=message):
        iw.validate_sampling_distribution(rho, 3)


@pytest.mark.parametrize("xs", [[3], [-1], [], [0.5], [[0, 1]]])
def test_sample_validation(xs):
    with pytest.raises(ValueError):
        iw.validate_samples(np.array(xs), 3)


def test_estimator_moments_agree_with_monte_carlo():
    """Exact mean and variance by enumeration vs a large sample (within 5 standard errors)."""
    rng = np.random.default_rng(1)
    terms, q = rng.normal(size=(4, 4)), np.array([0.1, 0.2, 0.3, 0.4])
    mean, total_variance = iw.estimator_moments(terms, q)
    draws = terms[iw.sample(q, 100_000, seed=2)]
    se = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * se)
    assert np.isclose(np.sum(draws.var(axis=0)), total_variance, rtol=0.02)


def test_kl_divergence():
    p = np.array([0.5, 0.5])
    assert iw.kl_divergence(p, p) == 0
    assert np.isclose(iw.kl_divergence(p, [0.25, 0.75]), 0.5 * np.log(2) + 0.5 * np.log(2 / 3))


def test_gaussian_objective_and_score_ascent():
    bump = lambda x: np.exp(-0.5 * (x - 3.0) ** 2)
    # N(θ,1) against a unit Gaussian bump: J(θ) = exp(−(θ−3)²/4)/√2 in closed form
    for theta in (-1.0, 0.0, 2.5):
        assert np.isclose(iw.gaussian_objective(theta, 1.0, bump), np.exp(-(theta - 3) ** 2 / 4) / np.sqrt(2))
    path = iw.gaussian_score_ascent(-1.0, 1.0, bump, lr=2.0, steps=60, n_samples=50, seed=0)
    assert path.shape == (61,) and abs(path[-1] - 3.0) < 0.5


def test_plots_return_figures_and_html():
    theta = np.zeros(3)
    fig = plotting.plot_error_vs_samples(np.array([10, 100]), np.array([1.0, 0.3]))
    assert fig.axes[0].get_xlabel()
    html = plotting.animate_categorical(np.stack([theta, theta + [1, 0, 0]]), np.array([1.0, 0.0, 0.0]))
    assert "<script" in html.data
    fig = plotting.plot_gaussian_path(np.linspace(0, 1, 5), 1.0, np.cos)
    assert len(fig.axes) >= 2


# ---- the check machinery ---------------------------------------------------------------------

def test_check_explains_not_implemented_and_student_errors():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not implemented yet"):
        Check("f", stub).call("case", 1)
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        Check("f", lambda x: 1 / 0).call("case", 1)
    with pytest.raises(AssertionError, match="should be a function"):
        Check("f", 3)


def test_check_hints_and_stays_off_stderr():
    check = Check("f", lambda x: x)
    with pytest.raises(AssertionError, match="wrong sign"):
        check.expect_close("c", np.array([-1.0, 2.0]), np.array([1.0, -2.0]))
    with pytest.raises(AssertionError, match="summed"):
        check.expect_close("c", np.array([2.0]), np.array([1.0]), mistakes=[("you summed", np.array([2.0]))])
    with pytest.raises(AssertionError, match="shape"):
        check.expect_close("c", np.zeros(2), np.zeros(3))
    with pytest.raises(AssertionError, match="None"):
        check.expect_close("c", None, np.zeros(3))

    def noisy(x):
        import sys
        import warnings
        warnings.warn("careful")
        print("to stderr", file=sys.stderr)
        return x

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert Check("noisy", noisy).call("case", 5) == 5
    assert err.getvalue() == ""
