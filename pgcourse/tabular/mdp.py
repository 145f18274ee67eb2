"""The tabular MDP engine: exact objectives, gradients, values, samples and enumerations.

The lecture's two definitions, with s_0 ∼ μ, a_h ∼ π(· | s_h), s_{h+1} ∼ P(· | s_h, a_h):

    finite horizon  M = {P, r, H, μ, S, A}:  J(π) = E[Σ_{h=0}^{H-1} r(s_h, a_h)],
    discounted      M = {P, r, γ, μ, S, A}:  J(π) = E[Σ_{h=0}^{∞} γ^h r(s_h, a_h)].

Policies are stationary tables π ∈ R^{S×A} (rows on the simplex); for the tabular softmax
π_θ(a | s) ∝ exp(θ_{s,a}). Functions that take a policy accept logits θ as their second argument
or, instead, probabilities via the keyword `pi=` (e.g. a linear softmax policy). Shapes: S states,
A actions, H steps, N sampled trajectories, M enumerated trajectories.

Exact answers (values, J, ∇J) are here so that estimators in the notebooks can be checked against
them. Small named MDPs for the notebooks: `two_state_mdp` (hand-checkable), `chain_mdp` (myopia
is suboptimal), `local_optimum_mdp` (a spurious local maximum). References: Sutton et al. (2000)
(policy gradient theorem); Agarwal et al. (2021) (tabular softmax policy gradient).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from pgcourse.tabular.policies import tabular_softmax
from pgcourse.tabular.validation import check_count, check_simplex, validate_theta

__all__ = [
    "TabularMDP", "random_mdp", "two_state_mdp", "chain_mdp", "local_optimum_mdp", "exact_objective",
    "objective_from_policy", "exact_policy_gradient", "policy_evaluation", "optimal_value",
    "sample_trajectories", "enumerate_trajectories", "Values", "OptimalSolution", "Trajectories",
    "EnumeratedTrajectories",
]

@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite MDP {P, r, H, μ, S, A} (finite horizon) or {P, r, γ, μ, S, A} (discounted).

    Exactly one of H and gamma is given. Arrays are copied to read-only float64.
    """

    P: np.ndarray  # (S, A, S): P[s, a, s'] = P(s' | s, a)
    r: np.ndarray  # (S, A): r(s, a)
    mu: np.ndarray  # (S,): initial distribution, s_0 ∼ μ
    H: int | None = None  # horizon: steps h = 0..H−1 (finite-horizon MDP)
    gamma: float | None = None  # discount 0 ≤ γ < 1 (discounted MDP)

    def __post_init__(self) -> None:
        P, r, mu = (np.array(x, dtype=np.float64) for x in (self.P, self.r, self.mu))
        if P.ndim != 3 or P.shape[0] != P.shape[2] or 0 in P.shape:
            raise ValueError(f"P must have shape (S, A, S) with S, A ≥ 1, got {P.shape}")
        S, A = P.shape[:2]
        if r.shape != (S, A):
            raise ValueError(f"r must have shape (S, A) = {(S, A)} to match P, got {r.shape}")
        if mu.shape != (S,):
            raise ValueError(f"mu must have shape (S,) = {(S,)} to match P, got {mu.shape}")
        if not np.all(np.isfinite(r)):
            raise ValueError("r contains NaN or infinite values")
        check_simplex(P, "P (each row P[s, a, :])")
        check_simplex(mu, "mu")
        if (self.H is None) == (self.gamma is None):
            raise ValueError("give exactly one of H (finite horizon) or gamma (discounted), "
                             f"got H={self.H!r}, gamma={self.gamma!r}")
        if self.H is not None:
            object.__setattr__(self, "H", check_count("H", self.H))
        else:
            g = self.gamma
            if isinstance(g, bool) or not isinstance(g, (int, float, np.floating, np.integer)) or not 0 <= g < 1:
                raise ValueError(f"gamma must be a number with 0 ≤ gamma < 1, got {g!r}")
            object.__setattr__(self, "gamma", float(g))
        for name, x in (("P", P), ("r", r), ("mu", mu)):
            x.setflags(write=False)
            object.__setattr__(self, name, x)

    @property
    def S(self) -> int:
        return self.P.shape[0]

    @property
    def A(self) -> int:
        return self.P.shape[1]

    @property
    def finite_horizon(self) -> bool:
        return self.H is not None


