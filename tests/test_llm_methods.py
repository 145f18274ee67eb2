"""DPO, PPO and REBEL (losses by hand and against a second route), their training loops, the
seven-row table, and the over-optimization experiment, all at tiny budgets."""

import math
import warnings

import numpy as np

import matplotlib
import pytest
import torch

from pgcourse.llm.data import DataConfig, PromptSet, encode_prompts, make_dataset
from pgcourse.llm.dpo import DPOConfig, dpo_loss, train_dpo
from pgcourse.llm.evaluate import LECTURE_WIN_RATES, pooled_win_rate, results_table_ci
from pgcourse.llm.judge import WinRate
from pgcourse.llm.lab import EXTRA_METHODS, LabConfig, prepare_lab, run_lab
from pgcourse.llm.model import GPT, ModelConfig
from pgcourse.llm.overoptimization import (OVEROPT_QUICK, OverOptRun, format_exploits, kl_binned,
                                           run_overoptimization)
from pgcourse.llm.plots import plot_overoptimization
from pgcourse.llm.ppo import PPOConfig, ValueModel, ppo_clip_loss, train_ppo
from pgcourse.llm.preferences import PrefConfig
from pgcourse.llm.rebel import REBELConfig, rebel_loss, train_rebel
from pgcourse.llm.reward_model import RewardModel, RMConfig, bradley_terry_loss
from pgcourse.llm.rl import RLConfig, reinforce_lm_loss
from pgcourse.llm.rollout import RLHistory
from pgcourse.llm.sft import SFTConfig

matplotlib.use("Agg")
torch.set_num_threads(1)
SMALL = ModelConfig(n_layer=1, n_embd=32, n_head=2)


# ----------------------------------------------------------------------------- REBEL
def test_rebel_loss_hand_case():
    lp1, lo1 = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -2.0])
    lp2, lo2 = torch.tensor([-3.0, -1.0]), torch.tensor([-3.0, -0.5])
    r1, r2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    # row 0: 0.5 − 0 − 0.5·1 = 0;  row 1: 0 − (−0.5) − 0.5·(−2) = 1.5
    assert rebel_loss(lp1, lo1, lp2, lo2, r1, r2, eta=0.5).item() == pytest.approx(1.5 ** 2 / 2)


def test_rebel_loss_gradient_old_and_rewards_constant():
    g = torch.Generator().manual_seed(0)
    t = [torch.randn(5, generator=g, requires_grad=True) for _ in range(6)]
    lp1, lo1, lp2, lo2, r1, r2 = t
    eta = 0.3
    rebel_loss(lp1, lo1, lp2, lo2, r1, r2, eta).backward()
    resid = ((lp1 - lo1) - (lp2 - lo2) - eta * (r1 - r2)).detach()
    assert torch.allclose(lp1.grad, 2 * resid / 5, atol=1e-6)
    assert torch.allclose(lp2.grad, -2 * resid / 5, atol=1e-6)
    assert all(x.grad is None for x in (lo1, lo2, r1, r2))


def test_rebel_first_step_is_rloo_k2_up_to_scale():
    """At θ = θ_old the REBEL gradient is 4η × the RLOO (k = 2) gradient."""
    g = torch.Generator().manual_seed(1)
    logp = torch.randn(3, 2, generator=g, requires_grad=True)  # (P, 2)
    r = torch.randn(3, 2, generator=g)
    eta = 0.7
    rebel_loss(logp[:, 0], logp[:, 0].detach(), logp[:, 1], logp[:, 1].detach(), r[:, 0], r[:, 1],
               eta).backward()
    g_rebel = logp.grad.clone()
    logp.grad = None
    adv = torch.stack([r[:, 0] - r[:, 1], r[:, 1] - r[:, 0]], dim=1)
    reinforce_lm_loss(logp.reshape(-1), adv.reshape(-1)).backward()
    assert torch.allclose(g_rebel, 4 * eta * logp.grad, atol=1e-6)


def test_rebel_loss_rejects_bad_shapes():
    a = torch.zeros(3)
    with pytest.raises(ValueError):
        rebel_loss(a, a, a, a, a, torch.zeros(4), 1.0)
    with pytest.raises(ValueError):
        rebel_loss(*[torch.zeros(2, 2)] * 6, 1.0)


