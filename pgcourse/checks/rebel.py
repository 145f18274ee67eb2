"""Visible check for notebook 06's REBEL exercise.

    rebel_loss(logp_1, logp_old_1, logp_2, logp_old_2, r_1, r_2, η)
        = mean_i ((ln π_θ(y_1) − ln π_old(y_1)) − (ln π_θ(y_2) − ln π_old(y_2)) − η (r_1 − r_2))²

with the old log-probabilities and the rewards as constants. The check runs a hand case (with hints
for known mistakes), a random float64 case with its gradients (the old log-probs and the rewards
must receive none, even when they require grad), and two REBEL updates of
`pgcourse.llm.rebel.train_rebel` with the student's loss against the reference.

Reference: Gao et al. 2024 (REBEL: Reinforcement Learning via Regressing Relative Rewards).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from pgcourse.checks.core import Check, Mistake, describe_error
from pgcourse.checks.integrity import LibraryAnswerUsed
from pgcourse.checks.llm import quiet_one_thread


def _rebel_mistakes(lp1, old1, lp2, old2, r1, r2, eta) -> tuple[torch.Tensor, list[Mistake]]:
    """The loss and the values known mistakes give (all inputs detached, (B,))."""
    d1, d2, dr = lp1 - old1, lp2 - old2, r1 - r2
    res = d1 - d2 - eta * dr
    return (res ** 2).mean(), [
        ("the sign of the η term (or old and new swapped): the residual is "
         "(Δ_1 − Δ_2) − η (r_1 − r_2) with Δ_j = ln π_θ(y_j) − ln π_old(y_j); the response with the "
         "higher reward must gain log-probability.", ((d1 - d2 + eta * dr) ** 2).mean()),
        ("REBEL regresses onto the reward *difference* r_1 − r_2, not the sum.",
         ((d1 - d2 - eta * (r1 + r2)) ** 2).mean()),
        ("you forgot η: the target is η (r_1 − r_2) (η is the step size of the mirror-descent update).",
         ((d1 - d2 - dr) ** 2).mean()),
        ("you summed over the prompts: take the mean over the B pairs.", (res ** 2).sum()),
        ("the loss is a *squared* residual (least squares), not its absolute value.", res.abs().mean()),
        ("you forgot to square the residual: L = mean(residual²).", res.mean()),
        ("you subtracted ln π_old inside the difference the wrong way round for one response: "
         "Δ_j = ln π_θ(y_j) − ln π_old(y_j) for both j.", ((lp1 - old1 - (old2 - lp2) - eta * dr) ** 2).mean()),
    ]


def _smoke_train_rebel(check: Check, fn: Callable, seed: int) -> None:
    """Two REBEL updates with the student's loss: the second step's statistics match the reference."""
    from pgcourse.llm.data import make_dataset
    from pgcourse.llm.model import GPT
    from pgcourse.llm.rebel import REBELConfig, train_rebel
    from pgcourse.llm.reward_model import RewardModel
    from pgcourse.llm.rl import RLConfig

    case = "inside train_rebel (2 updates of 4 prompts × 2 responses)"
    with quiet_one_thread():
        policy = GPT(seed=seed)
        rm = RewardModel(policy, seed=seed)
        posts, _ = make_dataset(32, seed=300 + seed)
        rl_cfg, cfg = RLConfig(steps=3, samples_per_step=8, k=2), REBELConfig(eta=1.0)
        _, ref_hist = train_rebel(policy, rm, posts, seed, rl_cfg, cfg)
        try:
            _, hist = train_rebel(policy, rm, posts, seed, rl_cfg, cfg, loss_fn=check.watch.wrap(fn))
        except LibraryAnswerUsed:
            raise
        except NotImplementedError:
            raise AssertionError("rebel_loss is not implemented yet.") from None
        except Exception as err:
            check.fail(case, f"training with your rebel_loss raised {describe_error(err)}")
    ours = np.array([hist.reward[-1], hist.kl[-1], hist.rm_score[-1]])
    theirs = np.array([ref_hist.reward[-1], ref_hist.kl[-1], ref_hist.rm_score[-1]])
    check.expect_close(case, ours, theirs, rtol=1e-3, atol=1e-4, context=(
        "after two updates, (mean reward, mean KL, mean RM score) with your loss vs the reference"))


def check_rebel_loss(rebel_loss: Callable, seed: int = 0, B: int = 5, train: bool = True) -> None:
    """Hand case, random float64 case, gradients (2/B · residual; none into the constants), train_rebel."""
    check = Check("rebel_loss", rebel_loss)
    # Hand case, B = 2, η = 0.5.
    lp1, old1 = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -2.0])
    lp2, old2 = torch.tensor([-3.0, -0.5]), torch.tensor([-3.0, -1.0])
    r1, r2 = torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])
    # The random float64 case, drawn first: where the hand case cannot tell two mistakes apart, it can.
    g = torch.Generator().manual_seed(seed)
    eta = float(0.05 + torch.rand((), generator=g))
    raw = [-4 * torch.rand(B, generator=g, dtype=torch.float64) for _ in range(4)]
    raw += [torch.randn(B, generator=g, dtype=torch.float64) for _ in range(2)]
    case = f"random B={B}, float64, η={eta:.3f}, every input requires grad"

    expected, mistakes = _rebel_mistakes(lp1, old1, lp2, old2, r1, r2, 0.5)
    out = check.expect_tensor("hand case", check.call("hand case", lp1, old1, lp2, old2, r1, r2, 0.5), ())
    check.expect_close("hand case", out.detach(), expected, rtol=1e-6, mistakes=mistakes, context=(
        "η = 0.5. Pair 1: Δ_1 = 0.5, Δ_2 = 0, η(r_1 − r_2) = 0.5, residual 0. Pair 2: Δ_1 = 0, "
        "Δ_2 = 0.5, η(r_1 − r_2) = −1, residual 0.5. L = (0² + 0.5²)/2 = 0.125."),
        diagnose=[(case, lambda: (check.call(case, *[x.clone() for x in raw], eta), _rebel_mistakes(*raw, eta)[1]))])

    # Random float64 case where every input requires grad: only ln π_θ may receive a gradient.
    args = [x.clone().requires_grad_(True) for x in raw]
    expected, mistakes = _rebel_mistakes(*raw, eta)
    out = check.expect_tensor(case, check.call(case, *args, eta), ())
    if out.dtype != torch.float64:
        check.fail(case, f"float64 inputs gave a {out.dtype} loss: stay in the inputs' dtype.")
    check.expect_close(case, out.detach(), expected, rtol=1e-8, atol=1e-10, mistakes=mistakes)
    if not out.requires_grad:
        check.fail(case, "the loss carries no gradient: do not detach ln π_θ(y_1), ln π_θ(y_2) or call .item().")
    grads = torch.autograd.grad(out, args, allow_unused=True)
    names = ["logp_old_1", "logp_old_2", "r_1", "r_2"]
    for name, gr in zip(names, [grads[1], grads[3], grads[4], grads[5]]):
        if gr is not None and torch.any(gr != 0):
            check.fail(case, f"a gradient flows into {name}: the old log-probabilities and the rewards are "
                             "constants of the regression (they were computed when the samples were drawn); "
                             "use .detach() on them.")
    res = (raw[0] - raw[1]) - (raw[2] - raw[3]) - eta * (raw[4] - raw[5])
    zero = torch.zeros(B, dtype=torch.float64)
    g1 = zero if grads[0] is None else grads[0]
    g2 = zero if grads[2] is None else grads[2]
    check.expect_close(f"{case}: gradient with respect to logp_1", g1, 2 * res / B, rtol=1e-8, atol=1e-10,
                       context="∂L/∂ ln π_θ(y_1) should be 2/B · residual.")
    check.expect_close(f"{case}: gradient with respect to logp_2", g2, -2 * res / B, rtol=1e-8, atol=1e-10,
                       context="∂L/∂ ln π_θ(y_2) should be −2/B · residual.")
    if train:
        _smoke_train_rebel(check, rebel_loss, seed)
    check.done()