def random_mdp(S: int, A: int, H: int | None = None, gamma: float | None = None,
               seed: int | np.random.Generator = 0) -> TabularMDP:
    """A random MDP: rows of P and μ ∼ Dirichlet(1, …, 1), r(s, a) ∼ Uniform[0, 1), all seeded.

    Give exactly one of H or gamma. Every entry of P and μ is positive almost surely, so every
    trajectory has positive probability under a softmax policy.
    """
    S, A = check_count("S", S), check_count("A", A)
    rng = np.random.default_rng(seed)  # a Generator passes through unchanged
    P = rng.dirichlet(np.ones(S), size=(S, A))  # (S, A, S); then r ∼ U[0, 1) (S, A); μ (S,)
    return TabularMDP(P, rng.random((S, A)), rng.dirichlet(np.ones(S)), H=H, gamma=gamma)


def _default_horizon(H: int | None, gamma: float | None, default_H: int) -> tuple[int | None, float | None]:
    return (default_H, None) if H is None and gamma is None else (H, gamma)


def two_state_mdp(H: int | None = None, gamma: float | None = None) -> TabularMDP:
    """Two states, two actions, deterministic, with values checkable by hand (default H = 2).

    Action 0 "stay" keeps the state, action 1 "switch" flips it; r(s, a) = 1 in state 1 and 0 in
    state 0; s_0 = 0. Optimal: switch in state 0, stay in state 1, so J* = H − 1 (or γ/(1−γ)).
    Under the uniform policy (θ = 0) every s_h with h ≥ 1 is uniform, so J = (H − 1)/2 (or
    γ/(2(1−γ))). With H = 2, J(θ) = π_θ(1 | 0) and ∇_θ J(0) = [[−1/4, 1/4], [0, 0]].
    """
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[1, 0, 1] = 1.0  # stay
    P[0, 1, 1] = P[1, 1, 0] = 1.0  # switch
    r = np.array([[0.0, 0.0], [1.0, 1.0]])
    return TabularMDP(P, r, np.array([1.0, 0.0]), *_default_horizon(H, gamma, 2))


def chain_mdp(n: int = 5, H: int | None = None, gamma: float | None = None,
              small: float = 0.1, big: float = 1.0) -> TabularMDP:
    """A chain s = 0..n−1 where the myopic policy is suboptimal (default H = 2n).

    Action 0 "back": reward `small`, go to state 0. Action 1 "forward": go to min(s+1, n−1),
    reward 0, except `big` for forward in the last state. s_0 = 0. Greedy in r(s, a) goes back
    (bar the never-reached end) for J = small·H; always forward earns big·(H − n + 1), better
    when H is long. The uniform policy reaches the end with probability 2^{−(n−1)} per attempt,
    so at θ = 0 the gradient in state 0 favours "back": a slow start for ascent.
    """
    n = check_count("n", n, 2)
    P = np.zeros((n, 2, n))
    P[:, 0, 0] = 1.0
    P[np.arange(n), 1, np.minimum(np.arange(n) + 1, n - 1)] = 1.0
    r = np.zeros((n, 2))
    r[:, 0], r[n - 1, 1] = small, big
    return TabularMDP(P, r, np.eye(n)[0], *_default_horizon(H, gamma, 2 * n))


def local_optimum_mdp(H: int = 2, c: float | None = None) -> TabularMDP:
    """A finite-horizon MDP where J(θ) over stationary softmax policies has a spurious local maximum.

    State 0 (start): action 0 "stay" earns 1 and stays; action 1 "go" earns 0 and moves to the
    absorbing state 1, which earns c per step. With p = π_θ(1 | 0),
    J(p) = Σ_{h=0}^{H-1} [(1−p)^{h+1} + c(1 − (1−p)^h)]. For H/(H−1) < c < (H+1)/(H−1)
    (default c = (H + ½)/(H − 1)), "always stay" (J = H) is a local maximum with dJ/dp < 0 at
    p = 0, while "go" (J = c(H−1)) is the global one. For H = 2, c = 2.5: J = 2 − p/2 + p², whose
    minimum at p = 1/4 splits the basins; θ = 0 (p = ½) climbs to the global optimum.
    """
    H = check_count("H", H, 2)  # with H = 1 there is no future, so no local optimum
    c = (H + 0.5) / (H - 1) if c is None else float(c)
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, :, 1] = 1.0
    r = np.array([[1.0, 0.0], [c, c]])
    return TabularMDP(P, r, np.array([1.0, 0.0]), H=H)


