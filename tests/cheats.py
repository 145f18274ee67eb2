"""Answers that hand in the course library's code instead of the student's own: the cheat suite.

For every graded function, `cheats(target)` writes the answer cell a student could hand in, one
per kind: the reference imported under the exercise's name, an alias, a one-line wrapper,
`functools.partial`, a lambda that imports it, a class with `__call__`, the module imported under
another name, and one call of a registered helper that does the exercise's whole idea. Each is
source text, so the same cheat runs in-process (tests/test_cheats.py) and through nbgrader.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pgcourse.checks import integrity

PRELUDE = "import numpy as np\nimport torch\n\n"
KINDS = ("import", "alias", "wrapper", "partial", "lambda", "class", "module", "helper")


@dataclass(frozen=True)
class Target:
    notebook: str
    function: str
    params: str                          # the exercise's signature, e.g. "rewards, gamma"
    ref: str | None                      # library code with the exercise's signature, if any
    helper: tuple[str, str] | None       # (module imported as `lib`, an expression of the params)
    test_cells: tuple[str, ...] = ()     # autograder cells that score it (default: test_<function>)

    @property
    def cells(self) -> tuple[str, ...]:
        return self.test_cells or (f"test_{self.function}",)


_RTG = "np.flip(np.cumsum(np.flip(np.asarray(rewards, float), -1), -1), -1)"
_ONE_STATE_SCORES = "lib.grad_log_tabular_softmax_batch(np.asarray(theta, float)[None], 0 * np.asarray(xs), np.asarray(xs))[:, 0]"

TARGETS = (
    Target("00_mdp_recap", "finite_horizon_objective", "P, r, mu, H, pi", None,
           ("pgcourse.tabular.mdp", "float(np.asarray(mu) @ lib.policy_evaluation(lib.TabularMDP(P, r, mu, H=H), pi=pi).V[0])")),
    Target("01_importance_weighting", "iw_gradient_estimate", "theta, xs, rho, f", None,
           ("pgcourse.tabular.policies", f"np.mean({_ONE_STATE_SCORES} * (lib.tabular_softmax(np.asarray(theta, float))[xs]"
                                         " * np.asarray(f)[xs] / np.asarray(rho)[xs])[:, None], axis=0)")),
    Target("01_importance_weighting", "score_function_gradient_estimate", "theta, xs, f", None,
           ("pgcourse.tabular.policies", f"np.mean({_ONE_STATE_SCORES} * np.asarray(f)[np.asarray(xs)][:, None], axis=0)")),
    Target("02_softmax_policies", "tabular_softmax_policy", "theta", "pgcourse.tabular.policies.tabular_softmax",
           ("pgcourse.tabular.importance", "np.stack([lib.softmax(row) for row in np.asarray(theta, float)])")),
    Target("02_softmax_policies", "grad_log_tabular_softmax", "theta, s, a", "pgcourse.tabular.policies.grad_log_tabular_softmax",
           ("pgcourse.tabular.policies", "lib.grad_log_tabular_softmax_batch(np.asarray(theta, float), np.asarray(s), np.asarray(a))")),
    Target("02_softmax_policies", "linear_softmax_policy", "theta, phi", "pgcourse.tabular.policies.linear_softmax_policy",
           ("pgcourse.tabular.policies", "lib.tabular_softmax(np.asarray(phi, float) @ np.asarray(theta, float))")),
    Target("02_softmax_policies", "grad_log_linear_softmax", "theta, phi, s, a", None,
           ("pgcourse.tabular.policies", "lib.grad_log_linear_softmax_all_pairs(theta, phi)[s, a]")),
    Target("02_softmax_policies", "neural_log_prob", "net, states, actions", "pgcourse.cartpole.log_probs_of",
           ("pgcourse.llm.rl", "lib.sequence_log_prob(net(states)[:, None, :], torch.as_tensor(actions, dtype=torch.long)"
                               "[:, None], torch.ones(len(actions), 1))")),
    Target("03_reinforce_derivation", "grad_log_trajectory_likelihood", "theta, states, actions",
           "pgcourse.tabular.estimators.grad_log_trajectory_likelihood",
           ("pgcourse.tabular.policies", "lib.grad_log_tabular_softmax_batch(np.asarray(theta, float), np.asarray(states), "
                                         "np.asarray(actions)).sum(0)")),
    Target("03_reinforce_derivation", "reinforce_gradient_estimate", "theta, states, actions, rewards",
           "pgcourse.tabular.estimators.reinforce_gradient_estimate",
           ("pgcourse.tabular.variance", "lib.score_weighted_terms(theta, states, actions, np.asarray(rewards, float).sum(1, "
                                         "keepdims=True) + 0 * np.asarray(rewards, float)).mean(0)")),
    Target("04_reward_to_go", "reward_to_go", "rewards", "pgcourse.tabular.returns.reward_to_go",
           ("pgcourse.tabular.returns", "lib.discounted_reward_to_go(np.asarray(rewards), 1.0)")),
    Target("04_reward_to_go", "discounted_reward_to_go", "rewards, gamma", "pgcourse.tabular.returns.discounted_reward_to_go",
           ("pgcourse.cartpole", "lib.reinforce_weights(np.asarray(rewards, float), np.ones(np.shape(rewards)), "
                                 "'reward_to_go', gamma=gamma, normalize=False)")),
    Target("04_reward_to_go", "reward_to_go_gradient_estimate", "theta, states, actions, rewards", None,
           ("pgcourse.tabular.variance", f"lib.score_weighted_terms(theta, states, actions, {_RTG}).mean(0)")),
    Target("04_reward_to_go", "baseline_gradient_estimate", "theta, states, actions, rewards, baseline", None,
           ("pgcourse.tabular.variance", f"lib.score_weighted_terms(theta, states, actions, {_RTG} - "
                                         "lib.baseline_per_step(baseline, states)).mean(0)")),
    Target("05_cartpole", "reinforce_loss", "log_probs, weights, mask", "pgcourse.cartpole.reinforce_loss",
           ("pgcourse.llm.rl", "lib.reinforce_lm_loss((mask * log_probs * weights.detach()).sum(1), "
                               "torch.ones(log_probs.shape[0], dtype=log_probs.dtype))"),
           test_cells=("test_reinforce_loss", "test_training")),
    Target("06_llm_summarization", "sequence_log_prob", "logits, tokens, mask", "pgcourse.llm.rl.sequence_log_prob", None),
    Target("06_llm_summarization", "kl_penalized_reward", "scores, logp, ref_logp, beta",
           "pgcourse.llm.rl.kl_penalized_reward", None),
    Target("06_llm_summarization", "rloo_advantages", "rewards", "pgcourse.llm.rl.rloo_advantages", None),
    Target("06_llm_summarization", "reinforce_lm_loss", "seq_logp, advantages", "pgcourse.llm.rl.reinforce_lm_loss",
           ("pgcourse.cartpole", "lib.reinforce_loss(seq_logp[:, None], advantages[:, None], "
                                 "torch.ones_like(seq_logp)[:, None])")),
    Target("06_llm_summarization", "rebel_loss", "logp_1, logp_old_1, logp_2, logp_old_2, r_1, r_2, eta",
           "pgcourse.llm.rebel.rebel_loss", None),
)


def cheats(t: Target) -> dict[str, str]:
    """{kind: answer cell source} for every kind that applies to `t` (all but "helper" need `ref`)."""
    fn, params, out = t.function, t.params, {}
    if t.ref:
        mod, attr = t.ref.rsplit(".", 1)
        call = f"{attr}({params})"
        out["import"] = f"from {mod} import {attr} as {fn}\n"
        out["alias"] = f"import {mod}\n\n{fn} = {mod}.{attr}\n"
        out["wrapper"] = f"from {mod} import {attr} as _ref\n\n\ndef {fn}({params}):\n    return _ref({params})\n"
        out["partial"] = f"import functools\nfrom {mod} import {attr}\n\n{fn} = functools.partial({attr})\n"
        out["lambda"] = f"{fn} = lambda {params}: __import__('importlib').import_module('{mod}').{call}\n"
        out["class"] = (f"class _Answer:\n    def __call__(self, {params}):\n        from {mod} import {attr}\n"
                        f"        return {call}\n\n\n{fn} = _Answer()\n")
        out["module"] = f"import {mod} as course_lib\n\n\ndef {fn}({params}):\n    return course_lib.{call}\n"
    if t.helper:
        mod, expr = t.helper
        out["helper"] = f"import {mod} as lib\n\n\ndef {fn}({params}):\n    return {expr}\n"
        if not t.ref:   # the same helper through a lambda and a class
            out["lambda"] = f"{fn} = lambda {params}: (lambda lib: {expr})(__import__('importlib').import_module('{mod}'))\n"
            out["class"] = (f"class _Answer:\n    def __call__(self, {params}):\n        import {mod} as lib\n"
                            f"        return {expr}\n\n\n{fn} = _Answer()\n")
    return {kind: PRELUDE + src for kind, src in out.items()}


def by_notebook() -> dict[str, list[Target]]:
    out: dict[str, list[Target]] = {}
    for t in TARGETS:
        out.setdefault(t.notebook, []).append(t)
    return out


@pytest.fixture
def watch_off(monkeypatch):
    """Tests of the value checks that hand in the library's own references (correct answers, which the
    watch would score 0 as library answers) switch the watch off with this fixture."""
    monkeypatch.setattr(integrity, "registered_code", lambda exercise: {})
