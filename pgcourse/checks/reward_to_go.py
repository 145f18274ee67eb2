"""Visible checks for notebook 04 (reward-to-go, baselines and variance).

Each check compares the student's function with the lecture's formula on a hand case and on
random batches, explains the known mistakes (summing from t = 0 instead of t = h, reversed time,
γ^t instead of γ^{t−h}, the baseline of the wrong step, …), and, for the gradient estimators,
checks exact unbiasedness: Σ_τ ρ_θ(τ) ĝ({τ}) over every trajectory of a small MDP must equal
∇_θ J(θ) from autograd of the exact objective. References are computed here, independently of
`pgcourse.tabular.returns`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pgcourse.checks.core import Check
from pgcourse.tabular.mdp import enumerate_trajectories, exact_policy_gradient, policy_evaluation, random_mdp, \
    sample_trajectories
from pgcourse.tabular.policies import grad_log_tabular_softmax_batch, tabular_softmax
from pgcourse.tabular.moments import exact_moments

EXACT_RTOL, EXACT_ATOL = 1e-8, 1e-10


# ---- references and the values that known mistakes produce ------------------------------------

def _rtg(r: np.ndarray) -> np.ndarray:
    """G_h = Σ_{t=h}^{H-1} r_t by a reversed cumulative sum along the last axis."""
    return np.flip(np.cumsum(np.flip(r, -1), axis=-1), -1)


def _discounted(r: np.ndarray, gamma: float) -> np.ndarray:
    """G_h = r_h + γ G_{h+1}, G_{H-1} = r_{H-1}: the backward recursion."""
    out = np.array(r, dtype=float)
    for h in range(out.shape[-1] - 2, -1, -1):
        out[..., h] += gamma * out[..., h + 1]
    return out


def _forward(r: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """Σ_{t=0}^{h} γ^{h−t} r_t: the sum over the *past*, a known mistake."""
    return np.flip(_discounted(np.flip(r, -1), gamma), -1)


def _rtg_mistakes(r: np.ndarray) -> list:
    total = np.broadcast_to(r.sum(-1, keepdims=True), r.shape)
    return [
        ("you summed from t = 0 up to h (the past); G_h sums from t = h to H − 1 (the future).", np.cumsum(r, -1)),
        ("you reversed time to sum, but did not reverse the result back: G_0 should be the whole return R(τ).",
         np.cumsum(np.flip(r, -1), -1)),
        ("every entry is the full return R(τ): G_h only counts rewards from step h on.", total),
        ("the sum starts at t = h, so r_h itself belongs to G_h.", _rtg(r) - r),
        ("you summed over the rewards before step h only (t < h).", np.cumsum(r, -1) - r),
    ]


def _score(theta, states, actions) -> np.ndarray:
    return grad_log_tabular_softmax_batch(np.asarray(theta, dtype=float), states, actions)  # (N, H, S, A)


def _estimate(theta, states, actions, weights) -> np.ndarray:
    """(1/N) Σ_i Σ_h ∇_θ ln π_θ(a_h^i | s_h^i) Ψ_h^i."""
    return np.einsum("nhsa,nh->sa", _score(theta, states, actions), weights) / len(states)


def _estimate_mistakes(theta, states, actions, rewards) -> list:
    N, H = rewards.shape
    G = _rtg(rewards)
    pi = tabular_softmax(theta)
    one_hot = np.eye(theta.shape[0])[states][..., :, None] * np.eye(theta.shape[1])[actions][..., None, :]
    return [
        ("you weighted every step by the full return R(τ): that is REINFORCE (also unbiased, but not "
         "reward-to-go). Weight ∇_θ ln π_θ(a_h|s_h) by G_h = Σ_{t≥h} r_t.",
         _estimate(theta, states, actions, np.broadcast_to(rewards.sum(1, keepdims=True), G.shape))),
        ("you summed the rewards from t = 0 to h: G_h sums from t = h to H − 1.",
         _estimate(theta, states, actions, np.cumsum(rewards, 1))),
        ("your G_h runs backwards in time: G_0 should be the whole return R(τ).",
         _estimate(theta, states, actions, np.flip(G, 1))),
        ("G_h starts at t = h: r_h itself is included.", _estimate(theta, states, actions, G - rewards)),
        ("you summed over the trajectories: the estimate is the *mean* (1/N) Σ_i.",
         N * _estimate(theta, states, actions, G)),
        ("you divided by N − 1: the estimate is the mean (1/N) Σ_i (N − 1 belongs to an unbiased *variance*).",
         N / (N - 1) * _estimate(theta, states, actions, G) if N > 1 else np.full(np.shape(theta), np.inf)),
        ("you averaged over the steps h too: sum over h, average over trajectories only.",
         _estimate(theta, states, actions, G) / H),
        ("∇_θ ln π_θ(a|s) = e_s ⊗ (e_a − π_θ(·|s)): the −π_θ(·|s) part is missing.",
         np.einsum("nhsa,nh->sa", one_hot, G) / N),
        ("you used ∇_θ π_θ(a|s) instead of ∇_θ ln π_θ(a|s).",
         np.einsum("nhsa,nh->sa", _score(theta, states, actions), G * pi[states, actions]) / N),
    ]


def _case(seed: int, S: int, A: int, H: int, N: int):
    mdp = random_mdp(S, A, H=H, seed=seed)
    theta = np.random.default_rng(seed + 1000).normal(size=(S, A))
    states, actions, rewards = sample_trajectories(mdp, theta, N, seed=seed + 2000)
    rewards = rewards - 0.5  # rewards of both signs catch more mistakes
    return mdp, theta, states, actions, rewards


def _expected_gradient(check: Check, case: str, mdp, theta, extra=lambda states: ()) -> np.ndarray:
    """Σ_τ ρ_θ(τ) ĝ({τ}) over every trajectory τ (N = 1 each): the estimator's exact expectation.

    extra(states) gives the arguments after rewards (a baseline) for the trajectory with those states.
    """
    traj = enumerate_trajectories(mdp, theta)
    one_each = [(theta, traj.states[m:m + 1], traj.actions[m:m + 1], traj.rewards[m:m + 1],
                 *extra(traj.states[m:m + 1])) for m in range(len(traj.probs))]
    terms = []
    for out in check.call_many(case, one_each):
        out = np.asarray(out.detach().cpu() if hasattr(out, "detach") else out)
        if out.shape != theta.shape:
            check.fail(case, f"on a single trajectory (N = 1) it returned shape {out.shape}, expected {theta.shape}.")
        terms.append(out)
    mean = exact_moments(np.stack(terms).astype(float), traj.probs).mean
    dtypes = {t.dtype for t in terms}
    return mean.astype(np.result_type(*dtypes, np.float16))   # float32 answers keep a float32 tolerance


# ---- the checks --------------------------------------------------------------------------------

def check_reward_to_go(reward_to_go: Callable, seed: int = 0, N: int = 3, H: int = 5) -> None:
    """G_h = Σ_{t=h}^{H-1} r_t along the last axis: hand case, batches, known mistakes, input untouched."""
    check = Check("reward_to_go", reward_to_go)
    r0 = np.array([1.0, 2.0, 3.0])
    check.expect_close("hand case", check.call("hand case", r0.copy()), [6.0, 5.0, 3.0], mistakes=_rtg_mistakes(r0),
                       context="rewards [1, 2, 3]: G_0 = 1 + 2 + 3 = 6, G_1 = 2 + 3 = 5, G_2 = 3.")

    rng = np.random.default_rng(seed)
    for case, shape in [(f"batch of N = {N} trajectories", (N, H)), ("extra leading axes", (2, N, H)),
                        ("horizon H = 1", (N, 1))]:
        r = rng.normal(size=shape)
        r_before = r.copy()
        out = check.call(case, r)
        check.expect_shape(case, out, shape)
        if not np.array_equal(r, r_before):
            check.fail(case, "your function changed the rewards array it was given; compute G in a new array.")
        check.expect_close(case, out, _rtg(r), rtol=1e-10, atol=1e-12, mistakes=_rtg_mistakes(r) + [
            ("you summed along the first axis: time is the *last* axis, shape (..., H).", np.flip(np.cumsum(
                np.flip(r, 0), axis=0), 0))],
            context=f"rewards of shape {shape}: sum along the last axis (time), one row per trajectory.")
    check.done()


def check_discounted_reward_to_go(discounted_reward_to_go: Callable, seed: int = 0, N: int = 3, H: int = 6) -> None:
    """G_h = Σ_{t=h}^{H-1} γ^{t−h} r_t: hand case, batches, γ = 1 and γ = 0, known mistakes."""
    check = Check("discounted_reward_to_go", discounted_reward_to_go)

    def mistakes(r, gamma):
        t = np.arange(r.shape[-1])
        return [
            ("the power is γ^{t−h}, counted from the current step h, not γ^t from the start.", _rtg(gamma ** t * r)),
            ("the power is γ^{t−h}: the reward r_h itself is not discounted.", gamma * _discounted(r, gamma)),
            ("γ is missing: that is the undiscounted reward-to-go.", _rtg(r)),
            ("you summed from t = 0 up to h (the past); G_h sums from t = h to H − 1.", _forward(r, gamma)),
            ("your result runs backwards in time: G_0 should be the discounted return of the whole trajectory.",
             np.flip(_discounted(r, gamma), -1)),
        ]

    r0 = np.array([1.0, 2.0, 3.0])
    check.expect_close("hand case", check.call("hand case", r0.copy(), 0.5), [2.75, 3.5, 3.0],
                       mistakes=mistakes(r0, 0.5), context=(
                           "rewards [1, 2, 3], γ = 0.5: G_0 = 1 + 0.5·2 + 0.25·3 = 2.75, G_1 = 2 + 0.5·3 = 3.5, G_2 = 3."))

    ri = np.array([[1, 1], [2, 0]])
    case = "integer rewards [[1, 1], [2, 0]], γ = 0.5"
    out = check.call(case, ri.copy(), 0.5)
    out_dtype = np.asarray(out.detach() if hasattr(out, "detach") else out).dtype
    if np.issubdtype(out_dtype, np.integer):
        check.fail(case, f"the result has an integer dtype ({out_dtype}), so 1 + 0.5·1 = 1.5 was truncated to 1. "
                         "np.zeros_like(rewards) and np.array(rewards) keep the integer type of integer rewards: "
                         "build G as floats (np.zeros(np.shape(rewards)) or np.asarray(rewards, dtype=float)).")
    check.expect_close(case, out, [[1.5, 1.0], [2.0, 0.0]], context=(
        "rewards can be integers (CartPole's are); G_h = r_h + γ G_{h+1} is a float all the same."))

    rng = np.random.default_rng(seed)
    r = rng.normal(size=(N, H))
    for case, gamma, expected in [("batch, γ = 0.9", 0.9, _discounted(r, 0.9)),
                                  ("γ = 1 (undiscounted)", 1.0, _rtg(r)),
                                  ("γ = 0 (only r_h counts)", 0.0, r)]:
        out = check.call(case, r.copy(), gamma)
        check.expect_shape(case, out, r.shape)
        check.expect_close(case, out, expected, rtol=1e-10, atol=1e-12, mistakes=mistakes(r, gamma), context=(
            f"rewards of shape {r.shape}, γ = {gamma}. " + ("With γ = 0, G_h = r_h (and 0⁰ = 1: do not divide by γ^h)."
                                                           if gamma == 0 else "")))
    r3 = rng.normal(size=(2, N, H))
    check.expect_close("extra leading axes", check.call("extra leading axes", r3.copy(), 0.7),
                       _discounted(r3, 0.7), rtol=1e-10, atol=1e-12, context="rewards of shape (2, N, H): time is the last axis.")
    check.done()


def check_reward_to_go_gradient_estimate(reward_to_go_gradient_estimate: Callable, seed: int = 0,
                                         S: int = 3, A: int = 2, H: int = 4, N: int = 5) -> None:
    """(1/N) Σ_i Σ_h ∇_θ ln π_θ(a_h^i|s_h^i) G_h^i: hand case, a sampled batch, mistakes, exact unbiasedness."""
    check = Check("reward_to_go_gradient_estimate", reward_to_go_gradient_estimate)

    mdp, theta, states, actions, rewards = _case(seed, S, A, H, N)
    case = f"{N} sampled trajectories (S = {S}, A = {A}, H = {H})"
    diagnose = [(case, lambda: (check.call(case, theta, states, actions, rewards),   # where mistakes differ
                                _estimate_mistakes(theta, states, actions, rewards)))]
    theta0 = np.zeros((2, 2))
    s0, a0, r0 = np.array([[0, 1]]), np.array([[1, 0]]), np.array([[1.0, 2.0]])
    out = check.call("hand case", theta0, s0, a0, r0)
    check.expect_close("hand case", out, _estimate(theta0, s0, a0, _rtg(r0)), diagnose=diagnose,
                       mistakes=_estimate_mistakes(theta0, s0, a0, r0), context=(
                           "θ = 0 (uniform policy), one trajectory s = (0, 1), a = (1, 0), r = (1, 2): G = (3, 2),\n"
                           "∇ ln π(1|0) = e_0 ⊗ (e_1 − ½) = [[−½, ½], [0, 0]] weighted by 3, plus "
                           "∇ ln π(0|1) = [[0, 0], [½, −½]] weighted by 2."))

    out = check.call(case, theta, states, actions, rewards)
    check.expect_shape(case, out, (S, A))
    check.expect_close(case, out, _estimate(theta, states, actions, _rtg(rewards)), rtol=1e-8, atol=1e-10,
                       mistakes=_estimate_mistakes(theta, states, actions, rewards))

    small = random_mdp(2, 2, H=3, seed=seed + 1)
    theta_small = np.random.default_rng(seed + 7).normal(size=(2, 2))
    mean = _expected_gradient(check, "exact expectation", small, theta_small)
    check.expect_close("exact expectation", mean, exact_policy_gradient(small, theta_small), rtol=EXACT_RTOL,
                       atol=EXACT_ATOL, context=(
                           "Σ_τ ρ_θ(τ) · (your estimate from the single trajectory τ), over all 64 trajectories of a "
                           "2-state, 2-action MDP with H = 3, should equal the exact ∇_θ J(θ): the estimator must be unbiased."))
    check.done()


def _baseline_mistakes(theta, states, actions, rewards, b_steps, baseline) -> list:
    G = _rtg(rewards)
    shifted_next = np.concatenate([b_steps[:, 1:], np.zeros_like(b_steps[:, :1])], 1)   # b_{h+1}
    shifted_prev = np.concatenate([np.zeros_like(b_steps[:, :1]), b_steps[:, :-1]], 1)  # b_{h−1}
    out = [
        ("the baseline is missing: subtract b from G_h.", _estimate(theta, states, actions, G)),
        ("you added the baseline: subtract it, G_h − b(s_h).", _estimate(theta, states, actions, G + b_steps)),
        ("you subtracted the baseline of the next step, b(s_{h+1}): use b(s_h), the state where a_h was chosen.",
         _estimate(theta, states, actions, G - shifted_next)),
        ("you subtracted the baseline of the previous step, b(s_{h−1}): use b(s_h).",
         _estimate(theta, states, actions, G - shifted_prev)),
        ("you subtracted the baseline of the previous step, b(s_{h−1}) (wrapping around at h = 0): use b(s_h).",
         _estimate(theta, states, actions, G - np.roll(b_steps, 1, axis=1))),
        ("you subtracted the baseline of the next step, b(s_{h+1}) (wrapping around at the end): use b(s_h).",
         _estimate(theta, states, actions, G - np.roll(b_steps, -1, axis=1))),
        ("you subtracted b from the full return R(τ): subtract it from the reward-to-go G_h.",
         _estimate(theta, states, actions, rewards.sum(1, keepdims=True) - b_steps)),
        ("you summed over the trajectories: the estimate is the *mean* (1/N) Σ_i.",
         len(states) * _estimate(theta, states, actions, G - b_steps)),
    ]
    if baseline.ndim == 1 and baseline.shape[0] == states.shape[1]:
        out.append(("a baseline of shape (S,) holds b(s) per *state*: look it up at s_h (baseline[states]); "
                    "you used entry h for step h.", _estimate(theta, states, actions, G - baseline)))
    if baseline.ndim == 1 and baseline.shape[0] >= theta.shape[1]:
        out.append(("index the baseline by the states s_h, not by the actions.",
                    _estimate(theta, states, actions, G - baseline[actions])))
    return out


def check_baseline_gradient_estimate(baseline_gradient_estimate: Callable, seed: int = 0, S: int = 3, A: int = 2,
                                     H: int = 3, N: int = 5) -> None:
    """(1/N) Σ_i Σ_h ∇_θ ln π_θ(a_h^i|s_h^i)(G_h^i − b_h^i) with b of shape (S,) or (N, H): hand case,
    both kinds of baseline, mistakes (wrong step, added, …), exact unbiasedness, bad shapes."""
    check = Check("baseline_gradient_estimate", baseline_gradient_estimate)

    theta0 = np.zeros((2, 2))
    s0, a0, r0, b0 = np.array([[0, 1]]), np.array([[1, 1]]), np.array([[1.0, 2.0]]), np.array([0.5, 1.0])
    out = check.call("hand case", theta0, s0, a0, r0, b0)
    check.expect_close("hand case", out, _estimate(theta0, s0, a0, _rtg(r0) - b0[s0]),
                       mistakes=_baseline_mistakes(theta0, s0, a0, r0, b0[s0], b0), context=(
                           "θ = 0, one trajectory s = (0, 1), a = (1, 1), r = (1, 2), baseline b = [0.5, 1.0] per state:\n"
                           "G = (3, 2), b(s_0) = 0.5, b(s_1) = 1.0, weights G_h − b(s_h) = (2.5, 1)."))

    mdp, theta, states, actions, rewards = _case(seed, S, A, H, N)  # S = H by default: catches b[h] for b[s_h]
    b_state = np.random.default_rng(seed + 3).normal(size=S)
    case = f"state baseline b of shape (S,) = ({S},), N = {N}, H = {H}"
    out = check.call(case, theta, states, actions, rewards, b_state.copy())
    check.expect_shape(case, out, (S, A))
    b_steps = b_state[states]
    check.expect_close(case, out, _estimate(theta, states, actions, _rtg(rewards) - b_steps), rtol=1e-8, atol=1e-10,
                       mistakes=_baseline_mistakes(theta, states, actions, rewards, b_steps, b_state))

    values = policy_evaluation(mdp, theta).V  # (H, S): V^π_h(s)
    b_nh = values[np.arange(H), states]       # (N, H): V^π_h(s_h)
    case = f"per-step baseline of shape (N, H) = ({N}, {H}), b_h = V^π_h(s_h)"
    out = check.call(case, theta, states, actions, rewards, b_nh.copy())
    check.expect_close(case, out, _estimate(theta, states, actions, _rtg(rewards) - b_nh), rtol=1e-8, atol=1e-10,
                       mistakes=_baseline_mistakes(theta, states, actions, rewards, b_nh, b_nh))

    small = random_mdp(2, 2, H=3, seed=seed + 1)
    theta_small = np.random.default_rng(seed + 7).normal(size=(2, 2))
    exact = exact_policy_gradient(small, theta_small)
    b_small = np.array([2.0, -1.0])
    mean = _expected_gradient(check, "exact expectation, b(s)", small, theta_small,
                              extra=lambda states: (b_small.copy(),))
    check.expect_close("exact expectation, b(s)", mean, exact, rtol=EXACT_RTOL, atol=EXACT_ATOL, context=(
        "Σ_τ ρ_θ(τ) · (your estimate from the single trajectory τ) with b = [2, −1] should equal the exact "
        "∇_θ J(θ): a baseline that depends only on the state leaves the expectation unchanged."))
    V_small = policy_evaluation(small, theta_small).V
    mean = _expected_gradient(check, "exact expectation, V_h(s_h)", small, theta_small,
                              extra=lambda states: (V_small[np.arange(3), states],))
    check.expect_close("exact expectation, V_h(s_h)", mean, exact, rtol=EXACT_RTOL, atol=EXACT_ATOL, context=(
        "with the per-step baseline b_h = V^π_h(s_h) of shape (1, H), the exact expectation should still be ∇_θ J(θ)."))

    check.expect_raises("baseline of shape (S + 1,)", ValueError, theta, states, actions, rewards, np.zeros(S + 1),
                        hint="a baseline must have shape (S,) or (N, H) (the shape of states).")
    width = 1 if H > 1 else 2  # (N, 1) broadcasts silently against (N, H), unless H = 1
    check.expect_raises(f"baseline of shape (N, {width})", ValueError, theta, states, actions, rewards,
                        np.zeros((N, width)), hint="a baseline must have shape (S,) or (N, H) (the shape of states).")
    check.done()
