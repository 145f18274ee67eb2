"""Visible checks for notebook 02 (softmax policy parameterizations).

Every closed form is compared with two independent routes: autograd (torch) and central finite
differences of ln π_θ(a|s). Expected policies come from `pgcourse.tabular.policies` (tested against the
definition); hints name the usual mistakes (wrong axis, no max-subtraction, missing −π term).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from pgcourse.tabular import policies
from pgcourse.checks.core import Check

FD_EPS = 1e-6  # central differences: error O(ε²) from truncation plus O(1e-16/ε) from rounding


def finite_difference_gradient(f: Callable[[np.ndarray], float], theta: np.ndarray, eps: float = FD_EPS) -> np.ndarray:
    """∂f/∂θ_i ≈ (f(θ + ε e_i) − f(θ − ε e_i)) / 2ε for every coordinate; same shape as theta."""
    theta = np.asarray(theta, dtype=float)
    grad = np.zeros_like(theta)
    for i in np.ndindex(theta.shape):
        step = np.zeros_like(theta)
        step[i] = eps
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * eps)
    return grad


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))


def _naive_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        z = np.exp(x)
        return z / z.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- tabular softmax
def _softmax_mistakes(theta: np.ndarray) -> list:
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        z = np.exp(theta - theta.max())
        return [
            ("you normalised over states (axis 0): each *row* π_θ(·|s) sums to 1, so normalise over actions (axis=1).",
             _naive_softmax(theta, axis=0)),
            ("you normalised by the sum over the whole table: normalise each row, sum(axis=1, keepdims=True).",
             np.exp(theta) / np.exp(theta).sum()),
            ("you returned exp(θ) without normalising.", np.exp(theta)),
            ("you returned exp(θ − row maximum) without normalising: divide each row by its sum.",
             np.exp(theta - theta.max(axis=1, keepdims=True))),
            ("you subtracted the maximum of the whole table: subtract each row's own maximum, "
             "or rows far below it underflow to 0/0.", z / z.sum(axis=-1, keepdims=True)),
        ]


def check_tabular_softmax_policy(tabular_softmax_policy: Callable, seed: int = 0, S: int = 3, A: int = 4) -> None:
    """π_θ(a|s) = exp(θ_{s,a}) / Σ_{a'} exp(θ_{s,a'}): hand case, random θ, rows on the simplex, θ ~ ±1000."""
    check = Check("tabular_softmax_policy", tabular_softmax_policy)

    theta = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    given = theta.copy()
    out = check.call("hand case", given)
    if not np.array_equal(given, theta):
        check.fail("hand case", "your function changed its input θ in place (e.g. `theta -= theta.max(...)` or "
                                "`np.exp(theta, out=theta)`), and the notebook says not to modify the caller's array: "
                                "the caller still needs θ. Compute a new array, e.g. `z = theta - theta.max(axis=1, "
                                "keepdims=True)`.")
    check.expect_close("hand case", out, [[0.5, 0.5], [0.75, 0.25]], mistakes=_softmax_mistakes(theta), context=(
        "θ = [[0, 0], [ln 3, 0]]: row 0 is uniform, row 1 is [3, 1] / 4."))

    theta = np.random.default_rng(seed).normal(size=(S, A))
    out = check.call(f"random θ ({S}×{A})", theta.copy())
    check.expect_shape(f"random θ ({S}×{A})", out, (S, A))
    check.expect_close(f"random θ ({S}×{A})", out, policies.tabular_softmax(theta), mistakes=_softmax_mistakes(theta))

    big = 1000 * np.random.default_rng(seed + 1).normal(size=(S, A))
    out = check.call("θ of size ~1000", big.copy())
    check.expect_close("θ of size ~1000", out, policies.tabular_softmax(big), mistakes=_softmax_mistakes(big),
                       context="exp(1000) overflows to inf: subtract each row's maximum before exp "
                               "(softmax is unchanged by adding a constant to a row).")

    apart = np.random.default_rng(seed + 2).normal(size=(S, A)) + 2000.0 * np.arange(S)[:, None]
    out = check.call("rows 2000 apart", apart.copy())
    check.expect_close("rows 2000 apart", out, policies.tabular_softmax(apart), mistakes=_softmax_mistakes(apart),
                       context="θ_{s,a} = 2000·s + noise: each row needs its own shift, or the rows far below "
                               "the largest entry underflow to 0/0.")
    check.done()


# ----------------------------------------------------------------------------- score of the tabular softmax
def _tabular_score_routes(theta: np.ndarray, s: int, a: int) -> tuple[np.ndarray, np.ndarray]:
    """∇_θ ln π_θ(a|s) by autograd (exact) and by central finite differences."""
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(torch.log_softmax(t, dim=-1)[s, a], t)
    fd = finite_difference_gradient(lambda th: _log_softmax(th)[s, a], theta)
    return grad.numpy(), fd


def _tabular_score_mistakes(theta: np.ndarray, s: int, a: int) -> list:
    S, A = theta.shape
    pi = policies.tabular_softmax(theta)
    e = np.zeros((S, A))
    e[s, a] = 1.0
    correct = policies.grad_log_tabular_softmax(theta, s, a)
    return [
        ("the −π_θ(·|s) term is missing: ∇ ln π_θ(a|s) = e_s ⊗ (e_a − π_θ(·|s)); the normaliser "
         "ln Σ_{a'} exp θ_{s,a'} depends on θ too.", e),
        ("you subtracted π_θ in every row: θ_{s',·} for s' ≠ s does not appear in π_θ(a|s), so those rows are 0.",
         e - pi),
        ("you returned ∇_θ π_θ(a|s) = π_θ(a|s) ∇_θ ln π_θ(a|s): the exercise asks for the gradient of the *log*.",
         pi[s, a] * correct),
        ("you subtracted the uniform distribution 1/A instead of π_θ(·|s).",
         e - np.eye(S)[s][:, None] / A),
        ("π_θ(·|s) is a softmax over the actions of state s (along axis 1); you normalised over the states (axis 0).",
         e - np.eye(S)[s][:, None] * _naive_softmax(theta, axis=0)[s]),
    ] + ([("s and a are swapped: the arguments are (theta, s, a), and the score's nonzero row is row s, "
           "e_s ⊗ (e_a − π_θ(·|s)).", policies.grad_log_tabular_softmax(theta, a, s))] if a < S and s < A else [])


def _check_score_pairs(check: Check, fn_call, theta: np.ndarray, pairs, reference, mistakes_fn, routes_fn,
                       label: str) -> None:
    for s, a in pairs:
        case = f"{label}, (s, a) = ({s}, {a})"
        out = fn_call(case, theta.copy(), s, a)
        expected = reference(theta, s, a)
        check.expect_shape(case, out, expected.shape)
        check.expect_close(case, out, expected, mistakes=mistakes_fn(theta, s, a))
        autograd, fd = routes_fn(theta, s, a)
        check.expect_close(case + " vs autograd", out, autograd, context="autograd of ln π_θ(a|s) disagrees.")
        check.expect_close(case + " vs finite differences", out, fd, rtol=1e-5, atol=1e-6,
                           context="central finite differences of ln π_θ(a|s) disagree.")


def check_grad_log_tabular_softmax(grad_log_tabular_softmax: Callable, seed: int = 0, S: int = 3, A: int = 4) -> None:
    """∇_θ ln π_θ(a|s) = e_s ⊗ (e_a − π_θ(·|s)): hand case, every (s, a) vs autograd and finite differences."""
    check = Check("grad_log_tabular_softmax", grad_log_tabular_softmax)

    theta0 = np.zeros((2, 3))
    out = check.call("hand case", theta0.copy(), 1, 0)
    check.expect_close("hand case", out, [[0, 0, 0], [2 / 3, -1 / 3, -1 / 3]],
                       mistakes=_tabular_score_mistakes(theta0, 1, 0), context=(
        "θ = 0 (S = 2, A = 3), s = 1, a = 0: π_θ(·|1) is uniform, so row 1 is e_0 − 1/3 and row 0 is zero."))

    theta = np.random.default_rng(seed).normal(size=(S, A))
    pairs = [(s, a) for s in range(S) for a in range(A)]
    _check_score_pairs(check, check.call, theta, pairs, policies.grad_log_tabular_softmax,
                       _tabular_score_mistakes, _tabular_score_routes, "random θ")

    big = 1000 * np.random.default_rng(seed + 1).normal(size=(S, A))
    out = check.call("θ of size ~1000", big.copy(), 0, 0)
    check.expect_close("θ of size ~1000", out, policies.grad_log_tabular_softmax(big, 0, 0),
                       context="with θ ~ 1000, exp overflows unless you subtract the row maximum first.")
    check.done()


# ----------------------------------------------------------------------------- linear softmax
def _linear_mistakes(theta: np.ndarray, phi: np.ndarray) -> list:
    logits = phi @ theta
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):   # some mistakes overflow: silently
        return [
            ("you normalised over states (axis 0): each row π_θ(·|s) sums to 1 over actions.",
             _naive_softmax(logits, axis=0)),
            ("you normalised over all (s, a) pairs at once: normalise each state's row separately.",
             np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()),
            ("you returned exp(θᵀφ(s, a)) without normalising.", np.exp(logits)),
            ("you returned the logits θᵀφ(s, a): apply the softmax over actions.", logits),
        ]


def _features(seed: int, S: int, A: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=d), rng.normal(size=(S, A, d))


def _large(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """±θ rescaled so that the largest logit is +2000: exp overflows without the max-shift."""
    if (phi @ theta).max() <= 0:
        theta = -theta
    return theta * 2000.0 / max((phi @ theta).max(), 1e-12)


def check_linear_softmax_policy(linear_softmax_policy: Callable, seed: int = 0, S: int = 3, A: int = 4,
                                d: int = 2) -> None:
    """π_θ(a|s) ∝ exp(θᵀφ(s, a)): hand case, random features, the tabular special case, θ ~ 1000."""
    check = Check("linear_softmax_policy", linear_softmax_policy)

    theta, phi = np.array([np.log(2.0)]), np.array([[[0.0], [1.0], [2.0]]])
    out = check.call("hand case", theta.copy(), phi.copy())
    check.expect_close("hand case", out, [[1 / 7, 2 / 7, 4 / 7]], mistakes=_linear_mistakes(theta, phi), context=(
        "S = 1, A = 3, d = 1, φ(0, a) = a, θ = ln 2: logits a·ln 2, so π ∝ [1, 2, 4]."))

    theta, phi = _features(seed, S, A, d)
    out = check.call(f"random features (S={S}, A={A}, d={d})", theta.copy(), phi.copy())
    check.expect_shape(f"random features (S={S}, A={A}, d={d})", out, (S, A))
    check.expect_close(f"random features (S={S}, A={A}, d={d})", out, policies.linear_softmax_policy(theta, phi),
                       mistakes=_linear_mistakes(theta, phi))

    theta_tab = np.random.default_rng(seed + 2).normal(size=S * A)
    one_hot = np.eye(S * A).reshape(S, A, S * A)             # φ(s, a) = e_{(s,a)}: the tabular case
    out = check.call("one-hot features", theta_tab.copy(), one_hot)
    check.expect_close("one-hot features", out, policies.tabular_softmax(theta_tab.reshape(S, A)), context=(
        "with one-hot features φ(s, a) = e_{(s,a)} (d = S·A), the linear softmax is the tabular softmax of "
        "θ reshaped to (S, A)."))

    big = _large(theta, phi)
    out = check.call("logits of size ~2000", big.copy(), phi.copy())
    check.expect_close("logits of size ~2000", out, policies.linear_softmax_policy(big, phi),
                       mistakes=_linear_mistakes(big, phi),
                       context="large logits overflow exp: subtract each state's maximum logit first.")
    check.done()


# ----------------------------------------------------------------------------- score of the linear softmax
def _linear_score(theta, phi, s, a):
    return policies.grad_log_linear_softmax_all_pairs(theta, phi)[s, a]


def _linear_score_routes(phi):
    def routes(theta, s, a):
        t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        logits = torch.as_tensor(phi, dtype=torch.float64) @ t
        (grad,) = torch.autograd.grad(torch.log_softmax(logits, dim=-1)[s, a], t)
        fd = finite_difference_gradient(lambda th: _log_softmax(phi @ th)[s, a], theta)
        return grad.numpy(), fd
    return routes


def _linear_score_mistakes(phi):
    def mistakes(theta, s, a):
        pi = policies.linear_softmax_policy(theta, phi)
        correct = _linear_score(theta, phi, s, a)
        return [
            ("the −Σ_{a'} π_θ(a'|s) φ(s, a') term is missing: the normaliser depends on θ too.", phi[s, a]),
            ("you subtracted the plain average of φ(s, ·) over actions: weight it by π_θ(a'|s).",
             phi[s, a] - phi[s].mean(axis=0)),
            ("you returned ∇_θ π_θ(a|s) = π_θ(a|s) ∇_θ ln π_θ(a|s): the exercise asks for the gradient of the *log*.",
             pi[s, a] * correct),
            ("the expectation Σ_{a'} π_θ(a'|s) φ(s, a') is over the actions of state s only.",
             phi[s, a] - np.einsum("xa,xad->d", pi, phi)),
        ]
    return mistakes


def check_grad_log_linear_softmax(grad_log_linear_softmax: Callable, seed: int = 0, S: int = 3, A: int = 4,
                                  d: int = 2) -> None:
    """∇_θ ln π_θ(a|s) = φ(s, a) − Σ_{a'} π_θ(a'|s) φ(s, a'): hand case, vs autograd and finite differences."""
    check = Check("grad_log_linear_softmax", grad_log_linear_softmax)

    theta, phi = np.array([0.0]), np.array([[[0.0], [1.0], [2.0]]])
    out = check.call("hand case", theta.copy(), phi.copy(), 0, 2)
    check.expect_close("hand case", out, [1.0], mistakes=_linear_score_mistakes(phi)(theta, 0, 2), context=(
        "θ = 0 (π uniform), φ(0, a) = a for a = 0, 1, 2, a = 2: φ(0, 2) − mean φ = 2 − 1 = 1."))

    theta, phi = _features(seed, S, A, d)
    pairs = [(s, a) for s in range(S) for a in range(A)]
    _check_score_pairs(check, lambda case, th, s, a: check.call(case, th, phi.copy(), s, a), theta, pairs,
                       lambda th, s, a: _linear_score(th, phi, s, a), _linear_score_mistakes(phi),
                       _linear_score_routes(phi), "random features")

    big = _large(theta, phi)
    s_big = int((phi @ big).max(axis=1).argmax())        # the state with the largest logit
    out = check.call("logits of size ~2000", big.copy(), phi.copy(), s_big, 0)
    check.expect_close("logits of size ~2000", out, _linear_score(big, phi, s_big, 0),
                       context="large logits overflow exp: subtract the maximum logit before exp.")
    check.done()


# ----------------------------------------------------------------------------- neural policy
def make_policy_net(state_dim: int, A: int, hidden: int = 16, seed: int = 0, scale: float = 1.0) -> torch.nn.Module:
    """A small float64 MLP s ↦ logits f_θ(s, ·) ∈ R^A, initialised from `seed`; logits scaled by `scale`."""
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(state_dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, A))
    net = net.to(torch.float64)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / np.sqrt(max(p.shape[-1], 1)))
        net[2].weight.mul_(scale)
        net[2].bias.mul_(scale)
    return net


