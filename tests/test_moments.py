"""pgcourse.tabular.moments: exact means and covariances by enumeration, against a hand case and Monte Carlo."""

import numpy as np
import pytest

from pgcourse.tabular import importance as iw
from pgcourse.tabular.moments import exact_moments


def test_hand_case():
    terms = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 2.0]])
    probs = np.array([0.5, 0.25, 0.25])
    m = exact_moments(terms, probs)
    np.testing.assert_allclose(m.mean, [0.5 * 1 + 0.25 * 3, 0.25 * 2 + 0.25 * 2])  # [1.25, 1.0]
    # Cov = E[g gᵀ] − E g E gᵀ, computed the other way round from the definition in the module
    second = sum(p * np.outer(g, g) for p, g in zip(probs, terms))
    np.testing.assert_allclose(m.cov, second - np.outer(m.mean, m.mean), atol=1e-14)
    assert m.total_variance == pytest.approx(np.trace(second) - m.mean @ m.mean)
    assert np.all(np.linalg.eigvalsh(m.cov) >= -1e-12)


def test_terms_of_any_shape_flatten_into_the_covariance():
    rng = np.random.default_rng(0)
    terms, probs = rng.normal(size=(5, 2, 3)), rng.dirichlet(np.ones(5))
    m = exact_moments(terms, probs)
    flat = exact_moments(terms.reshape(5, 6), probs)
    assert m.mean.shape == (2, 3) and m.cov.shape == (6, 6)
    np.testing.assert_allclose(m.mean.reshape(6), flat.mean)
    np.testing.assert_allclose(m.cov, flat.cov)


def test_agree_with_monte_carlo():
    """Exact mean and variance by enumeration vs a large sample (within 5 standard errors)."""
    rng = np.random.default_rng(1)
    terms, q = rng.normal(size=(4, 4)), np.array([0.1, 0.2, 0.3, 0.4])
    m = exact_moments(terms, q)
    draws = terms[iw.sample(q, 100_000, seed=2)]
    se = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - m.mean) < 5 * se)
    assert np.isclose(np.sum(draws.var(axis=0)), m.total_variance, rtol=0.02)


@pytest.mark.parametrize("probs, message", [
    ([0.5, 0.25, 0.2], "sum to 1"), ([0.5, 0.5], "probs must have shape"), ([1.5, -0.25, -0.25], "non-negative"),
])
def test_bad_probabilities_raise(probs, message):
    with pytest.raises(ValueError, match=message):
        exact_moments(np.zeros((3, 2)), np.array(probs))
