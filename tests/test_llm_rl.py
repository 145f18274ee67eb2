"""The model (KV cache), the four RL pieces, the Bradley-Terry loss and a smoke run of the lab."""

import math

import pytest
import torch
import torch.nn.functional as F

from llm_helpers import assert_behaves_as_lm_policy, assert_kv_cache_matches_full_forward
from pgcourse.llm.data import EOS, PAD, encode_prompts, format_summary, make_dataset, response_mask
from pgcourse.llm import lab
from pgcourse.llm.lab import GRADING_TABLE, QUICK, TABLE, LabConfig, prepare_lab, run_lab
from pgcourse.llm.model import GPT, LMPolicy, generate, response_logits, token_log_probs
from pgcourse.llm.reward_model import RewardGateError, RMReport, bradley_terry_loss, check_reward_gate
from pgcourse.llm.rl import (kl_penalized_reward, reinforce_lm_loss, rloo_advantages,
                             sequence_log_prob)
from pgcourse.llm.sft import SFTConfig
from pgcourse.llm.preferences import PrefConfig
from pgcourse.llm.reward_model import RMConfig
from pgcourse.llm.rl import RLConfig

torch.set_num_threads(1)


def test_kv_cache_decode_equals_full_forward():
    model = GPT(seed=3)
    posts, _ = make_dataset(16, seed=2)
    prompts = encode_prompts(posts)
    a = assert_kv_cache_matches_full_forward(model, prompts)
    # tokens after the first <end> are padding
    for row in a.tolist():
        if EOS in row:
            assert all(t == PAD for t in row[row.index(EOS) + 1:])


def test_sequence_log_prob_matches_loop_and_ignores_prompt():
    g = torch.Generator().manual_seed(0)
    B, T, V = 3, 5, 7
    logits = torch.randn(B, T, V, generator=g)
    tokens = torch.randint(V, (B, T), generator=g)
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float)
    expected = torch.zeros(B)
    for b in range(B):
        for t in range(T):
            if mask[b, t]:
                expected[b] += math.log(F.softmax(logits[b, t], -1)[tokens[b, t]])
    assert torch.allclose(sequence_log_prob(logits, tokens, mask), expected, atol=1e-5)
    changed = logits.clone()
    changed[0, :2] += 100 * torch.randn(2, V, generator=g)  # prompt positions of row 0
    assert torch.allclose(sequence_log_prob(changed, tokens, mask), expected, atol=1e-5)
    with pytest.raises(ValueError):
        sequence_log_prob(logits, tokens[:, :4], mask)


def test_token_log_probs_sum_to_sequence_log_prob():
    model = GPT(seed=1)
    posts, refs = make_dataset(4, seed=3)
    prompts = encode_prompts(posts)
    y = generate(model, prompts, 8, 1.0, torch.Generator().manual_seed(1))
    a = token_log_probs(model, prompts, y).sum(1)
    b = sequence_log_prob(response_logits(model, prompts, y), y, response_mask(y))
    assert torch.allclose(a, b, atol=1e-5)


def test_rloo_advantages_loop_and_errors():
    r = torch.tensor([[1.0, 2.0, 4.0], [0.0, 0.0, 3.0]])
    adv = rloo_advantages(r)
    for p in range(2):
        for i in range(3):
            others = [r[p, j] for j in range(3) if j != i]
            assert adv[p, i] == pytest.approx(float(r[p, i] - sum(others) / 2))
    assert rloo_advantages(torch.tensor([[1.0, 3.0]])).tolist() == [[-2.0, 2.0]]
    with pytest.raises(ValueError):
        rloo_advantages(torch.ones(4, 1))
    with pytest.raises(ValueError):
        rloo_advantages(torch.ones(4))


def test_kl_penalized_reward_has_no_gradient():
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    r = kl_penalized_reward(torch.tensor([1.0, 0.5]), logp, torch.tensor([-1.5, -1.0]), beta=0.1)
    assert not r.requires_grad
    assert torch.allclose(r, torch.tensor([1.0 - 0.1 * 0.5, 0.5 - 0.1 * -1.0]))


def test_reinforce_loss_gradient_is_minus_mean_adv_grad():
    logp = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    adv = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    loss = reinforce_lm_loss(logp, adv)
    loss.backward()
    assert loss.item() == pytest.approx(-(1 * -1 + -2 * -2 + 0.5 * -0.5) / 3)
    assert torch.allclose(logp.grad, -adv.detach() / 3)
    assert adv.grad is None  # the advantage is a constant


def test_bradley_terry_loss_hand_case_and_gradient():
    rc = torch.tensor([2.0, 0.0], requires_grad=True)
    rr = torch.tensor([0.0, 1.0])
    loss = bradley_terry_loss(rc, rr)
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    assert rc.grad.tolist() == pytest.approx([-(1 - sig(2.0)) / 2, -(1 - sig(-1.0)) / 2], rel=1e-5)