# ----------------------------------------------------------------------------- DPO
def test_dpo_loss_hand_case_and_bradley_terry_route():
    lw, ll = torch.tensor([-1.0, -3.0], requires_grad=True), torch.tensor([-2.0, -1.0])
    rw, rl = torch.tensor([-1.5, -2.0]), torch.tensor([-1.5, -1.5])
    beta = 0.5
    loss = dpo_loss(lw, ll, rw, rl, beta)
    # margins: (0.5) − (−0.5) = 1 ;  (−1) − (0.5) = −1.5
    expected = (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(0.75))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    bt = bradley_terry_loss(beta * (lw - rw), beta * (ll - rl))  # implicit rewards β ln π/π_ref
    assert loss.item() == pytest.approx(bt.item(), rel=1e-6)
    loss.backward()
    assert (lw.grad < 0).all()  # descending the loss raises ln π(y_w)
    with pytest.raises(ValueError):
        dpo_loss(lw, ll[:1], rw, rl, beta)


# ----------------------------------------------------------------------------- PPO
def test_ppo_clip_loss_matches_loop_and_clips():
    g = torch.Generator().manual_seed(2)
    B, R = 3, 4
    new = torch.randn(B, R, generator=g) * 0.3
    old = torch.randn(B, R, generator=g) * 0.3
    adv = torch.tensor([1.0, -2.0, 0.5])
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float)
    total, count = 0.0, 0
    for b in range(B):
        for t in range(R):
            if mask[b, t]:
                rho, a = math.exp(float(new[b, t] - old[b, t])), float(adv[b])
                total += min(rho * a, min(max(rho, 0.8), 1.2) * a)
                count += 1
    assert ppo_clip_loss(new, old, adv, mask, 0.2).item() == pytest.approx(-total / count, rel=1e-5)
    # a ratio beyond 1 + ε with A > 0 gets no gradient; at ρ = 1 the gradient is −A / #tokens
    x = torch.tensor([[math.log(1.5), 0.0]], requires_grad=True)
    ppo_clip_loss(x, torch.zeros(1, 2), torch.tensor([2.0]), torch.ones(1, 2), 0.2).backward()
    assert x.grad[0].tolist() == pytest.approx([0.0, -1.0])
    with pytest.raises(ValueError):
        ppo_clip_loss(new, old, adv[:2], mask)


# ----------------------------------------------------------------------------- training loops
@pytest.fixture(scope="module")
def tiny_setup():
    sft = GPT(SMALL, seed=0)
    rm = RewardModel(sft, seed=0).requires_grad_(False)
    posts, refs = make_dataset(64, seed=5)
    return sft, rm, PromptSet.encode(posts, DataConfig()), refs