# ----------------------------------------------------------------------------- policies in, values out
def _theta(mdp: TabularMDP, theta: object, keep_tensor: bool = False) -> np.ndarray | torch.Tensor:
    """Softmax logits θ (S, A) for this MDP, checked (a tensor keeps its graph when keep_tensor)."""
    return validate_theta(theta, shape=(mdp.S, mdp.A), shape_name=f"(S, A) = {(mdp.S, mdp.A)}",
                          keep_tensor=keep_tensor)


def _policy(mdp: TabularMDP, theta: object, pi: object, allow_steps: bool = False) -> np.ndarray:
    """The policy table as NumPy float64, (S, A) (or (H, S, A) per-step when allow_steps)."""
    if (theta is None) == (pi is None):
        raise ValueError("give exactly one of theta (softmax logits) or pi= (probabilities)")
    if theta is not None:
        return tabular_softmax(_theta(mdp, theta))
    x = pi.detach().cpu().numpy() if isinstance(pi, torch.Tensor) else np.asarray(pi, float)
    ok = [(mdp.S, mdp.A)] + ([(mdp.H, mdp.S, mdp.A)] if allow_steps and mdp.finite_horizon else [])
    if x.shape not in ok:
        raise ValueError(f"pi must have shape {' or '.join(map(str, ok))}, got {x.shape}")
    return check_simplex(x, "pi (each row pi[s, :])")


def objective_from_policy(mdp: TabularMDP, pi: torch.Tensor) -> torch.Tensor:
    """J(π) in torch, differentiable in whatever π depends on. pi: (S, A) probabilities.

    Finite horizon, backward DP: V_H = 0, Q_h = r + P V_{h+1}, V_h(s) = Σ_a π(a|s) Q_h(s, a).
    Discounted: solve (I − γ P_π) V = r_π. Either way J = μ · V_0.
    """
    P, r, mu = (torch.tensor(x, dtype=pi.dtype, device=pi.device) for x in (mdp.P, mdp.r, mdp.mu))
    if mdp.finite_horizon:
        V = torch.zeros(mdp.S, dtype=pi.dtype, device=pi.device)
        for _ in range(mdp.H):
            V = (pi * (r + P @ V)).sum(-1)  # Q_h: (S, A), V_h: (S,)
        return mu @ V
    P_pi = torch.einsum("sa,sat->st", pi, P)  # (S, S)
    I = torch.eye(mdp.S, dtype=pi.dtype, device=pi.device)
    return mu @ torch.linalg.solve(I - mdp.gamma * P_pi, (pi * r).sum(-1))  # r_π: (S,)


def exact_objective(mdp: TabularMDP, theta: np.ndarray | torch.Tensor) -> torch.Tensor:
    """J(θ) = E_{τ∼ρ_θ}[R(τ)] exactly, as a float64 torch scalar differentiable in θ.

    theta: (S, A) softmax logits, a NumPy array or a tensor (a tensor keeps its autograd graph).
    """
    t = torch.as_tensor(_theta(mdp, theta, keep_tensor=True))
    return objective_from_policy(mdp, tabular_softmax(t.to(torch.float64)))


def exact_policy_gradient(mdp: TabularMDP, theta: np.ndarray | torch.Tensor) -> np.ndarray:
    """∇_θ J(θ) by autograd through `exact_objective`. theta: (S, A). Returns (S, A) float64."""
    t = theta.detach() if isinstance(theta, torch.Tensor) else torch.as_tensor(np.asarray(theta, float))
    t = t.to(torch.float64).clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(exact_objective(mdp, t), t)
    return grad.numpy()


class Values(NamedTuple):
    """V^π and Q^π: finite horizon V (H, S), Q (H, S, A) per step h; discounted V (S,), Q (S, A)."""

    V: np.ndarray
    Q: np.ndarray


