"""Right arithmetic, a requirement missing: the test cell names the requirement, not just "wrong value".

Each answer below computes the right numbers on ordinary input but misses what the exercise asks
for beyond them (a ValueError, no gradient into constants, a float result from integer rewards,
inputs left untouched). Its test cell must fail with a message that says which requirement.
"""

from __future__ import annotations

import pytest

from mutants import m00_mdp_recap as m00, m01_importance_weighting as m01, m02_softmax_policies as m02
from mutants import m04_reward_to_go as m04, m05_cartpole as m05, m06_llm_summarization as m06
from mutation import grader_cell_sources, run_test_cell

CASES = [
    (m00, "finite_horizon_objective", m00.fh_no_validation, "expected a ValueError"),
    (m01, "iw_gradient_estimate", m01.iw_checks_only_sampled_rho, "ρ(x) = 0 where P_θ(x) > 0"),
    (m02, "tabular_softmax_policy", m02.ts_modifies_input, "changed its input θ in place"),
    (m02, "neural_log_prob", m02.nl_detached, "does not require grad"),
    (m04, "reward_to_go", m04.rtg_in_place, "changed the rewards array"),
    (m04, "discounted_reward_to_go", m04.drtg_zeros_like_int, "integer dtype"),
    (m04, "baseline_gradient_estimate", m04.bl_no_validation, "a baseline must have shape (S,) or (N, H)"),
    (m05, "reinforce_loss", m05.loss_weights_carry_gradient, "weights.detach()"),
    (m06, "kl_penalized_reward", m06.kl_carries_gradient, "Return a detached tensor"),
    (m06, "rloo_advantages", m06.rloo_no_k_check, "raise ValueError"),
    (m06, "reinforce_lm_loss", m06.loss_advantages_carry_gradient, "advantages.detach()"),
    (m06, "rebel_loss", m06.rebel_old_not_detached, "gradient flows into logp_old_1"),
]


@pytest.mark.parametrize("module, function, answer, requirement", CASES,
                         ids=[c[2].__name__ for c in CASES])
def test_the_missing_requirement_is_named(module, function, answer, requirement):
    source = grader_cell_sources(module.NOTEBOOK)[f"test_{function}"]
    with pytest.raises(AssertionError) as caught:
        run_test_cell(source, {function: answer})
    assert requirement in str(caught.value), str(caught.value)
