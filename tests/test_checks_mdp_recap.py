"""The notebook-00 check: its reference equals exact enumeration, and ambiguous hints are merged."""

import numpy as np
import pytest

from pgcourse.checks import mdp_recap
from pgcourse.mdp import enumerate_trajectories, random_mdp


def test_reference_matches_enumeration():
    mdp = random_mdp(3, 2, H=4, seed=3)
    pi = np.random.default_rng(0).dirichlet(np.ones(2), size=3)
    traj = enumerate_trajectories(mdp, pi=pi)
    assert mdp_recap.reference_objective(mdp.P, mdp.r, mdp.mu, 4, pi) == pytest.approx(
        float(traj.probs @ traj.rewards.sum(axis=1)), abs=1e-12)


def test_ambiguous_mistakes_are_reported_together():
    merged = mdp_recap._merge_ambiguous([("a", 1.0), ("b", 2.0), ("c", 1.0)])
    assert merged == [("a\n  Or: c", 1.0), ("b", 2.0)]


def test_forgetting_mu_is_named_on_the_hand_case():
    def forgets_mu(P, r, mu, H, pi):
        V = np.zeros(len(mu))
        for _ in range(H):
            V = (pi * (r + P @ V)).sum(axis=1)
        return float(V.mean())
    with pytest.raises(AssertionError, match="μ"):
        mdp_recap.check_finite_horizon_objective(forgets_mu)