def _moved(a, b):
    return any(not torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_ppo_rebel_dpo_train_at_tiny_budgets(tiny_setup):
    sft, rm, data, refs = tiny_setup
    posts = data.posts
    rl = RLConfig(steps=2, samples_per_step=8)
    policy, hist = train_ppo(sft, rm, posts, 0, rl, PPOConfig(epochs=2, minibatches=2))
    assert len(hist.rm_score) == 2 and hist.samples == [8, 16] and _moved(policy, sft)
    value, prompts = ValueModel(sft), encode_prompts(posts[:3])
    with torch.no_grad():  # V(x) = w·h + c on the SFT network's state at the prompt's last token
        h_last = sft.hidden(prompts)[0][:, -1]  # (3, C)
        expected = h_last @ value.head.weight[0] + value.head.bias
        assert torch.allclose(value(prompts), expected, atol=1e-6) and expected.std() > 0
    calls = []

    def my_loss(*args):
        calls.append(1)
        return rebel_loss(*args)

    policy, hist = train_rebel(sft, rm, posts, 0, rl, REBELConfig(epochs=3), loss_fn=my_loss)
    assert len(calls) == 2 * 3 and len(hist.kl) == 2 and _moved(policy, sft)
    with pytest.raises(ValueError):
        train_rebel(sft, rm, posts, 0, RLConfig(steps=1, samples_per_step=7))
    from pgcourse.llm.preferences import PairSet
    import numpy as np
    pairs = PairSet(posts[:8], list(refs[:8]), [r[:-1] for r in refs[:8]], np.ones(8))
    policy, dh = train_dpo(sft, pairs, 0, DPOConfig(steps=3, batch_size=4), DataConfig())
    assert len(dh.loss) == 3 and dh.loss[0] == pytest.approx(math.log(2), abs=1e-4)
    assert _moved(policy, sft)


# ----------------------------------------------------------------------------- the table
def _rows(table: str) -> dict[str, str]:
    """Table body rows keyed by method name (the text before the first run of 2+ spaces)."""
    return {line.split("  ")[0].strip(): line for line in table.splitlines()[2:]}


def test_results_table_ci_rows_in_the_lectures_order_with_pooled_interval():
    table = results_table_ci({"SFT": [WinRate(40.0, 3.0, 1000), WinRate(50.0, 4.0, 1000)],
                              "REBEL": [WinRate(70.0, 2.0, 1000)], "gold RLOO k=2": [WinRate(80.0, 1.0, 9)]})
    rows = _rows(table)
    assert list(rows) == list(LECTURE_WIN_RATES) + ["gold RLOO k=2"]
    assert rows["SFT"].split()[1:] == ["45.0", "±", "2.5", "40.0-50.0", "45.2"]
    assert rows["REBEL"].split()[1:] == ["70.0", "±", "2.0", "70.0-70.0", "78.1"]
    assert rows["PPO"].split()[1:] == ["—", "77.6"]  # not run: no number of ours
    assert rows["gold RLOO k=2"].split()[3:] == ["80.0", "±", "1.0", "80.0-80.0", "—"]
    assert pooled_win_rate([WinRate(40.0, 3.0, 9), WinRate(50.0, 4.0, 9)]) == (45.0, 2.5)


def test_run_lab_with_the_extra_methods():
    tiny = LabConfig(n_train=300, n_test=40, model=SMALL, sft=SFTConfig(steps=5),
                     prefs=PrefConfig(n_pairs=100, n_heldout=50), rm=RMConfig(steps=3),
                     rl=RLConfig(steps=2, samples_per_step=8), gold_control=False,
                     strict_gate=False, n_examples=1, extra_methods=EXTRA_METHODS,
                     dpo=DPOConfig(steps=2, batch_size=8), ppo=PPOConfig(epochs=1))
    calls = []

    def my_rebel(*args):
        calls.append(1)
        return rebel_loss(*args)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_lab(tiny, seed=0, rebel_loss_fn=my_rebel)
        setup = prepare_lab(tiny, seed=0)
    assert set(res.evals) == {"SFT", "DPO", "REINFORCE", "PPO", "RLOO k=2", "RLOO k=4", "REBEL"}
    assert set(res.policies) == set(res.evals) and "DPO" not in res.rl and "PPO" in res.rl
    assert len(calls) == 2 * 2  # 2 steps × 2 passes
    rebel_row = _rows(res.results_table_ci)["REBEL"]
    assert rebel_row.split()[1] == f"{res.evals['REBEL'].win.rate:.1f}"
    assert len(setup.posts) == 300 and setup.rm_report.probes
    with pytest.raises(ValueError, match="unknown method"):
        run_lab(LabConfig(extra_methods=("TRPO",)), seed=0)


# ----------------------------------------------------------------------------- over-optimization
def test_kl_binned_hand_case():
    h = RLHistory(kl=[0.2, 0.4, 1.5, 1.1, 0.9, 5.0], rm_score=[0, 1, 2, 3, 4, 5],
                  gold_score=[1, 0, 2, 4, 3, 9])
    cv = kl_binned(OverOptRun(0.1, h), width=1.0, min_steps=2)
    # bins [0,1): steps 0, 1, 4; [1,2): steps 2, 3; [5,6): one step, dropped
    assert cv.kl.tolist() == pytest.approx([0.5, 1.3])
    assert cv.proxy.tolist() == pytest.approx([5 / 3, 2.5])
    assert cv.gold.tolist() == pytest.approx([4 / 3, 3.0])
    assert cv.steps.tolist() == [3, 2] and cv.peak == 1
    with pytest.raises(ValueError):
        kl_binned(OverOptRun(0.1, h), width=0.0)


def test_overoptimization_quick_mode(tiny_setup):
    sft, rm, data, _ = tiny_setup
    runs = run_overoptimization(sft, rm, data, seed=0, cfg=OVEROPT_QUICK)
    assert [r.beta for r in runs] == list(OVEROPT_QUICK.betas)
    for r in runs:
        assert len(r.history.kl) == OVEROPT_QUICK.steps
        assert len(r.summaries) == r.rm.size == r.gold.size == OVEROPT_QUICK.n_probe
    curves = [kl_binned(r, min_steps=1) for r in runs]
    fig = plot_overoptimization(runs, curves, smooth=2)
    drawn = [(line.get_xdata(), line.get_ydata()) for line in fig.axes[0].get_lines()]
    for cv in curves:  # the left panel draws exactly the binned numbers (proxy, gold, peak marker)
        assert any(np.array_equal(x, cv.kl) and np.array_equal(y, cv.proxy) for x, y in drawn)
        assert any(np.array_equal(x, cv.kl) and np.array_equal(y, cv.gold) for x, y in drawn)
        assert any(np.array_equal(x, [cv.kl[cv.peak]]) and np.array_equal(y, [cv.gold.max()])
                   for x, y in drawn)
    text = format_exploits(runs, data.posts, n=2)
    low = min(runs, key=lambda r: r.beta)
    assert f"mean RM {low.rm.mean():+.2f}, mean gold {low.gold.mean():+.2f}" in text
    assert text.count("TL;DR:") == 2
