"""The notebook-00 check: its reference equals exact enumeration, and each hint is given only for its own mistake."""

import numpy as np
import pytest

from pgcourse.checks import mdp_recap
from pgcourse.tabular.mdp import enumerate_trajectories, random_mdp


def test_reference_matches_enumeration():
    mdp = random_mdp(3, 2, H=4, seed=3)
    pi = np.random.default_rng(0).dirichlet(np.ones(2), size=3)
    traj = enumerate_trajectories(mdp, pi=pi)
    assert mdp_recap.reference_objective(mdp.P, mdp.r, mdp.mu, 4, pi) == pytest.approx(
        float(traj.probs @ traj.rewards.sum(axis=1)), abs=1e-12)


def _backup(P, r, mu, H, pi, next_values, axis=1):
    V = np.zeros(len(mu))
    for _ in range(H):
        V = (pi * (r + next_values(P, V))).sum(axis=axis)
    return float(mu @ V)


def test_summing_over_the_wrong_axis_gets_its_own_hint_not_another_mistakes():
    """On the uniform hand case this mistake gives the value of "H + 1 steps" and of "averaged uniformly";
    the square random case tells them apart."""
    with pytest.raises(AssertionError) as caught:
        mdp_recap.check_finite_horizon_objective(lambda P, r, mu, H, pi: _backup(P, r, mu, H, pi, np.matmul, axis=0))
    message = str(caught.value)
    assert "you summed over the states" in message
    assert "H + 1" not in message and "uniformly" not in message and "Or:" not in message


def test_transposed_P_gets_its_hint():
    with pytest.raises(AssertionError, match="you used P transposed"):
        mdp_recap.check_finite_horizon_objective(
            lambda P, r, mu, H, pi: _backup(P, r, mu, H, pi, lambda P, V: np.einsum("tas,t->sa", P, V)))


def test_forgetting_mu_is_named_on_the_hand_case():
    def forgets_mu(P, r, mu, H, pi):
        V = np.zeros(len(mu))
        for _ in range(H):
            V = (pi * (r + P @ V)).sum(axis=1)
        return float(V.mean())
    with pytest.raises(AssertionError, match="μ"):
        mdp_recap.check_finite_horizon_objective(forgets_mu)