def policy_evaluation(mdp: TabularMDP, theta: object = None, *, pi: object = None) -> Values:
    """V^π and Q^π exactly (NumPy float64), for baselines and advantages A^π = Q^π − V^π.

    Finite horizon: Q_h(s, a) = r(s, a) + Σ_{s'} P(s'|s, a) V_{h+1}(s'), V_H = 0,
    V_h(s) = Σ_a π(a|s) Q_h(s, a), for h = 0..H−1; pi may also be per-step, (H, S, A).
    Discounted: V = (I − γ P_π)^{-1} r_π and Q = r + γ P V.
    """
    p = _policy(mdp, theta, pi, allow_steps=True)
    if mdp.finite_horizon:
        p = np.broadcast_to(p, (mdp.H, mdp.S, mdp.A))  # a stationary π is the same at every h
        V, Q = np.zeros((mdp.H + 1, mdp.S)), np.zeros((mdp.H, mdp.S, mdp.A))
        for h in reversed(range(mdp.H)):
            Q[h] = mdp.r + mdp.P @ V[h + 1]
            V[h] = (p[h] * Q[h]).sum(-1)
        return Values(V[:-1], Q)
    P_pi = np.einsum("sa,sat->st", p, mdp.P)
    V = np.linalg.solve(np.eye(mdp.S) - mdp.gamma * P_pi, (p * mdp.r).sum(-1))
    return Values(V, mdp.r + mdp.gamma * mdp.P @ V)


class OptimalSolution(NamedTuple):
    """J* = μ · V*_0, the optimal values V* and a deterministic optimal policy as a one-hot table.

    Finite horizon: V (H, S), pi (H, S, A) (the optimal policy is non-stationary in general).
    Discounted: V (S,), pi (S, A).
    """

    J: float
    V: np.ndarray
    pi: np.ndarray


def optimal_value(mdp: TabularMDP) -> OptimalSolution:
    """The optimal value by dynamic programming, to compare learned policies against.

    Finite horizon: V*_H = 0, V*_h(s) = max_a [r(s, a) + Σ_{s'} P(s'|s, a) V*_{h+1}(s')].
    Discounted: policy iteration (exact linear solves, finitely many steps) to V* = max_a [r + γ P V*].
    """
    eye_a = np.eye(mdp.A)
    if mdp.finite_horizon:
        V, pi = np.zeros((mdp.H + 1, mdp.S)), np.zeros((mdp.H, mdp.S, mdp.A))
        for h in reversed(range(mdp.H)):
            Q = mdp.r + mdp.P @ V[h + 1]
            pi[h], V[h] = eye_a[Q.argmax(-1)], Q.max(-1)
        return OptimalSolution(float(mdp.mu @ V[0]), V[:-1], pi)
    greedy = mdp.r.argmax(-1)
    for _ in range(10_000):
        V, Q = policy_evaluation(mdp, pi=eye_a[greedy])
        # switch only on a real improvement, so ties cannot make policy iteration cycle
        better = Q.max(-1) > Q[np.arange(mdp.S), greedy] + 1e-12 * (1 + np.abs(V))
        if not np.any(better):
            return OptimalSolution(float(mdp.mu @ V), V, eye_a[greedy])
        greedy = np.where(better, Q.argmax(-1), greedy)
    raise RuntimeError("policy iteration did not converge")  # pragma: no cover