def _neural_mistakes(logits: torch.Tensor, actions: torch.Tensor) -> list:
    idx = torch.arange(len(actions))
    with torch.no_grad():
        logp = torch.log_softmax(logits, dim=-1)
        out = [
            ("you returned probabilities π_θ(a|s): take the log (torch.log_softmax).", logp.exp()[idx, actions]),
            ("log_softmax over the batch axis (dim=0): normalise over actions, dim=-1.",
             torch.log_softmax(logits, dim=0)[idx, actions]),
            ("you returned the raw logits f_θ(s, a): subtract ln Σ_{a'} exp f_θ(s, a').", logits[idx, actions]),
        ]
        if logits.shape[0] == logits.shape[1]:
            out.append(("the indices are swapped: entry i is row i (state s_i), column actions[i].",
                        logp[actions, idx]))
        return out


def check_neural_log_prob(neural_log_prob: Callable, seed: int = 0, B: int = 6, state_dim: int = 3,
                          A: int = 4) -> None:
    """ln π_θ(a_i|s_i) = log_softmax(net(states))[i, a_i]: values, shape, gradients, large logits."""
    check = Check("neural_log_prob", neural_log_prob)
    gen = torch.Generator().manual_seed(seed)
    net = make_policy_net(state_dim, A, seed=seed)
    states = torch.randn(B, state_dim, generator=gen, dtype=torch.float64)
    actions = torch.randint(A, (B,), generator=gen)

    out = check.call("random batch", net, states.clone(), actions.clone())
    if not isinstance(out, torch.Tensor):
        check.fail("random batch", f"expected a torch tensor (so that it can be differentiated), got {type(out).__name__}.")
    check.expect_shape("random batch", out, (B,))
    logits = net(states)
    expected = torch.log_softmax(logits, dim=-1)[torch.arange(B), actions]
    check.expect_close("random batch", out, expected.detach(), mistakes=_neural_mistakes(logits.detach(), actions))

    if not out.requires_grad:
        check.fail("gradients", "the result does not require grad: do not .detach(), use .item()/.numpy(), "
                                "or wrap the computation in torch.no_grad(); θ must receive gradients.")
    weights = torch.linspace(0.5, 1.5, B, dtype=torch.float64)     # an arbitrary weighted sum, like REINFORCE
    params = list(net.parameters())
    got = torch.autograd.grad((weights * out).sum(), params, allow_unused=True)
    want = torch.autograd.grad((weights * expected).sum(), params)
    for name, g, w in zip(["W1", "b1", "W2", "b2"], got, want):
        if g is None:
            check.fail("gradients", f"no gradient reaches the network's parameter {name}.")
        check.expect_close(f"gradient w.r.t. {name}", g, w)
    # the output bias b2 is a tabular softmax's θ_s: ∂/∂b2 Σ_i w_i ln π(a_i|s_i) = Σ_i w_i (e_{a_i} − π(·|s_i))
    pi = torch.softmax(logits, dim=-1).detach().numpy()
    closed = (weights.numpy()[:, None] * (np.eye(A)[actions.numpy()] - pi)).sum(axis=0)
    check.expect_close("gradient w.r.t. the output bias, closed form", got[3], closed, context=(
        "∂/∂b Σ_i w_i ln π(a_i|s_i) should be Σ_i w_i (e_{a_i} − π_θ(·|s_i)), the tabular score."))
    with torch.no_grad():
        b2 = net[2].bias
        fd = np.zeros(A)
        for k in range(A):
            b2[k] += FD_EPS
            up = float((weights * check.call("finite differences", net, states, actions)).sum())
            b2[k] -= 2 * FD_EPS
            down = float((weights * check.call("finite differences", net, states, actions)).sum())
            b2[k] += FD_EPS
            fd[k] = (up - down) / (2 * FD_EPS)
    check.expect_close("gradient w.r.t. the output bias vs finite differences", got[3], fd, rtol=1e-5, atol=1e-6)

    big = make_policy_net(state_dim, A, seed=seed, scale=1000.0)
    out = check.call("logits of size ~1000", big, states.clone(), actions.clone())
    big_logits = big(states).detach()
    check.expect_close("logits of size ~1000", out, torch.log_softmax(big_logits, dim=-1)[torch.arange(B), actions],
                       rtol=1e-6, atol=1e-6, mistakes=_neural_mistakes(big_logits, actions),
                       context="log(softmax(x)) underflows to log 0 = −inf for unlikely actions: use "
                               "torch.log_softmax (it subtracts the log-sum-exp stably).")
    check.done()
