"""Visible checks for notebook 06 (REINFORCE and RLOO on a language model).

Each check runs a hand case, a random case compared with the formula (and with the values that
known mistakes give, for a hint), a gradient check where a gradient matters, the same quantity on
real inputs from the course's small transformer, and a two-step run of `pgcourse.llm.rl.train_rl`
with the student's function plugged in:

    sequence_log_prob(logits, tokens, mask)          ln π(y|x) = Σ_t mask_t · ln softmax(logits_t)[y_t]
    kl_penalized_reward(scores, logp, ref_logp, β)   r = score − β (ln π_θ − ln π_ref), no gradient
    rloo_advantages(rewards)                         A_i = r_i − (Σ_j r_j − r_i)/(k − 1)
    reinforce_lm_loss(seq_logp, advantages)          L = −mean_i(A_i · ln π_θ(y_i|x_i)), A constant

References: Williams 1992; Kool et al. 2019 and Ahmadian et al. 2024 (RLOO); Stiennon et al. 2020.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from pgcourse.checks.core import Check, Mistake, describe_error, one_thread, quiet
from pgcourse.checks.integrity import LibraryAnswerUsed


@contextlib.contextmanager
def quiet_one_thread() -> Iterator[None]:
    """One torch thread, the student's warnings silenced (stderr scores 0)."""
    with one_thread(), quiet():
        yield


# ----------------------------------------------------------------------------- sequence_log_prob
def _seq_logp_mistakes(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor
                       ) -> tuple[torch.Tensor, list[Mistake]]:
    """ln π(y|x) and the values that known mistakes give; logits (B,T,V), tokens and mask (B,T)."""
    def pick(lp: torch.Tensor) -> torch.Tensor:
        return lp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, T)

    picked = pick(F.log_softmax(logits, dim=-1))
    correct = (picked * mask).sum(1)
    mistakes = [
        ("the prompt positions count: multiply every term by mask[b, t]. Only the response y is the "
         "action; the prompt x is given, not chosen by π_θ.", picked.sum(1)),
        ("you averaged over the response tokens: ln π(y|x) = Σ_t ln π(y_t|x, y_<t) is a *sum* "
         "(the probability of a sequence is a product).", (picked * mask).sum(1) / mask.sum(1).clamp(min=1)),
        ("you divided by T (`.mean(dim=1)`): ln π(y|x) is a sum over the response tokens.",
         (picked * mask).mean(1)),
        ("you used the raw logits: a log-probability needs the normalisation "
         "ln softmax(z)_y = z_y − ln Σ_v exp(z_v) (F.log_softmax).", (pick(logits) * mask).sum(1)),
        ("you summed probabilities, not log-probabilities: use F.log_softmax, not F.softmax.",
         (pick(F.softmax(logits, -1)) * mask).sum(1)),
        ("log_softmax over the wrong dimension: normalise over the vocabulary (dim=-1), not over time.",
         (pick(F.log_softmax(logits, dim=1)) * mask).sum(1)),
        ("you masked the logits instead of the log-probabilities: a zero logit row is a uniform "
         "distribution, which still adds −ln V per prompt position.",
         pick(F.log_softmax(logits * mask.unsqueeze(-1), -1)).sum(1)),
    ]
    if tokens.shape[1] > 1:
        shifted = F.log_softmax(logits[:, :-1], -1).gather(-1, tokens[:, 1:, None]).squeeze(-1)
        mistakes.append(("you shifted by one: here logits[:, t] already predict tokens[:, t] (the "
                         "caller aligned them).", (shifted * mask[:, 1:]).sum(1)))
    return correct, mistakes


