"""Tests for pgcourse.tabular.value_based: Baird's counterexample, by hand and by averaging samples."""

import numpy as np

from pgcourse.tabular.value_based import (BAIRD_GAMMA, BAIRD_W0, baird_expected_td, baird_features,
                                  baird_off_policy_td)


def test_features_match_sutton_barto():
    X = baird_features()
    assert X.shape == (7, 8)
    np.testing.assert_array_equal(X[0], [2, 0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(X[5], [0, 0, 0, 0, 0, 2, 0, 1])
    np.testing.assert_array_equal(X[6], [0, 0, 0, 0, 0, 0, 1, 2])
    assert np.linalg.matrix_rank(X) == 7  # linearly independent: more expressive than tabular


def test_first_expected_step_by_hand():
    # v(w0): upper states 2 + 1 = 3, lower 10 + 2 = 12; δ(s) = γ·12 − v(s).
    X, alpha = baird_features(), 0.1
    v = np.array([3.0] * 6 + [12.0])
    delta = BAIRD_GAMMA * 12.0 - v
    expected = BAIRD_W0 + alpha / 7 * sum(delta[s] * X[s] for s in range(7))
    np.testing.assert_allclose(baird_expected_td(1, alpha=alpha)[1], expected)


def test_zero_weights_are_a_fixed_point():
    assert np.all(baird_expected_td(50, w0=np.zeros(8)) == 0)
    assert np.all(baird_off_policy_td(50, w0=np.zeros(8)) == 0)


def test_both_versions_diverge_with_baird_features():
    for history in (baird_expected_td(1000), baird_off_policy_td(1000, seed=0)):
        norms = np.linalg.norm(history, axis=1)
        assert history.shape == (1001, 8)
        assert norms[-1] > 20 * norms[0]


def test_tabular_features_do_not_diverge():
    for history in (baird_expected_td(2000, features=np.eye(7)), baird_off_policy_td(2000, features=np.eye(7))):
        norms = np.linalg.norm(history, axis=1)
        assert norms.max() <= norms[0] + 1e-9


def test_sampled_update_averages_to_the_expected_update():
    # One sampled step from a uniform state, averaged over many seeds, equals the expected step.
    X, alpha = baird_features(), 0.01
    steps = np.array([baird_off_policy_td(1, alpha=alpha, seed=s)[1] for s in range(4000)]) - BAIRD_W0
    expected = baird_expected_td(1, alpha=alpha)[1] - BAIRD_W0
    se = steps.std(axis=0) / np.sqrt(len(steps))
    assert np.all(np.abs(steps.mean(axis=0) - expected) <= 5 * se + 1e-12)
