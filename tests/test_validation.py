"""pgcourse.tabular.validation: the one θ validator and the one simplex check, at every boundary that uses them."""

import numpy as np
import pytest
import torch

from pgcourse.tabular import estimators, importance, mdp, policies
from pgcourse.tabular.validation import SIMPLEX_ATOL, check_simplex, validate_theta


@pytest.mark.parametrize("theta, kwargs, message", [
    ([[1.0, np.nan]], {}, "NaN or infinite"),
    (torch.tensor([np.inf, 0.0]), {"keep_tensor": True}, "NaN or infinite"),
    (np.zeros(3), {"ndim": 2, "shape_name": "(S, A)"}, r"shape \(S, A\), .* got shape \(3,\)"),
    (np.zeros((2, 3)), {"shape": (3, 2)}, r"shape \(3, 2\)"),
    (np.zeros((2, 0)), {}, "no empty axis"),
    (3.0, {}, r"got shape \(\)"),
])
def test_validate_theta_rejects(theta, kwargs, message):
    with pytest.raises(ValueError, match=message):
        validate_theta(theta, **kwargs)


def test_validate_theta_keeps_the_graph_only_when_asked():
    t = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    assert validate_theta(t, keep_tensor=True) is t
    out = validate_theta(t)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert validate_theta([[1, 2]]).dtype == np.float64


def test_every_tabular_boundary_uses_the_same_theta_check():
    m = mdp.random_mdp(2, 2, H=2, seed=0)
    bad = np.array([[0.0, np.nan], [0.0, 0.0]])
    s, a = np.zeros((1, 2), dtype=int), np.zeros((1, 2), dtype=int)
    calls = [lambda: importance.validate_theta_vector(bad[0]), lambda: policies.tabular_softmax(bad),
             lambda: policies.grad_log_tabular_softmax(bad, 0, 0), lambda: mdp.exact_objective(m, bad),
             lambda: mdp.policy_evaluation(m, bad), lambda: estimators.grad_log_trajectory_likelihood(bad, s, a),
             lambda: estimators.log_trajectory_likelihood(m, torch.tensor(bad), s, a)]
    for call in calls:
        with pytest.raises(ValueError, match="theta contains NaN or infinite values"):
            call()


def test_check_simplex_one_tolerance_everywhere():
    check_simplex([0.5, 0.5 + 0.9 * SIMPLEX_ATOL])
    with pytest.raises(ValueError, match="sums to"):
        check_simplex([0.5, 0.5 + 1.1 * SIMPLEX_ATOL])
    off = np.array([0.5, 0.5 + 2 * SIMPLEX_ATOL])
    with pytest.raises(ValueError, match="rho must sum to 1"):
        importance.validate_distribution(off, "rho")
    with pytest.raises(ValueError, match="mu must sum to 1"):
        mdp.TabularMDP(np.full((2, 1, 2), 0.5), np.zeros((2, 1)), off, H=1)
    with pytest.raises(ValueError, match=r"index \[1\]"):
        check_simplex(np.array([[0.5, 0.5], off]), "pi")


@pytest.mark.parametrize("p, message", [([0.5, np.nan], "finite"), ([1.5, -0.5], "non-negative"),
                                        ([], "K ≥ 1"), (1.0, "K ≥ 1")])
def test_check_simplex_rejects(p, message):
    with pytest.raises(ValueError, match=message):
        check_simplex(p)