def _real_batch(seed: int, n: int = 6):
    """A small transformer, real prompts and sampled responses: (model, prompts, responses, mask)."""
    from pgcourse.llm.data import encode_prompts, make_dataset, response_mask
    from pgcourse.llm.model import GPT, generate

    model = GPT(seed=seed)
    posts, refs = make_dataset(n, seed=100 + seed)
    prompts = encode_prompts(posts)
    y = generate(model, prompts, 8, 1.0, generator=torch.Generator().manual_seed(seed))
    y[: n // 2] = torch.tensor([list(r) + [0] * (8 - len(r)) for r in refs[: n // 2]])  # some that end
    return model, prompts, y, response_mask(y)


def _smoke_train_rl(check: Check, name: str, fn: Callable, k: int, seed: int) -> None:
    """Two RL steps of `train_rl` with the student's piece: it runs, and step 1 matches the reference."""
    from pgcourse.llm.data import make_dataset
    from pgcourse.llm.model import GPT
    from pgcourse.llm.reward_model import RewardModel
    from pgcourse.llm.rl import LMFunctions, RLConfig, train_rl

    case = f"inside train_rl (k={k}, 2 steps)"
    policy = GPT(seed=seed)
    rm = RewardModel(policy, seed=seed)
    posts, _ = make_dataset(32, seed=200 + seed)
    cfg = RLConfig(steps=2, samples_per_step=8, k=k)
    _, ref_hist = train_rl(policy, rm, posts, seed, cfg)
    try:
        with quiet_one_thread():
            _, hist = train_rl(policy, rm, posts, seed, cfg, LMFunctions(**{name: check.watch.wrap(fn)}))
    except LibraryAnswerUsed:
        raise
    except NotImplementedError:
        raise AssertionError(f"{name} is not implemented yet.") from None
    except Exception as err:
        check.fail(case, f"training with your {name} raised {describe_error(err)}")
    ours = np.array([hist.reward[0], hist.kl[0], hist.rm_score[0]])
    theirs = np.array([ref_hist.reward[0], ref_hist.kl[0], ref_hist.rm_score[0]])
    if not np.all(np.isfinite(hist.reward + hist.kl)):
        check.fail(case, f"the run produced NaN or inf rewards/KL: {hist.reward}, {hist.kl}")
    check.expect_close(case, ours, theirs, rtol=1e-4, atol=1e-5, context=(
        "first step's (mean reward, mean KL, mean RM score) with your function vs the reference"))


def check_sequence_log_prob(sequence_log_prob: Callable, seed: int = 0, B: int = 3, T: int = 5,
                            V: int = 7) -> None:
    """Σ_t mask·ln softmax(logits)[token]: hand case, random case, gradient, a real model, train_rl."""
    check = Check("sequence_log_prob", sequence_log_prob)
    ln2, ln3 = math.log(2.0), math.log(3.0)

    # Hand case: prompt and padding positions hold tokens and logits that must not count.
    logits = torch.tensor([[[0.0, 0.0, 0.0], [0.0, ln2, 0.0], [ln3, 0.0, 0.0]],
                           [[0.0, 0.0, 0.0], [0.0, ln2, 0.0], [5.0, -5.0, 0.0]]])
    tokens = torch.tensor([[2, 1, 0], [0, 2, 1]])
    mask = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    expected, mistakes = _seq_logp_mistakes(logits, tokens, mask)
    out = check.expect_tensor("hand case", check.call("hand case", logits, tokens, mask), (2,))
    check.expect_close("hand case", out.detach(), expected, rtol=1e-5, mistakes=mistakes, context=(
        "B = 2, T = 3, V = 3. Row 0: position 0 is prompt (mask 0); ln(1/2) + ln(3/5) = ln 0.3 = −1.204.\n"
        "Row 1: position 2 is padding; ln(1/3) + ln(1/4) = ln(1/12) = −2.485."))

    # Random case, then the gradient: ∂/∂logits[b,t,:] = w_b · mask_bt · (onehot(y_bt) − softmax).
    g = torch.Generator().manual_seed(seed)
    logits = (2 * torch.randn(B, T, V, generator=g)).requires_grad_(True)
    tokens = torch.randint(V, (B, T), generator=g)
    prompt_len = torch.randint(0, T, (B,), generator=g)
    end = torch.randint(1, T + 1, (B,), generator=g).maximum(prompt_len + 1)
    cols = torch.arange(T)
    mask = ((cols >= prompt_len[:, None]) & (cols < end[:, None])).float()
    case = f"random B={B}, T={T}, V={V} with prompt and padding positions"
    expected, mistakes = _seq_logp_mistakes(logits.detach(), tokens, mask)
    out = check.expect_tensor(case, check.call(case, logits, tokens, mask), (B,))
    check.expect_close(case, out.detach(), expected, rtol=1e-5, atol=1e-6, mistakes=mistakes,
                       context=f"mask =\n{mask.numpy()}")
    if not out.requires_grad:
        check.fail(case, "the result carries no gradient: the policy gradient flows through ln π_θ, so "
                         "do not detach, call .item() or go through NumPy.")
    w = torch.randn(B, generator=g)
    (grad,) = torch.autograd.grad((out * w).sum(), logits)
    p = F.softmax(logits.detach(), -1)
    expected_grad = (w[:, None, None] * mask[..., None]) * (F.one_hot(tokens, V).float() - p)
    check.expect_close(f"{case}: gradient with respect to the logits", grad, expected_grad, rtol=1e-4,
                       atol=1e-6, context="∂ ln π(y|x) / ∂logits[b, t] should be mask[b, t]·(onehot(y_bt) − softmax).")

    # Real inputs: the course's transformer, real prompts, sampled and reference responses.
    from pgcourse.llm.model import response_logits, token_log_probs
    case = "real model: response_logits of sampled summaries"
    with quiet_one_thread():
        model, prompts, y, m = _real_batch(seed)
        out = check.expect_tensor(case, check.call(case, response_logits(model, prompts, y), y, m), (len(y),))
        expected = token_log_probs(model, prompts, y).sum(1)
    check.expect_close(case, out.detach(), expected.detach(), rtol=1e-4, atol=1e-5)
    with quiet_one_thread():
        _smoke_train_rl(check, "sequence_log_prob", sequence_log_prob, k=2, seed=seed)
    check.done()


# ----------------------------------------------------------------------------- kl_penalized_reward
def _kl_mistakes(s: torch.Tensor, lp: torch.Tensor, ref: torch.Tensor, beta: float
                 ) -> tuple[torch.Tensor, list[Mistake]]:
    kl = lp - ref
    return s - beta * kl, [
        ("the KL term has the wrong sign: the reward is score − β(ln π_θ − ln π_ref), a *penalty* for "
         "drifting from the reference model.", s + beta * kl),
        ("β is missing: the reward is score − β·(ln π_θ − ln π_ref).", s - kl),
        ("β multiplies the score too: only the KL term is scaled, r = score − β·KL.", beta * (s - kl)),
        ("the score is missing: r = score − β·(ln π_θ − ln π_ref).", -beta * kl),
        ("you used the ratio of probabilities: the KL estimate is the difference of *log*-probabilities.",
         s - beta * (lp.exp() / ref.exp())),
        ("you averaged the KL over the batch: each sample's reward has its own penalty, "
         "β·(ln π_θ(y_i|x_i) − ln π_ref(y_i|x_i)); the average happens later, in the loss.", s - beta * kl.mean()),
    ]


def check_kl_penalized_reward(kl_penalized_reward: Callable, seed: int = 0, N: int = 8) -> None:
    """score − β(logp − ref_logp), without gradient: hand case, random case, gradient, train_rl."""
    check = Check("kl_penalized_reward", kl_penalized_reward)
    s = torch.tensor([1.0, 0.5, -1.0])
    lp = torch.tensor([-2.0, -3.0, -4.0])
    ref = torch.tensor([-2.5, -2.0, -4.0])
    expected, mistakes = _kl_mistakes(s, lp, ref, 0.1)
    out = check.expect_tensor("hand case", check.call("hand case", s, lp, ref, 0.1), (3,))
    if not (torch.equal(s, torch.tensor([1.0, 0.5, -1.0])) and torch.equal(lp, torch.tensor([-2.0, -3.0, -4.0]))):
        check.fail("hand case", "your function changed its inputs in place (e.g. `scores -= ...`): the training "
                                "loop still needs the scores and log-probabilities. Compute a new tensor instead.")
    check.expect_close("hand case", out.detach(), expected, rtol=1e-6, mistakes=mistakes, context=(
        "β = 0.1; ln π_θ − ln π_ref = [0.5, −1, 0], so r = [1 − 0.05, 0.5 + 0.1, −1] = [0.95, 0.6, −1]."))

    g = torch.Generator().manual_seed(seed)
    s = torch.randn(N, generator=g).requires_grad_(True)
    lp = (-3 * torch.rand(N, generator=g) - 0.5).requires_grad_(True)
    ref = (-3 * torch.rand(N, generator=g) - 0.5).requires_grad_(True)
    beta = float(0.05 + torch.rand((), generator=g))
    case = f"random N={N}, β={beta:.3f}, inputs with requires_grad=True"
    expected, mistakes = _kl_mistakes(s.detach(), lp.detach(), ref.detach(), beta)
    out = check.expect_tensor(case, check.call(case, s, lp, ref, beta), (N,))
    check.expect_close(case, out.detach(), expected, rtol=1e-5, atol=1e-6, mistakes=mistakes)
    if out.requires_grad:
        check.fail(case, "the reward carries a gradient (out.requires_grad is True). It is a number "
                         "the policy is judged by, not something to differentiate: the KL penalty "
                         "must not push on ln π_θ through the reward. Return a detached tensor "
                         "(.detach(), or compute it under torch.no_grad()).")
    check.passed += 1
    with quiet_one_thread():
        _smoke_train_rl(check, "kl_penalized_reward", kl_penalized_reward, k=1, seed=seed)
    check.done()


# ----------------------------------------------------------------------------- rloo_advantages
def _rloo_loop(r: np.ndarray) -> np.ndarray:
    P, k = r.shape
    out = np.zeros_like(r)
    for p in range(P):
        for i in range(k):
            out[p, i] = r[p, i] - sum(r[p, j] for j in range(k) if j != i) / (k - 1)
    return out


def _rloo_mistakes(r: np.ndarray) -> list[Mistake]:
    P, k = r.shape
    s = r.sum(1, keepdims=True)
    m = []
    m.append(("the baseline includes the sample itself (r_i − mean_j r_j): leave r_i out, "
              "b_i = (Σ_j r_j − r_i)/(k − 1). A baseline built from r_i is correlated with it and "
              "shrinks every advantage by (k − 1)/k.", r - r.mean(1, keepdims=True)))
    m.append(("you divided by k: there are k − 1 *other* samples, b_i = (Σ_j r_j − r_i)/(k − 1).",
              r - (s - r) / k))
    m.append(("the sign is flipped: A_i = r_i − b_i.", (s - r) / (k - 1) - r))
    m.append(("you returned the baseline b_i, not the advantage r_i − b_i.", (s - r) / (k - 1)))
    if P > 1:
        m.append(("the baseline mixes prompts: the k samples of *one* prompt (a row) share a baseline; "
                  "another prompt's rewards say nothing about this one.",
                  r - (r.sum() - r) / (r.size - 1)))
        m.append(("you left out along the wrong axis: rewards is (P, k), one row per prompt; average "
                  "over the row (dim=1).", r - (r.sum(0, keepdims=True) - r) / max(P - 1, 1)))
    std = r.std(1, ddof=1, keepdims=True) if k > 1 else np.ones_like(s)
    m.append(("you normalised by the standard deviation: RLOO uses r_i − b_i as it is.",
              (r - r.mean(1, keepdims=True)) / np.where(std > 0, std, 1)))
    return m


def check_rloo_advantages(rloo_advantages: Callable, seed: int = 0, P: int = 4, k: int = 3) -> None:
    """r_i − (Σ_j r_j − r_i)/(k − 1) per row: hand cases, a loop, ValueError for k < 2, train_rl."""
    check = Check("rloo_advantages", rloo_advantages)
    cases = [
        ("hand case k=3", [[1.0, 2.0, 4.0], [0.0, 0.0, 3.0]],
         "row [1, 2, 4]: A = [1 − (2+4)/2, 2 − (1+4)/2, 4 − (1+2)/2] = [−2, −0.5, 2.5]"),
        ("hand case k=2", [[1.0, 3.0]], "with k = 2 each sample's baseline is the other one: A = [1 − 3, 3 − 1]"),
    ]
    rng = np.random.default_rng(seed)
    cases.append((f"random P={P}, k={k}", np.round(rng.normal(size=(P, k)) * 2, 3).tolist(), ""))
    for case, r, why in cases:
        r = np.asarray(r, dtype=np.float32)
        rewards = torch.tensor(r)
        out = check.expect_tensor(case, check.call(case, rewards), r.shape)
        if not np.array_equal(rewards.numpy(), r):
            check.fail(case, "your function changed its input `rewards` in place (e.g. `rewards -= ...`): the "
                             "training loop still needs the rewards. Compute a new tensor instead.")
        check.expect_close(case, out, _rloo_loop(r.astype(float)), rtol=1e-5, atol=1e-5,
                           mistakes=_rloo_mistakes(r.astype(float)), context=f"rewards = {r.tolist()}. {why}")
    check.expect_raises("k = 1 sample per prompt", ValueError, torch.ones(4, 1), hint=(
        "With one sample per prompt there is no other sample to build the baseline from (k − 1 = 0): "
        "raise ValueError with a message that says so."))
    with quiet_one_thread():
        _smoke_train_rl(check, "rloo_advantages", rloo_advantages, k=4, seed=seed)
    check.done()


# ----------------------------------------------------------------------------- reinforce_lm_loss
def _loss_mistakes(lp: torch.Tensor, adv: torch.Tensor) -> tuple[torch.Tensor, list[Mistake]]:
    terms = adv * lp
    return -terms.mean(), [
        ("the sign is flipped: minimising the loss must *ascend* J, so L = −mean(A · ln π).", terms.mean()),
        ("you summed over the samples: take the mean (divide by N).", -terms.sum()),
        ("you multiplied the means: the estimator averages the products A_i · ln π(y_i|x_i).",
         -(adv.mean() * lp.mean())),
        ("you used probabilities: the score-function gradient needs ln π, not π.", -(adv * lp.exp()).mean()),
    ]


def check_reinforce_lm_loss(reinforce_lm_loss: Callable, seed: int = 0, N: int = 6) -> None:
    """−mean(A · ln π(y|x)) with A constant: hand case, gradients (ln π and θ), train_rl."""
    check = Check("reinforce_lm_loss", reinforce_lm_loss)
    lp = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    adv = torch.tensor([1.0, -2.0, 0.5])
    expected, mistakes = _loss_mistakes(lp.detach(), adv)
    out = check.expect_tensor("hand case", check.call("hand case", lp, adv), ())
    check.expect_close("hand case", out.detach(), expected, rtol=1e-6, mistakes=mistakes, context=(
        "L = −(1/3)[(1)(−1) + (−2)(−2) + (0.5)(−0.5)] = −2.75/3 = −0.9167."))

    # Advantages computed from ln π itself (as an undetached KL penalty would be): only A's value may count.
    g = torch.Generator().manual_seed(seed)
    lp = (-4 * torch.rand(N, generator=g) - 0.2).requires_grad_(True)
    base = torch.randn(N, generator=g)
    adv = base - 0.5 * lp  # carries a gradient into lp on purpose
    case = f"random N={N}, advantages that depend on ln π (with a graph)"
    expected, mistakes = _loss_mistakes(lp.detach(), adv.detach())
    out = check.expect_tensor(case, check.call(case, lp, adv), ())
    check.expect_close(case, out.detach(), expected, rtol=1e-5, atol=1e-6, mistakes=mistakes)
    if not out.requires_grad:
        check.fail(case, "the loss carries no gradient: did you detach seq_logp or call .item()?")
    (grad,) = torch.autograd.grad(out, lp)
    wrong = -(adv.detach() - 0.5 * lp.detach()) / N
    if torch.allclose(grad, wrong, rtol=1e-5, atol=1e-6):
        check.fail(case, "gradient flows through the advantages: A is a constant weight (it was computed "
                         "from rewards), so use advantages.detach(); otherwise the update also pushes on "
                         "whatever A was computed from.")
    check.expect_close(f"{case}: gradient with respect to seq_logp", grad, -adv.detach() / N, rtol=1e-5,
                       atol=1e-6, context="∂L/∂ ln π(y_i|x_i) should be −A_i / N.")

    # The real model: ∇_θ L equals −(1/N) Σ_i A_i ∇_θ ln π_θ(y_i|x_i), one sample at a time.
    from pgcourse.llm.model import token_log_probs
    case = "real model: gradient over θ vs the estimator, sample by sample"
    with quiet_one_thread():
        model, prompts, y, _ = _real_batch(seed)
        n = len(y)
        a = torch.randn(n, generator=g)
        params = [p for p in model.parameters()]
        loss = check.expect_tensor(case, check.call(case, token_log_probs(model, prompts, y).sum(1), a), ())
        auto = torch.autograd.grad(loss, params)
        hand = [torch.zeros_like(p) for p in params]
        for i in range(n):
            gi = torch.autograd.grad(token_log_probs(model, prompts[i:i + 1], y[i:i + 1]).sum(), params)
            for acc, gg in zip(hand, gi):
                acc -= a[i] * gg / n
    check.expect_close(case, torch.cat([x.flatten() for x in auto]), torch.cat([x.flatten() for x in hand]),
                       rtol=1e-4, atol=1e-6)
    with quiet_one_thread():
        _smoke_train_rl(check, "reinforce_lm_loss", reinforce_lm_loss, k=2, seed=seed)
    check.done()
