"""The notebook-02 checks accept the library's implementations and their helpers are accurate."""

import contextlib
import io

import numpy as np
import pytest
import torch

from cheats import watch_off  # noqa: F401  (a fixture)
from pgcourse.tabular import policies
from pgcourse.checks import softmax as checks


def test_finite_differences_match_a_known_gradient():
    theta = np.array([[0.3, -1.2], [2.0, 0.5]])
    grad = checks.finite_difference_gradient(lambda t: float(np.sum(t ** 3)), theta)
    np.testing.assert_allclose(grad, 3 * theta ** 2, rtol=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_checks_accept_pgcourse_policies(seed, watch_off):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        checks.check_tabular_softmax_policy(policies.tabular_softmax, seed=seed)
        checks.check_grad_log_tabular_softmax(lambda th, s, a: policies.grad_log_tabular_softmax(th, s, a), seed=seed)
        checks.check_linear_softmax_policy(policies.linear_softmax_policy, seed=seed)
        checks.check_grad_log_linear_softmax(
            lambda th, phi, s, a: policies.grad_log_linear_softmax_all_pairs(th, phi)[s, a], seed=seed)
        checks.check_neural_log_prob(lambda net, x, a: torch.distributions.Categorical(logits=net(x)).log_prob(a),
                                     seed=seed)
    assert out.getvalue().count("✓") == 5


def test_hint_names_the_missing_pi_term():
    def missing(theta, s, a):
        g = np.zeros_like(theta)
        g[s, a] = 1.0
        return g
    with pytest.raises(AssertionError, match="−π_θ"):
        checks.check_grad_log_tabular_softmax(missing)


def test_policy_net_is_seeded_and_scaled():
    a, b = checks.make_policy_net(3, 4, seed=2), checks.make_policy_net(3, 4, seed=2, scale=10.0)
    x = torch.ones(1, 3, dtype=torch.float64)
    torch.testing.assert_close(b(x), 10 * a(x))