# ----------------------------------------------------------------------------- trajectories
class Trajectories(NamedTuple):
    """N sampled trajectories: states, actions (N, H) int64 and rewards (N, H) float64."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of probs (N, K) by inverting the CDF; returns (N,) int64."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]  # u < the row's float sum: never a zero-prob tail
    return (cdf <= u[:, None]).sum(-1)


def sample_trajectories(mdp: TabularMDP, theta: object, N: int, seed: int | np.random.Generator,
                        H: int | None = None, *, pi: object = None) -> Trajectories:
    """Sample τ = (s_0, a_0, …, s_{H−1}, a_{H−1}) ∼ ρ_θ for N trajectories at once.

    ρ_θ(τ) = μ(s_0) π_θ(a_0|s_0) P(s_1|s_0, a_0) π_θ(a_1|s_1) ⋯ π_θ(a_{H−1}|s_{H−1}).
    theta: (S, A) logits, or pass theta=None and pi= (S, A) probabilities. Finite-horizon MDPs
    use mdp.H. Discounted MDPs need H: the rollout is truncated after H steps, and rewards are
    returned undiscounted, so Σ_h γ^h rewards[:, h] estimates J with a bias of at most
    γ^H max|r| / (1 − γ). Returns Trajectories(states, actions, rewards), each (N, H).
    """
    p = _policy(mdp, theta, pi)
    if mdp.finite_horizon and H is not None and H != mdp.H:
        raise ValueError(f"this MDP has horizon H = {mdp.H}; got H = {H} (leave H=None)")
    H = mdp.H if mdp.finite_horizon else H
    if H is None:
        raise ValueError("a discounted MDP needs a truncation horizon: pass H (e.g. ~ 5/(1 − γ))")
    H, N = check_count("H", H), check_count("N", N)
    rng = np.random.default_rng(seed)
    states, actions = np.zeros((N, H), dtype=np.int64), np.zeros((N, H), dtype=np.int64)
    s = _categorical(rng, np.broadcast_to(mdp.mu, (N, mdp.S)))
    for h in range(H):  # vectorized over N, a loop over time only
        a = _categorical(rng, p[s])
        states[:, h], actions[:, h] = s, a
        if h < H - 1:
            s = _categorical(rng, mdp.P[s, a])
    return Trajectories(states, actions, mdp.r[states, actions])


class EnumeratedTrajectories(NamedTuple):
    """All M trajectories with ρ_θ(τ) > 0: states, actions (M, H) int64, rewards (M, H), probs (M,)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    probs: np.ndarray


def enumerate_trajectories(mdp: TabularMDP, theta: object = None, *, pi: object = None,
                           max_trajectories: int = 1_000_000) -> EnumeratedTrajectories:
    """Every trajectory of a finite-horizon MDP with its probability ρ_θ(τ), for exact expectations.

    E_{τ∼ρ_θ}[f(τ)] = Σ_m probs[m] f(τ_m) exactly. There are at most (S·A)^H trajectories: refuses
    (ValueError) above max_trajectories. Zero-probability trajectories are dropped. All prefixes
    grow at once, one time step per iteration.
    """
    if not mdp.finite_horizon:
        raise ValueError("enumerate_trajectories needs a finite-horizon MDP (H given, not gamma)")
    p = _policy(mdp, theta, pi)
    S, A, H = mdp.S, mdp.A, mdp.H
    if (S * A) ** H > max_trajectories:  # Python ints: no overflow
        raise ValueError(f"(S·A)^H = ({S}·{A})^{H} = {(S * A) ** H:.3g} trajectories exceeds "
                         f"max_trajectories = {max_trajectories}; use a smaller MDP or sample instead")
    states, probs = np.arange(S)[:, None], mdp.mu.copy()  # (M, h+1) prefixes s_0..s_h, (M,)
    actions = np.zeros((S, 0), dtype=np.int64)  # (M, h) prefixes a_0..a_{h−1}
    for h in range(H):
        states, actions, probs = states[probs > 0], actions[probs > 0], probs[probs > 0]
        M, s = len(probs), states[:, -1]
        # branch every prefix on a_h: (M, A) → M·A prefixes
        probs = (probs[:, None] * p[s]).reshape(-1)
        states = np.repeat(states, A, axis=0)
        actions = np.concatenate([np.repeat(actions, A, axis=0), np.tile(np.arange(A), M)[:, None]], 1)
        if h < H - 1:  # branch on s_{h+1} ∼ P(· | s_h, a_h): M·A prefixes → M·A·S
            probs = (probs[:, None] * mdp.P[states[:, -1], actions[:, -1]]).reshape(-1)  # (M·A·S,)
            states = np.concatenate([np.repeat(states, S, axis=0), np.tile(np.arange(S), M * A)[:, None]], 1)
            actions = np.repeat(actions, S, axis=0)
    states, actions, probs = states[probs > 0], actions[probs > 0], probs[probs > 0]
    return EnumeratedTrajectories(states, actions, mdp.r[states, actions], probs)
