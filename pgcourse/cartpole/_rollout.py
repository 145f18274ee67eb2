"""CartPole-v1 plumbing for REINFORCE: the policy, the vector env, rollouts and evaluation.

The rollout is the one place that knows about gymnasium 1.x's autoreset. It steps N native NumPy
CartPoles together (``gym.make_vec(..., vectorization_mode="vector_entry_point")``, one array op
per step for all N) under ``torch.no_grad()`` and returns padded (N, T) arrays and a mask; the
trainer recomputes ln π_θ(a_h | s_h) for the whole batch in one forward pass
(``log_probs_of``), which gives the same gradient as keeping per-step graphs, much faster.

Shapes: N envs (one episode each), T = the longest episode in the batch, 4 observation
dimensions, A = 2 actions (push left, push right). Import these names from ``pgcourse.cartpole``.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

__all__ = ["CategoricalMLP", "Rollout", "make_policy", "make_vec_env", "rollout", "log_probs_of", "evaluate"]


class CategoricalMLP(nn.Module):
    """π_θ(a | s) = softmax(f_θ(s))_a with f_θ a 4-hidden-A MLP with tanh (the lecture's neural policy)."""

    def __init__(self, obs_dim: int = 4, hidden: int = 64, num_actions: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, num_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits f_θ(s), shape (..., A), for observations of shape (..., obs_dim)."""
        return self.net(obs)

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Categorical:
        """π_θ(· | s) as a ``Categorical`` (argument validation off: it costs time, logits are finite),
        for log-probabilities and entropies; actions are drawn by `sample`."""
        return torch.distributions.Categorical(logits=self(obs), validate_args=False)

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """a ~ π_θ(· | s), shape (...,): the one sampler of the course's CartPole policies (`rollout`
        uses it). ``torch.multinomial`` over softmax(f_θ(s)), with ``generator`` for reproducible draws
        (``Categorical.sample`` takes none)."""
        probs = torch.softmax(self(obs), -1)  # (..., A)
        return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(probs.shape[:-1])


def make_policy(hidden: int = 64, seed: int = 0) -> CategoricalMLP:
    """A freshly initialized policy; ``seed`` fixes θ without touching torch's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CategoricalMLP(hidden=hidden)


def make_vec_env(num_envs: int) -> gym.vector.VectorEnv:
    """N CartPole-v1 copies in gymnasium's native NumPy implementation (one array op per step)."""
    return gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")


@dataclass
class Rollout:
    """One complete episode per env, padded to the longest one (T steps). NumPy arrays."""

    obs: np.ndarray  # (N, T, 4) float32: s_h (padding: whatever the env showed, masked out)
    actions: np.ndarray  # (N, T) int64: a_h
    rewards: np.ndarray  # (N, T) float32: r_h, exactly 0 after the episode's end
    mask: np.ndarray  # (N, T) float32: 1 for the steps of the first episode, 0 after it
    returns: np.ndarray  # (N,) float64: R(τ_i) = Σ_h mask · r_h, undiscounted

    @property
    def lengths(self) -> np.ndarray:
        """Episode lengths H_i, shape (N,)."""
        return self.mask.sum(axis=1).astype(np.int64)


def rollout(
    env: gym.vector.VectorEnv,
    policy: CategoricalMLP,
    rng: np.random.Generator,
    greedy: bool = False,
    seed: int | None = None,
    max_steps: int = 10_000,
) -> Rollout:
    """Run one complete episode in each of the env's N copies; the only place autoreset is handled.

    Every call resets all envs (``seed`` seeds that reset; ``None`` continues the env's own RNG),
    then steps until each env has finished its first episode. Gymnasium 1.x autoresets on the
    step *after* ``terminated or truncated`` (reward 0, action ignored), and an env that finished
    early keeps stepping into a new episode while the others finish: everything after an env's
    first end is masked out and its rewards are zeroed.

    Actions: a ~ π_θ(· | s) by the policy's `sample`, with a ``torch.Generator`` seeded from ``rng``
    (one draw of ``rng`` per call, so a seeded ``rng`` makes the whole rollout reproducible), or
    argmax if ``greedy``.
    """
    N = env.num_envs
    sampler = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
    obs, _ = env.reset(seed=seed)
    alive = np.ones(N, dtype=bool)
    obs_buf, act_buf, rew_buf, mask_buf = [], [], [], []
    with torch.no_grad():
        while alive.any():
            if len(obs_buf) >= max_steps:
                raise RuntimeError(f"an episode ran past max_steps={max_steps}; is the env time-limited?")
            states = torch.from_numpy(obs)  # (N, 4)
            if greedy:
                actions = policy(states).argmax(-1).numpy()
            else:
                actions = policy.sample(states, generator=sampler).numpy()  # (N,)
            next_obs, reward, terminated, truncated, _ = env.step(actions)
            obs_buf.append(obs)
            act_buf.append(actions)
            mask_buf.append(alive.copy())
            rew_buf.append(np.where(alive, reward, 0.0))
            alive &= ~(terminated | truncated)  # the ending step itself is still valid
            obs = next_obs
    mask = np.stack(mask_buf, axis=1).astype(np.float32)  # (N, T)
    rewards = np.stack(rew_buf, axis=1).astype(np.float32)  # (N, T)
    return Rollout(
        obs=np.stack(obs_buf, axis=1),  # (N, T, 4)
        actions=np.stack(act_buf, axis=1).astype(np.int64),  # (N, T)
        rewards=rewards,
        mask=mask,
        returns=rewards.sum(axis=1, dtype=np.float64),
    )


def log_probs_of(policy: CategoricalMLP, obs: np.ndarray, actions: np.ndarray) -> torch.Tensor:
    """ln π_θ(a_h | s_h) for a whole batch in one forward pass, with grad: (N, T, 4), (N, T) → (N, T)."""
    logits = policy(torch.as_tensor(obs))  # (N, T, A)
    log_pi = torch.log_softmax(logits, dim=-1)
    return log_pi.gather(-1, torch.as_tensor(actions).unsqueeze(-1)).squeeze(-1)  # (N, T)


def evaluate(policy: CategoricalMLP, num_episodes: int = 16, greedy: bool = True, seed: int = 0) -> np.ndarray:
    """Undiscounted returns R(τ) of ``num_episodes`` fresh episodes (greedy or sampled), shape (num_episodes,)."""
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be ≥ 1, got {num_episodes}")
    env = make_vec_env(num_episodes)
    try:
        return rollout(env, policy, np.random.default_rng(seed), greedy=greedy, seed=seed).returns
    finally:
        env.close()