def test_reward_gate_raises_on_weak_probes():
    weak = RMReport(probes={"repeat": 0.5, "hallucination": 0.9})
    with pytest.raises(RewardGateError, match="repeat"):
        check_reward_gate(weak)
    with pytest.warns(UserWarning):
        assert check_reward_gate(weak, strict=False) is False
    assert check_reward_gate(RMReport(probes={"repeat": 0.8, "hallucination": 0.8}))


def test_lab_smoke_run_with_student_fns():
    calls = []

    def my_loss(seq_logp, adv):
        calls.append(1)
        return reinforce_lm_loss(seq_logp, adv)

    tiny = LabConfig(n_train=300, n_test=50, sft=SFTConfig(steps=5),
                     prefs=PrefConfig(n_pairs=100, n_heldout=50), rm=RMConfig(steps=3),
                     rl=RLConfig(steps=2, samples_per_step=8), gold_control=True,
                     strict_gate=False, n_examples=1)
    with pytest.warns(UserWarning):
        res = run_lab(tiny, seed=0, student_fns={"reinforce_lm_loss": my_loss})
    assert len(calls) == 2 * 4  # 2 steps × (3 methods + gold control)
    assert set(res.evals) == {"SFT", "REINFORCE", "RLOO k=2", "RLOO k=4", "gold RLOO k=2"}
    assert len(res.rl["RLOO k=4"].gold_score) == 2 and res.evals["SFT"].win.n == 50
    # the examples show the first test post with each method's own greedy summary
    assert res.examples.count("SUBREDDIT:") == 1
    for name, e in res.evals.items():
        if not name.startswith("gold"):
            assert format_summary(e.summaries[0]) in res.examples, name
    # the results table shows this seed's win rate on each method's row, "—" where none ran
    rows = {line.split("  ")[0].strip(): line.split() for line in res.results_table.splitlines()[2:]}
    assert rows["REINFORCE"][1] == f"{res.win_rates['REINFORCE']:.1f}" and rows["REBEL"][1] == "—"
    import matplotlib
    matplotlib.use("Agg")
    from pgcourse.llm.plots import plot_rl_histories
    fig = plot_rl_histories(res.rl, smooth=1)
    for ax, field in zip(fig.axes, ("rm_score", "gold_score", "kl")):  # each panel draws its series
        drawn = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
        assert drawn == {k: getattr(h, field) for k, h in res.rl.items()}, field
    with pytest.raises(ValueError):
        run_lab(tiny, seed=0, student_fns={"not_a_piece": my_loss})


def test_the_lab_budget_is_the_callers_never_the_environments():
    """Notebook 06 passes GRADING_TABLE while graded (as 05 passes cartpole's GRADING_CONFIG); the lab
    itself has no default budget and reads no environment variable."""
    import inspect
    import pathlib

    for fn in (run_lab, prepare_lab):
        assert inspect.signature(fn).parameters["cfg"].default is inspect.Parameter.empty, fn.__name__
    source = pathlib.Path(lab.__file__).read_text()
    assert "os.environ" not in source and "is_grading" not in source and "NBGRADER" not in source
    assert GRADING_TABLE.rl.steps < QUICK.rl.steps < TABLE.rl.steps and GRADING_TABLE.extra_methods == TABLE.extra_methods
    notebook = (pathlib.Path(__file__).parents[1] / "solutions" / "06_llm_summarization.ipynb").read_text()
    assert "cfg = GRADING_TABLE if GRADING else TABLE" in notebook


def test_the_lab_gpt_is_an_lm_policy():
    model = GPT(seed=0)
    assert isinstance(model, LMPolicy)
    assert not isinstance(torch.nn.Linear(2, 2), LMPolicy)  # no hidden(): not a policy
    posts, _ = make_dataset(3, seed=4)
    assert_behaves_as_lm_policy(model, encode_prompts(posts), model.cfg.vocab_size)


def _imported_modules(source: str, package: str) -> set[str]:
    """Every module a source file imports, at any depth, relative imports resolved against
    `package`: `from . import rl` -> pgcourse.llm.rl, `from pgcourse.llm import rl` too."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[:len(parts) + 1 - node.level]) if node.level else ""
            module = ".".join(x for x in (base, node.module) if x)
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


METHODS = {f"pgcourse.llm.{m}" for m in ("rl", "ppo", "rebel", "dpo", "lab")}


@pytest.mark.parametrize("line", ["from .rl import LMFunctions", "from . import rl",
                                  "from .. import llm\nfrom ..llm import ppo",
                                  "import pgcourse.llm.rebel", "from pgcourse.llm import lab",
                                  "def f():\n    from pgcourse.llm.dpo import train_dpo"])
def test_the_import_check_sees_every_form_of_import(line):
    assert _imported_modules(line, "pgcourse.llm") & METHODS, line


def test_the_rollout_imports_none_of_the_methods_that_use_it():
    import pathlib

    import pgcourse.llm.rollout as rollout_module

    imported = _imported_modules(pathlib.Path(rollout_module.__file__).read_text(), "pgcourse.llm")
    assert "pgcourse.llm.model" in imported  # the resolution works on the real file
    assert not imported & METHODS, imported & METHODS
