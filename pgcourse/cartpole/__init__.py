"""REINFORCE on CartPole-v1 (notebook 05): rollouts, the weights and loss, the trainer, pictures.

_rollout (π_θ, the vector env, one masked batch of episodes, evaluation) -> _training (the weights
w_{i,h}, the surrogate loss, ``train_reinforce`` -> ``TrainingHistory``) -> plots (learning curves,
a live curve passed to the trainer as a callback, the animation).

Import the rollout and training names from here, ``pgcourse.cartpole`` (their one public path), and
the pictures from ``pgcourse.cartpole.plots`` (kept apart: it imports matplotlib and IPython).
Nothing in ``_rollout`` or ``_training`` imports ``plots``.
"""

from pgcourse.cartpole._rollout import (
    CategoricalMLP, Rollout, evaluate, log_probs_of, make_policy, make_vec_env, rollout,
)
from pgcourse.cartpole._training import (
    GRADING_CONFIG, SOLVED_RETURN, SOLVED_WINDOW, WEIGHTINGS, CartPoleConfig, TrainingCallback,
    TrainingHistory, reinforce_loss, reinforce_weights, train_reinforce,
)

__all__ = [
    "CategoricalMLP", "Rollout", "make_policy", "make_vec_env", "rollout", "log_probs_of", "evaluate",
    "CartPoleConfig", "GRADING_CONFIG", "TrainingHistory", "TrainingCallback", "reinforce_weights",
    "reinforce_loss", "train_reinforce", "WEIGHTINGS", "SOLVED_RETURN", "SOLVED_WINDOW",
]
