"""The notebook-06 checks accept the library's reference pieces and name the mistakes they plant."""

import contextlib
import io

import pytest
import torch

from cheats import watch_off  # noqa: F401  (a fixture)
from pgcourse.checks import llm as checks
from pgcourse.llm import rl


@pytest.mark.parametrize("seed", [0, 1])
def test_checks_accept_the_reference_pieces(seed, watch_off):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        checks.check_sequence_log_prob(rl.sequence_log_prob, seed=seed)
        checks.check_kl_penalized_reward(rl.kl_penalized_reward, seed=seed)
        checks.check_rloo_advantages(rl.rloo_advantages, seed=seed)
        checks.check_reinforce_lm_loss(rl.reinforce_lm_loss, seed=seed)
    assert out.getvalue().count("✓") == 4


def test_hints_name_the_mistake():
    with pytest.raises(AssertionError, match="k − 1"):
        checks.check_rloo_advantages(lambda r: r - (r.sum(1, keepdim=True) - r) / r.shape[1])
    with pytest.raises(AssertionError, match="prompt positions count"):
        checks.check_sequence_log_prob(
            lambda lg, tok, m: torch.log_softmax(lg, -1).gather(-1, tok[..., None]).squeeze(-1).sum(1))
    with pytest.raises(AssertionError, match="carries a gradient"):
        checks.check_kl_penalized_reward(lambda s, lp, ref, b: s - b * (lp - ref))
    with pytest.raises(AssertionError, match="through the advantages"):
        checks.check_reinforce_lm_loss(lambda lp, a: -(a * lp).mean())


def test_rebel_check_accepts_the_reference_and_names_mistakes(watch_off):
    from pgcourse.checks.rebel import check_rebel_loss
    from pgcourse.llm.rebel import rebel_loss

    with contextlib.redirect_stdout(io.StringIO()) as out:
        check_rebel_loss(rebel_loss)
        check_rebel_loss(rebel_loss, seed=1, B=1, train=False)
    assert out.getvalue().count("✓") == 2
    with pytest.raises(AssertionError, match="sign of the η term"):
        check_rebel_loss(lambda a, b, c, d, e, f, eta: (((a - b) - (c - d) + eta * (e - f)) ** 2).mean())
    with pytest.raises(AssertionError, match="mean over the B pairs"):
        check_rebel_loss(lambda a, b, c, d, e, f, eta: (((a - b) - (c - d) - eta * (e - f)) ** 2).sum())
    with pytest.raises(AssertionError, match="gradient flows into logp_old_1"):
        check_rebel_loss(lambda a, b, c, d, e, f, eta: (((a - b) - (c - d) - eta * (e - f)) ** 2).mean())
