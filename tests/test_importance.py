"""pgcourse.tabular.importance, pgcourse.tabular.plots and the check machinery, against independent routes."""

from __future__ import annotations

import contextlib
import io
import re

import matplotlib
import numpy as np
import pytest
import torch

from pgcourse.tabular import importance as iw
from pgcourse.tabular import plots
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
    # gradcheck compares autograd through J with central finite differences of J, entry by entry
    t = torch.tensor(theta, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: iw.exact_objective(x, f), (t,), eps=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad, torch.autograd.grad(iw.exact_objective(t, f), t)[0].numpy(), atol=1e-15)
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


def test_error_plot_draws_the_data_and_a_one_over_sqrt_n_guide():
    ns, errors = np.array([10, 100, 1000]), np.array([1.0, 0.3, 0.12])
    fig = plots.plot_error_vs_samples(ns, errors, label="IW")
    data, guide = fig.axes[0].get_lines()
    np.testing.assert_array_equal(data.get_ydata(), errors)
    np.testing.assert_allclose(guide.get_ydata() * np.sqrt(ns), errors[0] * np.sqrt(ns[0]))  # slope −½ on log-log
    assert fig.axes[0].get_xscale() == fig.axes[0].get_yscale() == "log"


def test_animation_has_one_frame_per_kept_step_and_the_bars_move():
    thetas = np.stack([np.zeros(3) + [k, 0, 0] for k in range(7)])
    html = plots.animate_categorical(thetas, np.array([1.0, 0.0, 0.0]), every=3).data
    frames = re.findall(r"frames\[(\d+)\] = \"data:image/png;base64,([^\"]+)\"", html)
    assert [int(i) for i, _ in frames] == [0, 1, 2]                # steps 0, 3, 6
    assert len({image for _, image in frames}) == 3                 # each frame draws different bars


def test_animation_is_not_drawn_while_grading(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    html = plots.animate_categorical(np.zeros((7, 3)), np.array([1.0, 0.0, 0.0]), every=3).data
    assert "data:image/png" not in html and "3 frames" in html and "not drawn" in html


def test_gaussian_path_plot_draws_the_densities_and_the_objective():
    path, bump = np.linspace(0, 1, 5), np.cos
    fig = plots.plot_gaussian_path(path, 1.0, bump, snapshots=3)
    ax, ax_j, ax_f = fig.axes                                       # densities, J(θ_t), f on a twin axis
    peaks = [line.get_xdata()[np.argmax(line.get_ydata())] for line in ax.get_lines()]
    np.testing.assert_allclose(peaks, path[[0, 2, 4]], atol=0.02)   # N(θ_t, 1) peaks at θ_t
    np.testing.assert_allclose(ax_j.get_lines()[0].get_ydata(), [iw.gaussian_objective(t, 1.0, bump) for t in path])
    np.testing.assert_allclose(ax_f.get_lines()[0].get_ydata(), bump(ax_f.get_lines()[0].get_xdata()))


def test_variance_plot_draws_the_variances_against_kl():
    kls, variances = np.array([0.0, 0.5, 1.0]), np.array([1.0, 2.0, 8.0])
    fig = plots.plot_variance_vs_kl(kls, variances, reference=1.0)
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), kls)
    np.testing.assert_array_equal(line.get_ydata(), variances)


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


def test_kl_divergence_and_gaussian_pdf_by_hand():
    """torch.distributions gives the course's formulas: 0 ln 0 = 0, +inf off q's support, and
    N(x; θ, σ²) = exp(−(x − θ)²/(2σ²)) / (σ√(2π)) at any shape of x."""
    assert iw.kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(np.log(2))
    assert iw.kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf
    x = np.linspace(-3.0, 5.0, 9).reshape(3, 3)
    by_hand = np.exp(-0.5 * ((x - 1.3) / 0.7) ** 2) / (0.7 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(iw.gaussian_pdf(x, 1.3, 0.7), by_hand, rtol=1e-12)
    assert isinstance(iw.gaussian_pdf(0.3, 0.0, 1.0), float)
    assert iw.gaussian_objective(0.4, 0.8, lambda z: np.ones_like(z)) == pytest.approx(1.0, abs=1e-6)
