"""Plausible wrong answers (and other correct ones) for notebook 05's REINFORCE loss."""

import torch

from mutation import Exercise

NOTEBOOK = "05_cartpole"


# ---- wrong -------------------------------------------------------------------------------------

def loss_sign_flipped(log_probs, weights, mask):
    return (mask * log_probs * weights.detach()).sum() / log_probs.shape[0]


def loss_mean_over_all_steps(log_probs, weights, mask):
    return -(mask * log_probs * weights.detach()).mean()


def loss_no_mask(log_probs, weights, mask):
    return -(log_probs * weights.detach()).sum() / log_probs.shape[0]


def loss_weights_carry_gradient(log_probs, weights, mask):
    return -(mask * log_probs * weights).sum() / log_probs.shape[0]


def loss_sum_not_mean(log_probs, weights, mask):
    return -(mask * log_probs * weights.detach()).sum()


def loss_mean_over_valid_steps(log_probs, weights, mask):
    return -(mask * log_probs * weights.detach()).sum() / mask.sum()


def loss_mean_over_each_episode(log_probs, weights, mask):
    return -((mask * log_probs * weights.detach()).sum(1) / mask.sum(1)).mean()


def loss_as_python_float(log_probs, weights, mask):
    return -(mask * log_probs * weights.detach()).sum().item() / log_probs.shape[0]


def loss_detached_log_probs(log_probs, weights, mask):
    return -(mask * log_probs.detach() * weights.detach()).sum() / log_probs.shape[0]


def loss_inverted_mask(log_probs, weights, mask):
    return -((1 - mask) * log_probs * weights.detach()).sum() / log_probs.shape[0]


def loss_probabilities_not_logs(log_probs, weights, mask):
    return -(mask * log_probs.exp() * weights.detach()).sum() / log_probs.shape[0]


def loss_zero_gradient(log_probs, weights, mask):
    return 0.0 * log_probs.sum()


# ---- correct -----------------------------------------------------------------------------------

def loss_loop_over_episodes(log_probs, weights, mask):
    N = log_probs.shape[0]
    total = log_probs.new_zeros(())
    for i in range(N):
        for h in range(log_probs.shape[1]):
            if mask[i, h] != 0:
                total = total + log_probs[i, h] * weights[i, h].detach()
    return -total / N


def loss_masked_select(log_probs, weights, mask):
    valid = mask.bool()
    return -(torch.masked_select(log_probs, valid) * torch.masked_select(weights.detach(), valid)).sum() / len(log_probs)


def loss_where_and_no_grad(log_probs, weights, mask):
    with torch.no_grad():
        w = torch.where(mask > 0, weights, torch.zeros_like(weights))
    return -torch.einsum("nt,nt->", log_probs, w) / log_probs.size(0)


def loss_vectorized_episode_loop(log_probs, weights, mask):
    per_episode = [(lp * w.detach() * m).sum() for lp, w, m in zip(log_probs, weights, mask)]
    return -torch.stack(per_episode).mean()


EXERCISES = [
    Exercise("test_reinforce_loss", "reinforce_loss",
             wrong=[loss_sign_flipped, loss_mean_over_all_steps, loss_no_mask, loss_weights_carry_gradient,
                    loss_sum_not_mean, loss_mean_over_valid_steps, loss_mean_over_each_episode, loss_as_python_float,
                    loss_detached_log_probs, loss_inverted_mask, loss_probabilities_not_logs, loss_zero_gradient],
             correct=[loss_loop_over_episodes, loss_masked_select, loss_where_and_no_grad, loss_vectorized_episode_loop]),
    # Training only sees the direction of the gradient: Adam rescales it, and the trainer's weights are already 0 on
    # padding, so scaled or unmasked losses still learn here; they fail test_reinforce_loss instead.
    Exercise("test_training", "reinforce_loss",
             wrong=[loss_sign_flipped, loss_as_python_float, loss_detached_log_probs, loss_inverted_mask,
                    loss_zero_gradient],
             correct=[loss_masked_select, loss_where_and_no_grad, loss_vectorized_episode_loop]),
]
